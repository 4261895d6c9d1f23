"""The controller pair's filter release: reproducible wheel, rendered fragments, rolling deploy script."""
