"""Sans-I/O TURN cores (RFC 8656 + RFC 6062): :mod:`.client` and :mod:`.server`."""
