"""The error kinds that drive every retry decision.

Retriable (429, 5xx, timeouts) keeps work queued for later; fatal is recorded and not retried;
ReauthRequired pauses the installation until an admin reconnects.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of the connector's own errors."""


class TransientProviderError(ConnectorError):
    """A vendor call failed for a reason that may pass: rate limit, 5xx, timeout."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientProviderError):
    """The vendor said slow down (429)."""


class FatalProviderError(ConnectorError):
    """A vendor call failed for a reason retrying will not fix (4xx other than 429)."""

    def __init__(self, message: str, *, status: int | None = None, category: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.category = category


class ReauthRequired(FatalProviderError):
    """The refresh token was refused; an admin must reconnect the installation."""


class BadInput(ConnectorError):
    """A request to the connector itself was malformed (maps to a 4xx)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
