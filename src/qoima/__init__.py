"""Qoima: open-source fulfillment platform (orders, stock, warehouses, customers)."""

__version__ = "0.1.0"
