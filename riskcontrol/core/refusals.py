"""Refusals worded for the caller: the reply's language, and request validation in the catalogue's words.

A domain refusal carries a `refusal.*` phrase (`core.errors.DomainError`); a request that fails
validation carries pydantic's error details. Both are worded here, when the reply is made, in the
language the caller's pages use (`i18n.language_of`): ?lang=, the lang cookie, Accept-Language,
else the school's default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

from riskcontrol.core import i18n
from riskcontrol.core.errors import DomainError, InvalidInput
from riskcontrol.core.i18n import Phrase, phrase
from riskcontrol.core.instants import FIRST_DAY, LAST_DAY

# The error type of a validator's own refusal (see `refused`): its context names the catalogue key.
REFUSAL_TYPE: Final = "refusal"

# pydantic's error types, grouped under the catalogue's reason for each; the context values each
# reason needs are taken from the error's `ctx` (see `_REASON_PARAMS`).
_REASONS: Final[Mapping[str, str]] = {
    "missing": "refusal.input.missing",
    "string_too_long": "refusal.input.too_long",
    "string_too_short": "refusal.input.too_short",
    "too_long": "refusal.input.too_many",
    "too_short": "refusal.input.too_few",
    "int_type": "refusal.input.whole_number",
    "int_parsing": "refusal.input.whole_number",
    "int_from_float": "refusal.input.whole_number",
    "int_parsing_size": "refusal.input.whole_number",
    "float_type": "refusal.input.number",
    "float_parsing": "refusal.input.number",
    "decimal_type": "refusal.input.number",
    "decimal_parsing": "refusal.input.number",
    "finite_number": "refusal.input.number",
    "bool_type": "refusal.input.yes_no",
    "bool_parsing": "refusal.input.yes_no",
    "string_type": "refusal.input.text",
    "string_unicode": "refusal.input.text",
    "literal_error": "refusal.input.choice",
    "enum": "refusal.input.choice",
    "greater_than": "refusal.input.greater_than",
    "greater_than_equal": "refusal.input.at_least",
    "less_than": "refusal.input.less_than",
    "less_than_equal": "refusal.input.at_most",
    "date_type": "refusal.input.date",
    "date_parsing": "refusal.input.date",
    "date_from_datetime_parsing": "refusal.input.date",
    "date_from_datetime_inexact": "refusal.input.date",
    "datetime_type": "refusal.input.datetime",
    "datetime_parsing": "refusal.input.datetime",
    "datetime_from_date_parsing": "refusal.input.datetime",
    "datetime_object_invalid": "refusal.input.datetime",
    "timezone_aware": "refusal.input.time_zone",
    "time_type": "refusal.input.time",
    "time_parsing": "refusal.input.time",
    "string_pattern_mismatch": "refusal.input.pattern",
    "extra_forbidden": "refusal.input.extra",
    "json_invalid": "refusal.input.json",
    "model_type": "refusal.input.object",
    "model_attributes_type": "refusal.input.object",
    "dict_type": "refusal.input.object",
    "list_type": "refusal.input.list",
    "out_of_range": "refusal.input.out_of_range",
}
_INVALID: Final = "refusal.input.invalid"
# Which `ctx` value fills which placeholder of a reason.
_REASON_PARAMS: Final[Mapping[str, Mapping[str, str]]] = {
    "refusal.input.too_long": {"max": "max_length"},
    "refusal.input.too_short": {"min": "min_length"},
    "refusal.input.too_many": {"max": "max_length"},
    "refusal.input.too_few": {"min": "min_length"},
    "refusal.input.greater_than": {"limit": "gt"},
    "refusal.input.at_least": {"limit": "ge"},
    "refusal.input.less_than": {"limit": "lt"},
    "refusal.input.at_most": {"limit": "le"},
}
# A choice in pydantic's `expected` text: 'a', 'b' or 'c'.
_QUOTED: Final = re.compile(r"'([^']*)'")


def refused(key: str, **params: str | int) -> PydanticCustomError:
    """A validator's refusal, worded from the catalogue when the reply is made:
    `raise refused("refusal.concern.change_nothing")`."""
    return PydanticCustomError(REFUSAL_TYPE, i18n.translate("en", key, **params), {"key": key, **params})


def field_path(error: ErrorDetails) -> str:
    """The dotted path of the field at fault (`attendees.0.name`), without FastAPI's `body`/`query`/`path`."""
    return ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")) or "body"


def field_label(path: str) -> Phrase | str:
    """The field's name in words (`refusal.field.<name>`, by the last name in its path), else the path itself."""
    names = [part for part in path.split(".") if not part.isdigit()]
    key = f"refusal.field.{names[-1]}" if names else ""
    return phrase(key) if key in i18n.catalog(i18n.DEFAULT_LANGUAGE) else path


def reason(error: ErrorDetails) -> Phrase:
    """Why one field was refused, in the catalogue's words."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == REFUSAL_TYPE:
        params = dict(ctx)
        return phrase(str(params.pop("key")), **params)
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        kind = "missing"
    key = _REASONS.get(kind, _INVALID)
    if key == "refusal.input.choice":
        return phrase(key, choices=i18n.listing(_QUOTED.findall(str(ctx.get("expected", ""))), style="or"))
    if key == "refusal.input.out_of_range":
        return phrase(key, first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat())
    return phrase(key, **{name: ctx.get(source, "") for name, source in _REASON_PARAMS.get(key, {}).items()})


def problem(error: ErrorDetails) -> Phrase:
    """One refused field as a sentence: its name in words and the reason (a validator's own refusal is one already)."""
    if error["type"] == REFUSAL_TYPE:
        return reason(error)
    return phrase("refusal.input.field", field=field_label(field_path(error)), reason=reason(error))


def invalid(exc: ValidationError) -> InvalidInput:
    """A model's failed validation as a 422 naming its first field at fault."""
    first = exc.errors()[0]
    return InvalidInput(problem(first), field=field_path(first))


def reply_language(connection: HTTPConnection) -> str:
    """The language a reply to `connection` is worded in: as its pages would be, else the school's default."""
    app = connection.scope.get("app")
    settings = getattr(getattr(getattr(app, "state", None), "ctx", None), "settings", None)
    return i18n.language_of(connection, getattr(settings, "default_language", i18n.DEFAULT_LANGUAGE))


def refusal_reply(connection: HTTPConnection, exc: DomainError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The reply to a domain refusal, its sentence in the caller's language."""
    return JSONResponse(status_code=exc.status_code, content=exc.as_dict(reply_language(connection)), headers=headers)


def validation_reply(connection: HTTPConnection, errors: Sequence[ErrorDetails]) -> JSONResponse:
    """The 422 of a request that failed validation: every field at fault with its reason, the first as the message."""
    lang = reply_language(connection)
    problems: list[dict[str, Any]] = [{"field": field_path(e), "reason": i18n.word(lang, reason(e))} for e in errors]
    first = errors[0] if errors else ErrorDetails(type="json_invalid", loc=("body",), msg="", input=None)
    return JSONResponse(
        status_code=422,
        content={
            "error": "invalid",
            "message": i18n.word(lang, problem(first)),
            "field": field_path(first),
            "errors": problems or [{"field": "body", "reason": i18n.word(lang, reason(first))}],
        },
    )
