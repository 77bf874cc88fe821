"""Shipping labels (ZPL, PDF) (interface; implementation follows)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelData:
    tracking: str
    order_number: str
    carrier: str
    recipient_name: str
    recipient_phone: str
    address: str
    city: str
    weight_g: int
    parcel_no: int
    parcel_count: int
    seller_name: str
    warehouse: str


def shipping_label_zpl(d: LabelData) -> str:
    raise NotImplementedError


def shipping_label_pdf(d: LabelData) -> bytes:
    raise NotImplementedError


# The documents live in documents.py; re-exported here so `floor.adapters.labels` offers all of them.
from qoima.floor.adapters.documents import (  # noqa: E402,F401
    ManifestDoc, ManifestParcel, PackingSlip, SlipLine, manifest_pdf, packing_slip_pdf)
