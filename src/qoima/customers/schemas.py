"""Input schemas of customers (API, import, CLI share them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

from qoima.platform import contacts
from qoima.platform.bounds import Text
from qoima.platform.schemas import _rule


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text(200) = ""
    phone: Text(40) | None = None
    email: Text(254) | None = None
    language: Text(10) = "ru"
    preferred_channel: Text(20) = "sms"

    @field_validator("phone")
    @classmethod
    def _phone(cls, v):
        return _rule(contacts.normalize_phone, v, "customer.phone")

    @field_validator("email")
    @classmethod
    def _email(cls, v):
        return _rule(contacts.normalize_email, v, "customer.email")

    @field_validator("language")
    @classmethod
    def _lang(cls, v):
        return _rule(contacts.normalize_language, v, "customer.language")

    @field_validator("preferred_channel")
    @classmethod
    def _channel(cls, v):
        return _rule(contacts.normalize_channel, v, "customer.preferred_channel")
