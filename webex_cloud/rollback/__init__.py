"""Automatic rollback of a failed release: the stack's last good deploy, what may roll back by itself."""
