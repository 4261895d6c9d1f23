"""Suites that must run in a process of their own are collected by isolated_suite, not here."""

collect_ignore = ["cinder_suite", "nova_functional"]
