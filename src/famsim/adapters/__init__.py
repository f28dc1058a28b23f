"""Implementations of the service ports: storage, catalog files, and later ES2+ and notifiers."""
