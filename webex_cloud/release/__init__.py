"""Releases without downtime: a service's pods change in waves, each wave behind a health gate."""
