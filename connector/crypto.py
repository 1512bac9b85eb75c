"""Secrets at rest: Fernet (AES-128-CBC + HMAC) from `cryptography`.

The key comes from DUNNING_ENCRYPTION_KEY. Several comma-separated keys enable rotation
(MultiFernet: the first encrypts, all decrypt).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# Demo and test runs need no set-up, so they use a fixed key derived from this label.
# It protects nothing and is refused outside demo/test (see connector.config).
_DEMO_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"dunning-connector demo key").digest())


class SecretBox:
    """Encrypts and decrypts secrets with the configured keys."""

    def __init__(self, keys: str | bytes) -> None:
        raw = keys.decode() if isinstance(keys, bytes) else keys
        parts = [k.strip() for k in raw.split(",") if k.strip()]
        if not parts:
            raise ValueError("no encryption key given")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        except (ValueError, TypeError) as exc:
            raise ValueError(
                "DUNNING_ENCRYPTION_KEY must be a Fernet key (32 url-safe base64 bytes); "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc

    @classmethod
    def demo(cls) -> SecretBox:
        return cls(_DEMO_KEY)

    def encrypt(self, plaintext: str) -> str:
        if not plaintext:
            return ""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        if not token:
            return ""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("a stored secret could not be decrypted with the configured keys") from exc
