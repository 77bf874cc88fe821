"""Packing slips and courier manifests as PDF (interface; implementation follows)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlipLine:
    sku: str
    name: str
    quantity: int


@dataclass(frozen=True)
class PackingSlip:
    order_number: str
    buyer_first_name: str
    seller_name: str
    lines: tuple[SlipLine, ...]
    insert_text: str = ""  # slot a later issue fills with a personal insert


@dataclass(frozen=True)
class ManifestParcel:
    tracking: str
    order_number: str
    weight_g: int


@dataclass(frozen=True)
class ManifestDoc:
    number: str
    carrier: str
    warehouse: str
    closed_at: str
    parcels: tuple[ManifestParcel, ...]
    missing: tuple[str, ...]


def packing_slip_pdf(s: PackingSlip, lang: str = "ru") -> bytes:
    raise NotImplementedError


def manifest_pdf(m: ManifestDoc, lang: str = "ru") -> bytes:
    raise NotImplementedError
