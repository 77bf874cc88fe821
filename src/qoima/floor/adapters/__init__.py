"""Warehouse-floor adapters: shipping labels (ZPL, PDF), packing slips, manifests."""
