"""Domain errors. Each says what is wrong and where (field, line), so the API,
the CLI and the web can show it -- in the reader's language.

An error is raised with an English *template* with ``%(name)s`` placeholders and the values as keyword
parameters, plus a stable dotted ``code``::

    raise ValidationError("quantity must be at most %(max)s", field="quantity", code="stock.quantity_too_big",
                          max=10**6)

``.message`` is the formatted English text (API ``detail``, CLI, logs); ``.template``, ``.params`` and
``.code`` let `localize` render the same error in any language of the catalogs (the template is the
msgid). Parameters that are themselves codes (a status, a channel, a role) are translated too when the
caller passes their labels (``labels={"status": {"picking": "Picking", ...}}``, keyed by parameter name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def format_template(template: str, params: Mapping) -> str:
    """template % params, or the template itself when it has no (or other) placeholders."""
    if not params:
        return template
    shown = {k: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) and all(
        isinstance(x, (str, int, float)) for x in v) else v for k, v in params.items()}  # lists: "A, B"
    try:
        return template % shown
    except (KeyError, ValueError, TypeError):
        return template


class DomainError(Exception):
    """Base of every rule violation; `field` names the input that is wrong."""

    status = 422
    title = "Invalid input"
    code_prefix = "error"  # the default code is <code_prefix>.<class name in snake case>

    def __init__(self, message_template: str, field: str | None = None, *, code: str | None = None, **params):
        self.template = message_template
        self.params = params
        self.extra = params  # older name of the same dict: extra members of the problem+json body
        self.message = format_template(message_template, params)
        super().__init__(self.message)
        self.field = field
        self.code = code or f"{self.code_prefix}.{_snake(type(self).__name__)}"

    def reword(self, message_template: str, **params) -> DomainError:
        """Change the message after raising (template and params stay in step); returns the error."""
        self.template = message_template
        self.params.update(params)
        self.message = format_template(message_template, self.params)
        self.args = (self.message,)
        return self

    def localized(self, gettext: Callable[[str], str], labels: Mapping | None = None) -> str:
        """This error in the language of `gettext` (subclasses with composite messages override it)."""
        if self.message != format_template(self.template, self.params):  # message rewritten after raising
            return self.message
        params = {k: localize_value(k, v, gettext, labels) for k, v in self.params.items()}
        return format_template(gettext(self.template), params)


def localize_value(name: str, value, gettext: Callable[[str], str], labels: Mapping | None = None):
    """A parameter in the reader's language: a code with a label (status, channel...) is translated;
    a list is joined; anything else is shown as it is."""
    table = (labels or {}).get(name)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(localize_value(name, v, gettext, labels)) for v in value)
    if table and isinstance(value, str) and value in table:
        return gettext(table[value])
    return value


def localize(error: DomainError, gettext: Callable[[str], str], labels: Mapping | None = None) -> str:
    """The error's message rendered in a language: gettext(template) % params (codes among the params
    translated through `labels`, {param name: {code: msgid}}). Pure: no I/O, no global state."""
    if not isinstance(error, DomainError):
        return str(error)
    return error.localized(gettext, labels)


def localize_row(row: Mapping, gettext: Callable[[str], str], labels: Mapping | None = None) -> str:
    """An import row error ({line, field, message, template?, params?}) in a language."""
    template = row.get("template")
    if not template:
        return gettext(row.get("message", ""))
    params = {k: localize_value(k, v, gettext, labels) for k, v in (row.get("params") or {}).items()}
    return format_template(gettext(template), params)


class ValidationError(DomainError):
    code_prefix = "validation"


class NotFound(DomainError):
    status = 404
    title = "Not found"
    code_prefix = "not_found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    code_prefix = "forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    code_prefix = "conflict"


class InvalidTransition(Conflict):
    title = "Invalid status transition"

    def __init__(self, from_status: str, to_status: str):
        super().__init__("cannot move order from '%(from_status)s' to '%(to_status)s'", field="status",
                         code="orders.invalid_transition", from_status=from_status, to_status=to_status)


class InsufficientStock(Conflict):
    title = "Insufficient stock"
    LINE = "%(sku)s: need %(needed)s, available %(available)s"

    def __init__(self, shortfalls: list[dict]):
        lines = "; ".join(self.LINE % s for s in shortfalls)
        super().__init__("not enough stock: %(lines)s", field="lines", code="stock.insufficient",
                         lines=lines, shortfalls=shortfalls)

    def localized(self, gettext, labels=None) -> str:
        lines = "; ".join(gettext(self.LINE) % s for s in self.params["shortfalls"])
        return format_template(gettext(self.template), {**self.params, "lines": lines})


class RowErrors(DomainError):
    """Many bad rows of an import, each with its line number and reason (and code, template, params
    when the reason is a DomainError: `localize_row` renders one in a language)."""

    title = "Import has invalid rows"
    ROW = "line %(line)s: %(field)s: %(message)s"

    def __init__(self, errors: list[dict]):
        first = "; ".join(self.ROW % e for e in errors[:5])
        more = len(errors) - 5
        template = ("%(count)s invalid row(s): %(first)s (and %(more)s more)" if more > 0
                    else "%(count)s invalid row(s): %(first)s")
        super().__init__(template, field="file", code="import.invalid_rows", count=len(errors), first=first,
                         more=more, errors=errors)
        self.errors = errors

    def localized(self, gettext, labels=None) -> str:
        if self.message != format_template(self.template, self.params):
            return self.message
        first = "; ".join(gettext(self.ROW) % {**e, "message": localize_row(e, gettext, labels)}
                          for e in self.errors[:5])
        return format_template(gettext(self.template), {**self.params, "first": first})


def row_error(line: int, column: str, error: DomainError | str) -> dict:
    """One import row error: {line, field, message} plus code, template and params of a DomainError."""
    if isinstance(error, DomainError):
        row = {"line": line, "field": column, "message": error.message, "code": error.code}
        if error.template != error.message or error.params:
            row["template"] = error.template
            row["params"] = _plain(error.params)
        return row
    return {"line": line, "field": column, "message": error}


def _plain(params: Mapping) -> dict:
    """The JSON-friendly parameters: numbers, text, lists of them (Decimals and dates as text; structured
    values -- shortfalls, row errors -- are members of the problem body of their own)."""
    out = {}
    for k, v in params.items():
        if isinstance(v, (str, int, float, bool)) or v is None:
            out[k] = v
        elif isinstance(v, (list, tuple)) and all(isinstance(x, (str, int, float)) for x in v):
            out[k] = list(v)
        elif not isinstance(v, (dict, list, tuple, set)):
            out[k] = str(v)
    return out


def problem_body(error: DomainError) -> dict:
    """The RFC 9457 problem+json body of an error, the one shape the API, the import jobs and the CLI
    share: English `detail`, the stable `code` and its `params` (to render it in another language), the
    `field`, and the error's structured extras (shortfalls, errors, retry_after...) as members."""
    extra = {k: v for k, v in error.params.items() if v is not None and k not in _BODY_RESERVED}
    return {"type": "about:blank", "title": error.title, "status": error.status, "detail": error.message,
            **extra, "field": error.field, "code": error.code, "params": _plain(error.params)}


_BODY_RESERVED = {"type", "title", "status", "detail", "field", "code", "params"}


# --- schema (Pydantic) errors as templates ---------------------------------------------------------------------

SCHEMA_PROBLEMS = {  # pydantic error type -> English template (msgid), its ctx values as the parameters
    "missing": "is required",
    "string_too_long": "must have at most %(max_length)s characters",
    "too_long": "must have at most %(max_length)s items",
    "string_too_short": "must have at least %(min_length)s characters",
    "greater_than_equal": "must be at least %(ge)s",
    "greater_than": "must be greater than %(gt)s",
    "less_than_equal": "must be at most %(le)s",
    "less_than": "must be less than %(lt)s",
    "int_parsing": "is not a whole number", "int_from_float": "is not a whole number",
    "float_parsing": "is not a number", "decimal_parsing": "is not a number",
    "url_parsing": "is not a valid web address", "url_scheme": "is not a valid web address",
    "date_from_datetime_parsing": "is not a valid date", "date_parsing": "is not a valid date",
    "datetime_parsing": "is not a valid date and time", "datetime_from_date_parsing": "is not a valid date and time",
    "string_pattern_mismatch": "has characters that are not allowed",
    "literal_error": "choose a value from the list", "enum": "choose a value from the list",
}
SCHEMA_EMAIL = "is not a valid e-mail address"
SCHEMA_INVALID = "the value is not valid"


def schema_rule(error: Mapping) -> DomainError | None:
    """One error of a pydantic ValidationError (an item of exc.errors()) as a DomainError with a template:
    a domain rule inside the schema (platform/schemas.RuleValueError) is itself; a Pydantic check one of
    SCHEMA_PROBLEMS; None when it is neither (the caller says "the value is not valid" or keeps its text)."""
    ctx = error.get("ctx") or {}
    rule = getattr(ctx.get("error"), "domain_error", None)
    if isinstance(rule, DomainError):
        return rule
    kind, msg = str(error.get("type", "")), str(error.get("msg", ""))
    if kind in SCHEMA_PROBLEMS:
        params = {k: v for k, v in ctx.items() if isinstance(v, (int, float, str))}
        return ValidationError(SCHEMA_PROBLEMS[kind], code=f"validation.{kind}", **params)
    if "email" in msg.lower():
        return ValidationError(SCHEMA_EMAIL, code="validation.email")
    return None
