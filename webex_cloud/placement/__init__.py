"""Plan-time placement proof: every pod and volume group of a plan through the real filters."""
