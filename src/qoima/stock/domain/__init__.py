"""Pure stock rules (no I/O): inbound deliveries (asn.py), adjustment reasons (adjustments.py), low stock."""
