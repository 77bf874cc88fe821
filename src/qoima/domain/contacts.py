"""Customer contact normalization: phones to E.164 (phonenumbers), e-mails
validated and lower-cased (email-validator, no DNS look-ups)."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from .errors import ValidationError

LANGUAGES = ("ru", "kk", "uk", "en")
CHANNELS = ("sms", "email", "telegram", "whatsapp")


def normalize_phone(raw: str | None, default_region: str = "KZ", field: str = "customer.phone") -> str | None:
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip()
    if text.startswith("8") and len("".join(c for c in text if c.isdigit())) == 11:
        text = "+7" + "".join(c for c in text if c.isdigit())[1:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise ValidationError(f"phone '{raw}' is not a phone number", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(f"phone '{raw}' is not a valid number", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str | None, field: str = "customer.email", internal: bool = False) -> str | None:
    """internal=True accepts site-local domains (admin@qoima.local) for staff logins."""
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip()
    local_domain = internal and text.lower().endswith(".local") and "@" in text
    try:  # email-validator refuses special-use domains such as .local; staff logins may use them
        info = validate_email(text[: text.rindex("@")] + "@example.com" if local_domain else text,
                              check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"e-mail '{raw}' is not valid: {exc}", field=field) from None
    if local_domain:
        return (info.local_part + text[text.rindex("@"):]).lower()
    return info.normalized.lower()


def normalize_language(raw: str | None, field: str = "customer.language") -> str:
    value = (raw or "ru").strip().lower()
    if value not in LANGUAGES:
        raise ValidationError(f"language '{raw}' is not one of {', '.join(LANGUAGES)}", field=field)
    return value


def normalize_channel(raw: str | None, field: str = "customer.preferred_channel") -> str:
    value = (raw or "sms").strip().lower()
    if value not in CHANNELS:
        raise ValidationError(f"preferred channel '{raw}' is not one of {', '.join(CHANNELS)}", field=field)
    return value
