"""Pulumi component resources: datacenter -> service -> network, pods, volume groups."""
