"""Monitoring generated from the catalog and the stack file: Prometheus, blackbox, rules, Alertmanager."""
