"""Sensitive fields at rest: phone and ID numbers are encrypted in the database.

Values are Fernet tokens (AES-128-CBC with HMAC-SHA256, from the ``cryptography`` package)
made with the first of the configured keys; every listed key can still read, so keys are
rotated by putting a new key first, running ``gridwork keys rotate``, then dropping the old.
A keyed hash (HMAC-SHA256) of the normalised phone number sits beside it, so a household can
still be found by phone without decrypting every row.

Settings: ``FIELD_KEYS`` (comma-separated Fernet keys, newest first) and ``LOOKUP_KEY``. When
unset, one key of each is derived from ``SECRET_KEY`` (HKDF), which is enough for one
community office; a city sets both explicitly so the secret key can change on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["FieldCipher", "field_cipher", "EncryptedString", "generate_key", "lookup_hash",
           "FieldKeyError"]


class FieldKeyError(RuntimeError):
    """A stored value cannot be read with any configured key."""


def _derive(secret: str, label: bytes) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gridwork-field-keys", info=label)
    return kdf.derive(secret.encode())


def generate_key() -> str:
    """A new random field key (for ``GRIDWORK_FIELD_KEYS``)."""
    return Fernet.generate_key().decode()


class FieldCipher:
    """Encrypts and decrypts field values with a list of keys, newest first."""

    def __init__(self, keys: list[str], lookup_key: bytes) -> None:
        if not keys:
            raise ValueError("at least one field key is needed")
        self._fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k)
                                    for k in keys])
        self._lookup_key = lookup_key

    def encrypt(self, value: str) -> str:
        """A token for ``value`` under the newest key."""
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The value of a token made with any configured key."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise FieldKeyError("A stored sensitive field cannot be decrypted with the "
                                "configured GRIDWORK_FIELD_KEYS (was a key removed too "
                                "early?)") from exc

    def rotate(self, token: str) -> str:
        """The same value re-encrypted under the newest key."""
        return self._fernet.rotate(token.encode()).decode()

    def lookup_hash(self, value: str | None) -> str | None:
        """A keyed hash of a phone number, normalised (digits only), for lookups."""
        if not value:
            return None
        digits = re.sub(r"\D", "", value)
        return hmac.new(self._lookup_key, digits.encode(), hashlib.sha256).hexdigest()


def _build(config: Any) -> FieldCipher:
    raw = config.get("FIELD_KEYS")
    if isinstance(raw, str):
        keys = [k.strip() for k in raw.split(",") if k.strip()]
    else:
        keys = list(raw or [])
    secret = str(config["SECRET_KEY"])
    if not keys:
        keys = [base64.urlsafe_b64encode(_derive(secret, b"field-encryption")).decode()]
    lookup = config.get("LOOKUP_KEY")
    lookup_key = lookup.encode() if lookup else _derive(secret, b"phone-lookup")
    return FieldCipher(keys, lookup_key)


def field_cipher(app: Flask | None = None) -> FieldCipher:
    """The app's cipher (built once per app from its settings)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cipher = app.extensions.get("gridwork_field_cipher")
    if cipher is None:
        cipher = app.extensions["gridwork_field_cipher"] = _build(app.config)
    return cipher  # type: ignore[no-any-return]


def lookup_hash(value: str | None) -> str | None:
    """The keyed hash of a phone number under the current app's lookup key."""
    return field_cipher().lookup_hash(value)


class EncryptedString(TypeDecorator[str]):
    """A string column stored as a Fernet token; reads and writes plain text in Python."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else field_cipher().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else field_cipher().decrypt(value)
