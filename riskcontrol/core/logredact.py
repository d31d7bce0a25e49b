"""Secrets never reach the logs: the access log line of a websocket opened with `?token=…` (a
bearer token in the URL, as browsers must send it) is written with the token replaced."""

from __future__ import annotations

import logging
import re
from typing import Final

ACCESS_LOGGER: Final = "uvicorn.access"
# Query parameters whose value is a credential: the session or bearer token, a signed link's token.
_SECRET = re.compile(r"(?i)\b(token|access_token|signature)=[^&\s\"']*")
REDACTED: Final = "[redacted]"


def redact(text: str) -> str:
    """`text` with every credential query value replaced."""
    return _SECRET.sub(lambda m: f"{m[1]}={REDACTED}", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's arguments (uvicorn passes the request path as one) before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install() -> None:
    """Put the filter on the access logger once (idempotent: every app the process builds calls it)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())
