"""Pure stock rules (no I/O): inbound deliveries (asn.py)."""
