"""Every language of the console is complete: each msgid of the Russian catalog is translated in en, kk and
uk, and every message template of a DomainError (or of an import row error, a sourcing reason, a timeline
entry) raised in src/qoima has an entry in all four catalogs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from qoima.entrypoints.web import i18n
from qoima.orders.domain import reasons

SRC = Path(__file__).resolve().parents[2] / "src" / "qoima"
LANGS = ("ru", "en", "kk", "uk")
ERROR_CLASSES = {"DomainError", "ValidationError", "NotFound", "Forbidden", "Conflict", "KeyReused", "KeyInProgress",
                 "TooLarge", "Busy", "UnsafeUrl", "Unresolvable", "LoginThrottled", "RowErrors"}
MOVE_PREFIX = "cannot move order from '%(from_status)s' to '%(to_status)s': "


def _literal(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.IfExp):  # "a" if x else "b": the first; the other is found as its own literal
        return _literal(node.body)
    return None


def _name(func) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def templates_in_source() -> dict[str, str]:
    """{template: where} of every coded error message in the source."""
    found: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name, where = _name(node.func), f"{path.relative_to(SRC)}:{node.lineno}"
            texts = []
            if name in ERROR_CLASSES and node.args:
                texts = [_literal(node.args[0])]
                if isinstance(node.args[0], ast.IfExp):
                    texts.append(_literal(node.args[0].orelse))
            elif name in ("_refuse", "reword") and node.args:
                texts = [_literal(node.args[0])]
            elif name == "__init__" and node.args and any(k.arg == "code" for k in node.keywords):
                texts = [_literal(node.args[0])]  # super().__init__(template, ..., code=...)
            elif name == "error" and len(node.args) >= 3 and any(k.arg == "code" for k in node.keywords):
                texts = [_literal(node.args[2])]  # report.error(line, column, template, code=...)
            elif name == "MoveRefused" and len(node.args) >= 3:
                arg = node.args[2]
                texts = [MOVE_PREFIX + t for t in ([_literal(arg)] if not isinstance(arg, ast.Name) else [])]
            for text in texts:
                if text and ("%(" in text or name in ("_refuse", "reword")
                             or any(k.arg == "code" for k in node.keywords)):
                    found.setdefault(text, where)
        for node in ast.walk(tree):  # template = ("..." if x else "..."), passed on as a name
            if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["template"] \
                    and isinstance(node.value, ast.IfExp):
                for text in (_literal(node.value.body), _literal(node.value.orelse)):
                    if text:
                        found.setdefault(text, f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def extra_templates() -> set[str]:
    """Templates built at run time from parts (composite messages, reasons)."""
    from qoima.platform.errors import InsufficientStock, RowErrors
    from qoima.catalog.domain.sellers import SELLER_REQUIRED
    from qoima.platform.imports import UNKNOWN_COLUMNS
    out = set(reasons.TEMPLATES.values()) | {InsufficientStock.LINE, RowErrors.ROW, SELLER_REQUIRED, UNKNOWN_COLUMNS}
    out |= {"phone '%(phone)s' is not a phone number", "phone '%(phone)s' is not a valid number",  # contacts.py
            "e-mail '%(email)s' is not valid: %(why)s"}
    out |= {MOVE_PREFIX + "'%(from_status)s' resumes only where it was (the order was '%(resume_to)s' before)",
            MOVE_PREFIX + "'%(from_status)s' resumes only where it was (where it was is unknown)"}
    return out


def _catalog(lang: str) -> dict:
    """msgid -> translation (a plural entry: its singular -> its forms joined by " | ")."""
    out = {}
    for m in i18n.read_catalog(lang):
        if not m.id:
            continue
        if isinstance(m.id, tuple):
            forms = [f for f in m.string if (f or "").strip()]
            out[m.id[0]] = " | ".join(forms) if len(forms) == len(m.string) else ""
        else:
            out[m.id] = m.string
    return out


def test_four_languages_are_offered():
    assert i18n.available_languages() == ["ru", "en", "kk", "uk"]


@pytest.mark.parametrize("lang", ["en", "kk", "uk"])
def test_every_russian_msgid_is_translated(lang):
    ru, other = _catalog("ru"), _catalog(lang)
    missing = sorted(m for m in ru if not (other.get(m) or "").strip())
    assert not missing, f"{lang}: {len(missing)} untranslated, e.g. {missing[:5]}"
    if lang in ("kk", "uk"):  # real translations, not the English copied over (short names may coincide)
        same = [m for m in ru if other[m] == m and len(m) > 12 and any(c.isalpha() for c in m)]
        assert len(same) <= 3, same[:10]


@pytest.mark.parametrize("lang", LANGS)
def test_every_error_template_has_a_catalog_entry(lang):
    catalog = _catalog(lang)
    wanted = {**templates_in_source(), **{t: "runtime" for t in extra_templates()}}
    missing = {t: w for t, w in wanted.items() if not (catalog.get(t) or "").strip()}
    assert not missing, f"{lang}: {len(missing)} missing, e.g. {list(missing.items())[:5]}"


@pytest.mark.parametrize("lang", LANGS)
def test_translations_keep_the_placeholders(lang):
    import re
    for m in i18n.read_catalog(lang):
        if not m.id:
            continue
        wanted = set(re.findall(r"%\(\w+\)s", m.id if isinstance(m.id, str) else m.id[1]))
        for text in ([m.string] if isinstance(m.string, str) else m.string):
            assert set(re.findall(r"%\(\w+\)s", text)) == wanted, (lang, m.id, text)
