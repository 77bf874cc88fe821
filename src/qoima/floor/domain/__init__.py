"""Pure warehouse-floor rules: pick routing, batching, scans, box choice (no I/O)."""
