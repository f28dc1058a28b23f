"""Entrypoints: thin shells that parse input, call the service and render the result."""
