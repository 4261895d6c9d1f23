"""Images as a supply chain: one catalog line per image, verified by its bytes in every datacenter."""
