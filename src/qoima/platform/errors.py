"""Domain errors. Each says what is wrong and where (field, line), so the API,
the CLI and the web can show it unchanged."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule violation; `field` names the input that is wrong."""

    status = 422
    title = "Invalid input"

    def __init__(self, message: str, field: str | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class ValidationError(DomainError):
    pass


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class InvalidTransition(Conflict):
    title = "Invalid status transition"

    def __init__(self, from_status: str, to_status: str):
        super().__init__(
            f"cannot move order from '{from_status}' to '{to_status}'",
            field="status",
            from_status=from_status,
            to_status=to_status,
        )


class InsufficientStock(Conflict):
    title = "Insufficient stock"

    def __init__(self, shortfalls: list[dict]):
        lines = "; ".join(f"{s['sku']}: need {s['needed']}, available {s['available']}" for s in shortfalls)
        super().__init__(f"not enough stock: {lines}", field="lines", shortfalls=shortfalls)


class RowErrors(DomainError):
    """Many bad rows of an import, each with its line number and reason."""

    title = "Import has invalid rows"

    def __init__(self, errors: list[dict]):
        first = "; ".join(f"line {e['line']}: {e['field']}: {e['message']}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{len(errors)} invalid row(s): {first}{more}", field="file", errors=errors)
        self.errors = errors
