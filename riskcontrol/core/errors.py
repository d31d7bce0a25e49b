"""Domain errors that the web layer turns into clear 4xx replies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from riskcontrol.core.i18n import Phrase, word


class ErrorOut(BaseModel):
    """The body of every error reply: a machine code, a sentence in the caller's language, and the field at fault."""

    error: str
    message: str
    field: str | None = None
    # Each problem: {field, reason}, or for a file {line, column, reason}.
    errors: list[dict[str, str | int]] | None = None
    # On a 503: the dependency in trouble ("database").
    dependency: str | None = None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting the error replies a route (or the whole app) may give."""
    described = {
        400: "Malformed request body",
        401: "Not signed in",
        403: "Outside your role or grid scope",
        404: "Not found (or outside your scope where existence is private)",
        409: "Conflicts with the current state",
        413: "Too large",
        415: "Unsupported media type",
        422: "Invalid input; names the field",
        429: "Too many requests or failed sign-ins; see Retry-After",
        503: "The database is busy or cannot be reached; nothing was stored, try again after Retry-After",
    }
    return {status: {"model": ErrorOut, "description": described[status]} for status in statuses}


class DomainError(Exception):
    """A refusal a user can understand: an HTTP status, a machine code, the field at fault, and a
    catalogue phrase (`refusal.*`) worded in the caller's language when it is answered.

    `str(exc)` is the English wording, for logs and the command line."""

    status_code = 400
    code = "bad_request"
    # A denial is written to the audit log (in a transaction of its own) when it is answered.
    denial = False

    def __init__(self, message: Phrase, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.phrase = message
        self.field = field
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.worded("en")

    def worded(self, lang: str) -> str:
        """The refusal's sentence in `lang`."""
        return word(lang, self.phrase)

    def as_dict(self, lang: str) -> dict[str, Any]:
        """The reply's body, its sentence in `lang`."""
        return {"error": self.code, "message": self.worded(lang), "field": self.field}


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid"


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"
    denial = True


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class HiddenOutOfScope(NotFound):
    """Out of scope where existence itself is private: answered as 404, audited as a denial."""

    denial = True


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class TooLarge(DomainError):
    status_code = 413
    code = "too_large"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class Locked(DomainError):
    """Too many failed attempts; try again after `retry_after` seconds."""

    status_code = 429
    code = "locked"

    def __init__(self, message: Phrase, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(Locked):
    """Too many requests from one address or one user; try again after `retry_after` seconds."""

    code = "rate_limited"

    def __init__(self, message: Phrase, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.field = field
