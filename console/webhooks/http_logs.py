"""The webhook listener's logs, with tokens and signatures redacted.

Tokens and signatures never reach the logs: the access log prints the path as
`/webhooks/<redacted>`, and a filter redacts them (and any query string after them)
from aiohttp's own error messages (which quote the first bytes of a malformed request
line). Nor do they reach the job: see `console.webhooks.masking`.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest

from console.webhooks.masking import MASK

log = logging.getLogger("console.webhooks.http")
access_log = logging.getLogger("console.webhooks.http.access")
server_log = logging.getLogger("console.webhooks.http.server")

_SECRET_IN_TEXT = (
    (re.compile(r"/webhooks/[^\s'\"#]*"), "/webhooks/" + MASK),
    (re.compile(r"sha(1|256)=[0-9A-Za-z]+"), r"sha\1=" + MASK),
)


def redact(text: str) -> str:
    """Remove webhook tokens and signatures from a text bound for a log."""
    for pattern, replacement in _SECRET_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record, message and traceback text, with secrets redacted.

    aiohttp logs every malformed request at ERROR with a traceback; a port scanner would
    flood the log. Those are the client's fault: one WARNING line without traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            text += f": {type(exc).__name__}: {(exc.message or '').partition(chr(10))[0]}"
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        elif record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        record.exc_text = None
        record.msg = redact(text)
        record.args = None
        return True


for _logger in (log, access_log, server_log):
    _logger.addFilter(RedactingFilter())


class RedactedAccessLogger(AbstractAccessLogger):
    """One line per refused request; the token in the path is never printed. An
    accepted request (202) is not logged here: the engine logs it as its queued job,
    with the job id, the webhook and the runbook (one line per event, not two)."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        if response.status == 202:
            return
        self.logger.info(
            "%s %s %s %s %d %.3fs",
            request.remote,
            request.method,
            redact(request.path),
            response.status,
            response.body_length,
            time,
        )
