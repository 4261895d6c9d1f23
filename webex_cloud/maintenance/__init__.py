"""Hardware work without downtime: drain a compute host (cordon, move each pod whole, wait), undrain it,
and tell which hosts and failure domains can be taken down now (docs/maintenance.md)."""
