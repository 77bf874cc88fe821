"""Localization of the web shell with Babel.

Catalogs are the hand-written `src/qoima/locale/<lang>/LC_MESSAGES/messages.po`.
They are read with `babel.messages.pofile.read_po` and compiled to .mo *in
memory* (`write_mo` into a BytesIO) the first time a language is used, so no
compile step is needed: edit a .po file, restart, done. Every language folder
that has a catalog is offered in the switch (ru and en today).

The language of a request: an explicit `?lang=` switch (kept in the session),
else the user's `language` column, else the browser's Accept-Language, else ru.

Dates are shown in the warehouse time zone (Asia/Almaty); the database keeps
naive UTC datetimes.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import NullTranslations, Translations

from qoima.orders.domain import reasons
from qoima.platform import errors

LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale"
DEFAULT_LANGUAGE = "ru"
WAREHOUSE_TZ = ZoneInfo("Asia/Almaty")
LANGUAGE_NAMES = {"ru": "Русский", "en": "English", "kk": "Қазақша", "uk": "Українська"}


def N_(message: str) -> str:
    """Mark a string for translation without translating it now (translated at render time)."""
    return message


STATUS_LABELS = {
    "new": N_("New"), "backordered": N_("Backordered"), "allocated": N_("Allocated"), "picking": N_("Picking"),
    "picked": N_("Picked"), "packed": N_("Packed"), "shipped": N_("Shipped"), "in_transit": N_("In transit"),
    "out_for_delivery": N_("Out for delivery"), "delivered": N_("Delivered"), "on_hold": N_("On hold"),
    "cancelled": N_("Cancelled"), "exception": N_("Exception"), "returned": N_("Returned"),
}
# (background, text) per status: the badges and the dashboard chart use the same colors (the badges
# through the .badge.status-* rules of static/app.css, kept equal by tests/api/test_security_headers.py).
STATUS_COLORS = {
    "new": ("#e0f2fe", "#075985"), "backordered": ("#fef3c7", "#92400e"), "allocated": ("#dbeafe", "#1e40af"),
    "picking": ("#ede9fe", "#5b21b6"), "picked": ("#e9d5ff", "#6b21a8"), "packed": ("#cffafe", "#155e75"),
    "shipped": ("#d1fae5", "#065f46"), "in_transit": ("#ccfbf1", "#115e59"),
    "out_for_delivery": ("#dcfce7", "#166534"), "delivered": ("#bbf7d0", "#14532d"),
    "on_hold": ("#fde68a", "#78350f"), "cancelled": ("#e5e7eb", "#374151"), "exception": ("#fee2e2", "#991b1b"),
    "returned": ("#fce7f3", "#9d174d"),
}
STATUS_CHART_COLORS = {
    "new": "#0ea5e9", "backordered": "#f59e0b", "allocated": "#3b82f6", "picking": "#8b5cf6", "picked": "#a855f7",
    "packed": "#06b6d4", "shipped": "#10b981", "in_transit": "#14b8a6", "out_for_delivery": "#22c55e",
    "delivered": "#16a34a", "on_hold": "#d97706", "cancelled": "#9ca3af", "exception": "#ef4444",
    "returned": "#ec4899",
}
ROLE_LABELS = {"admin": N_("Administrator"), "manager": N_("Manager"), "worker": N_("Warehouse worker"),
               "seller": N_("Seller")}
DELIVERY_LABELS = {"courier": N_("Courier"), "pickup_point": N_("Pickup point"), "self_pickup": N_("Self pickup")}
NOTIFY_LABELS = {"sms": N_("SMS"), "email": N_("E-mail"), "telegram": N_("Telegram"), "whatsapp": N_("WhatsApp")}
CHANNEL_LABELS = {"api": N_("API"), "manual": N_("Manual entry"), "csv": N_("CSV import"), "xlsx": N_("XLSX import"),
                  "kaspi": N_("Kaspi.kz"), "webhook": N_("Shop webhook"), "demo": N_("Demo"),
                  "history": N_("Imported history"), "web": N_("Online shop"), "website": N_("Online shop"), "instagram": N_("Instagram")}


# who wrote a timeline entry when it was not a user (their e-mail is shown as it is)
ACTOR_LABELS = {"sourcing": N_("Sourcing"), "system": N_("System"), "demo": N_("Demo")}
SEGMENT_LABELS = {"Champions": N_("Champions"), "Loyal": N_("Loyal"), "Potential loyalist": N_("Potential loyalist"),
                  "New customers": N_("New customers"), "Promising": N_("Promising"),
                  "Need attention": N_("Need attention"), "About to sleep": N_("About to sleep"),
                  "At risk": N_("At risk"), "Cannot lose them": N_("Cannot lose them"),
                  "Hibernating": N_("Hibernating"), "Lost": N_("Lost")}
# the columns of the customer export (CSV / XLSX) in the reader's language; the API gives these English
# machine names unless it is asked for a language (`lang=`), the web export always passes the user's
EXPORT_HEADERS = {"customer_id": N_("Customer ID"), "name": N_("Customer name"), "phone": N_("Phone"),
                  "email": N_("E-mail"), "frequency": N_("Number of orders"), "monetary": N_("Revenue"),
                  "recency_days": N_("Days since last order"), "r_score": N_("R score"), "f_score": N_("F score"),
                  "m_score": N_("M score"), "segment": N_("Segment"), "p_alive": N_("P(alive)"),
                  "expected_purchases": N_("Expected purchases"), "clv": N_("CLV"),
                  "first_order_at": N_("First order"), "last_order_at": N_("Last order")}


def localized_rows(rows: list[dict], lang: str, headers: dict = EXPORT_HEADERS,
                   labels: dict | None = None) -> list[dict]:
    """Export rows with their column names and coded values (segments) in a language."""
    tr = gettext_of(lang)
    labels = {"segment": SEGMENT_LABELS} if labels is None else labels
    names = {k: tr(v) for k, v in headers.items()}
    out = []
    for row in rows:
        out.append({names.get(k, k): (tr(labels[k][v]) if k in labels and v in labels[k] else v)
                    for k, v in row.items()})
    return out


# the counts of an import report, and the pseudo-columns of its row errors (the others are the file's columns)
IMPORT_COUNT_LABELS = {"orders": N_("Orders"), "lines": N_("Lines"), "new": N_("new"), "existing": N_("already there"),
                       "products": N_("Products"), "updated": N_("updated"), "rows": N_("Rows"),
                       "changed": N_("changed"), "unchanged": N_("unchanged"), "units_added": N_("units added"),
                       "units_removed": N_("units removed")}
IMPORT_FIELD_LABELS = {"row": N_("the whole row"), "file": N_("the file")}

# the params of a DomainError that are codes, translated when the error is shown (errors.localize)
PARAM_LABELS = {"status": STATUS_LABELS, "from_status": STATUS_LABELS, "to_status": STATUS_LABELS,
                "resume_to": STATUS_LABELS, "channel": CHANNEL_LABELS, "role": ROLE_LABELS,
                "roles": ROLE_LABELS, "segment": SEGMENT_LABELS}


def gettext_of(lang: str):
    return get_translations(lang).gettext


def localize_error(error, lang: str) -> str:
    """A DomainError in a language (its template translated, its code params labelled)."""
    return errors.localize(error, gettext_of(lang), PARAM_LABELS)


def localize_row(row: dict, lang: str) -> str:
    """An import row error ({line, field, message, template, params}) in a language."""
    return errors.localize_row(row, gettext_of(lang), PARAM_LABELS)


def localize_problem(error: dict | None, lang: str) -> str:
    """A stored problem (an import job's `error`: detail, template, params) in a language."""
    if not error:
        return ""
    return localize_row({"template": error.get("template"), "params": error.get("params"),
                         "message": error.get("detail", "")}, lang)


def localize_warning(text: str, lang: str) -> str:
    """An import warning ("ignored unknown column(s): a, b") in a language."""
    from qoima.platform.imports import UNKNOWN_COLUMNS
    prefix = UNKNOWN_COLUMNS.split("%(")[0]
    if text.startswith(prefix):
        return gettext_of(lang)(UNKNOWN_COLUMNS) % {"columns": text[len(prefix):]}
    return gettext_of(lang)(text)


def localize_reason(stored: str | None, lang: str) -> str:
    """A sourcing reason or timeline entry Qoima wrote, in a language (free text as it was typed)."""
    return reasons.localize(stored, gettext_of(lang), PARAM_LABELS)


LEDGER_REASONS = {  # what the stock services write as a ledger row's reason -> msgid
    "automatic put-away": N_("automatic put-away"), "picked for order": N_("picked for order"),
    "put-away": N_("put-away"), "stock import": N_("stock import"), "transfer received": N_("transfer received"),
    "supplier delivery": N_("supplier delivery"), "putaway": N_("putaway"), "move": N_("move"),
}
LEDGER_PREFIXES = {  # ... and the ones followed by a value (a supplier, a warehouse, a typed reason)
    "supplier delivery ": N_("supplier delivery %(note)s"),
    "order cancelled after pick: ": N_("order cancelled after pick: %(note)s"),
    "transfer to ": N_("transfer to %(note)s"),
}


def localize_ledger(stored: str | None, lang: str) -> str:
    """A stock ledger reason the services wrote, in a language (anything else: as it was typed)."""
    text = stored or ""
    tr = get_translations(lang)
    if text in LEDGER_REASONS:
        return tr.gettext(LEDGER_REASONS[text])
    for prefix, msgid in LEDGER_PREFIXES.items():
        if text.startswith(prefix):
            return tr.gettext(msgid) % {"note": text[len(prefix):]}
    parts = reasons.parse(text)  # the floor's rows are coded templates (orders/domain/reasons.py)
    if parts and all(code.startswith("ledger.") for code, _ in parts):
        return reasons.localize(text, tr.gettext, PARAM_LABELS)
    return text


localize_ledger_reason = localize_ledger  # the older name (tests/unit/test_fill_and_ledger_reasons.py)


def available_languages() -> list[str]:
    """Languages with a catalog on disk, ru first."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"))
    return sorted(found, key=lambda lang: (lang != DEFAULT_LANGUAGE, lang != "en", lang)) or [DEFAULT_LANGUAGE]


def read_catalog(lang: str):
    """The parsed .po catalog (babel.messages.Catalog) of a language."""
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=lang, domain="messages")


@cache
def get_translations(lang: str) -> NullTranslations:
    """A gettext translations object (gettext, ngettext, pgettext...) built from the .po in memory."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    buf = io.BytesIO()
    write_mo(buf, read_catalog(lang))
    buf.seek(0)
    return Translations(fp=buf, domain="messages")


def normalize(lang: str | None) -> str | None:
    """'en-US' -> 'en' when en is available; None when the language is not offered."""
    if not lang:
        return None
    code = lang.strip().replace("_", "-").split("-")[0].lower()
    return code if code in available_languages() else None


def from_accept_language(header: str | None) -> str | None:
    """The best offered language of an Accept-Language header (q-values respected)."""
    if not header:
        return None
    prefs = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            prefs.append((-q, i, tag))
    for _q, _i, tag in sorted(prefs):
        lang = normalize(tag)
        if lang:
            return lang
    return None


def choose_language(switch: str | None, user_language: str | None, accept_language: str | None) -> str:
    return normalize(switch) or normalize(user_language) or from_accept_language(accept_language) or DEFAULT_LANGUAGE


# --- formatting (Babel) ---------------------------------------------------------------------------------------

def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def fmt_datetime(value: datetime | None, lang: str, fmt: str = "short") -> str:
    """A stored (naive UTC) datetime shown in the warehouse time zone."""
    if value is None:
        return "—"
    return format_datetime(_aware(value), fmt, tzinfo=WAREHOUSE_TZ, locale=lang)


def fmt_date(value: date | datetime | None, lang: str, fmt: str = "medium") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = _aware(value).astimezone(WAREHOUSE_TZ).date()
    return format_date(value, fmt, locale=lang)


def fmt_number(value, lang: str, digits: int | None = None) -> str:
    if value is None or value == "":
        return "—"
    if digits is None:
        return format_decimal(Decimal(str(value)), locale=lang)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(Decimal(str(value)), format=pattern, locale=lang)


def fmt_money(value, lang: str, currency: str = "KZT") -> str:
    if value is None or value == "":
        return "—"
    if (currency or "KZT") == "KZT":  # the tenge sign, whatever the language
        return format_decimal(Decimal(str(value)), format="#,##0.00", locale=lang) + "\u00a0₸"
    return format_currency(Decimal(str(value)), currency, locale=lang)


def fmt_percent(value, lang: str, digits: int = 1) -> str:
    if value is None:
        return "—"
    return format_percent(value, format="#,##0." + "0" * digits + "%" if digits else "#,##0%", locale=lang)


def fmt_wait(seconds: float, lang: str) -> str:
    """When to try again, in words ("через 15 минут", "in 8 seconds"): seconds under two minutes, else minutes."""
    seconds = max(1, int(seconds + 0.999))
    if seconds >= 120:
        return format_timedelta(timedelta(minutes=-(-seconds // 60)), granularity="minute", threshold=1000,
                                add_direction=True, locale=lang)
    return format_timedelta(timedelta(seconds=seconds), threshold=1000, add_direction=True, locale=lang)
