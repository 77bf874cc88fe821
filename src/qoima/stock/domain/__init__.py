"""Pure stock rules (no I/O)."""
