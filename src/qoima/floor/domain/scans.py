"""Scanner input: GTIN, GS1 and marking codes (interface; implementation follows)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scan:
    raw: str
    kind: str  # "gtin" | "marking" | "gs1" | "text"
    gtin: str | None  # 14 digits normalized
    serial: str | None
    marking_code: str | None  # canonical marking code with GS (\x1d) separators
    symbology: str | None


def parse_scan(raw: str, gs_substitute: str | None = None) -> Scan:
    raise NotImplementedError


def gtin_matches(scan_gtin: str, barcode: str) -> bool:
    raise NotImplementedError
