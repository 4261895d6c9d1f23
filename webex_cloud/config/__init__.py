"""Reading and validating the service catalog and the datacenter stack configuration."""
