"""Customer contact normalization: phones to E.164 (phonenumbers), e-mails
validated and lower-cased (email-validator, no DNS look-ups).

Both checks are pure functions of the raw text and cost tens of microseconds
each, while the same buyer's phone and e-mail come back again and again (repeat
orders, a large import file): results are memoised per distinct raw value
(bounded LRU; a refusal is remembered as its message and raised afresh with the
caller's field each time)."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from qoima.platform.errors import ValidationError

LANGUAGES = ("ru", "kk", "uk", "en")
CHANNELS = ("sms", "email", "telegram", "whatsapp")
CACHE_SIZE = 1 << 16  # distinct raw values remembered per kind (65,536; some 10 MB at most)


def normalize_phone(raw: str | None, default_region: str = "KZ", field: str = "customer.phone") -> str | None:
    if raw is None:
        return None
    value, problem = _phone(str(raw), default_region)
    if problem is not None:
        raise ValidationError(problem[0], field=field, code="contacts.bad_phone", **problem[1])
    return value


@lru_cache(maxsize=CACHE_SIZE)
def _phone(raw: str, default_region: str) -> tuple[str | None, tuple[str, dict] | None]:
    """(E.164 number or None, None) or (None, the refusal)."""
    text = raw.strip()
    if text == "":
        return None, None
    if text.startswith("8") and len("".join(c for c in text if c.isdigit())) == 11:
        text = "+7" + "".join(c for c in text if c.isdigit())[1:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None, ("phone '%(phone)s' is not a phone number", {"phone": raw})
    if not phonenumbers.is_valid_number(number):
        return None, ("phone '%(phone)s' is not a valid number", {"phone": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def normalize_email(raw: str | None, field: str = "customer.email", internal: bool = False) -> str | None:
    """internal=True accepts site-local domains (admin@qoima.local) for staff logins."""
    if raw is None:
        return None
    value, problem = _email(str(raw), internal)
    if problem is not None:
        raise ValidationError(problem[0], field=field, code="contacts.bad_email", **problem[1])
    return value


@lru_cache(maxsize=CACHE_SIZE)
def _email(raw: str, internal: bool) -> tuple[str | None, tuple[str, dict] | None]:
    text = raw.strip()
    if text == "":
        return None, None
    local_domain = internal and text.lower().endswith(".local") and "@" in text
    try:  # email-validator refuses special-use domains such as .local; staff logins may use them
        info = validate_email(text[: text.rindex("@")] + "@example.com" if local_domain else text,
                              check_deliverability=False)
    except EmailNotValidError as exc:
        return None, ("e-mail '%(email)s' is not valid: %(why)s", {"email": raw, "why": str(exc)})
    if local_domain:
        return (info.local_part + text[text.rindex("@"):]).lower(), None
    return info.normalized.lower(), None


def normalize_language(raw: str | None, field: str = "customer.language") -> str:
    value = (raw or "ru").strip().lower()
    if value not in LANGUAGES:
        raise ValidationError("language '%(language)s' is not one of %(allowed)s", field=field,
                              code="contacts.bad_language", language=raw, allowed=list(LANGUAGES))
    return value


def normalize_channel(raw: str | None, field: str = "customer.preferred_channel") -> str:
    value = (raw or "sms").strip().lower()
    if value not in CHANNELS:
        raise ValidationError("preferred channel '%(channel)s' is not one of %(allowed)s", field=field,
                              code="contacts.bad_channel", channel=raw, allowed=list(CHANNELS))
    return value
