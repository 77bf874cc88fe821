"""The file importers by kind, for the CLI and the import jobs of the worker."""

from __future__ import annotations

from qoima.catalog.services.product_import import import_products
from qoima.orders.services.order_import import import_orders
from qoima.stock.services.stock_import import import_stock

IMPORTERS = {"orders": import_orders, "products": import_products, "stock": import_stock}
