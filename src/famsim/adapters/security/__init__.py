"""Security primitives behind the service's ports: sealing data (AES-GCM), password hashes."""
