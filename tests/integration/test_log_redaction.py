"""No credential in a URL reaches the access log (a websocket opened with `?token=…`)."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from riskcontrol.core.logredact import ACCESS_LOGGER


def test_a_token_in_a_websocket_url_is_redacted_in_the_access_log(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    # The app is built (the `client` fixture): uvicorn's access logger writes its line as uvicorn does.
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        logging.getLogger(ACCESS_LOGGER).info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:50412", "GET", "/ws/board?token=s3cr3t-bearer&lang=zh", "1.1", 101
        )
    [line] = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert "s3cr3t-bearer" not in line
    assert "/ws/board?token=[redacted]&lang=zh" in line
