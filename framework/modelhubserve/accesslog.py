"""Access log lines, request IDs and the log format of ``modelhub serve`` (front and workers).

The front writes one ``modelhub.access`` line per request once its answer is sent (it knows status,
bytes and duration of every request, its own answers included).  A request's ID is the client's
``X-Request-ID`` when valid (1-128 of ``[A-Za-z0-9._-]``), else a new uuid4 hex; it travels to the
worker in the request headers, comes back in the response, and a :class:`RequestIdFilter` adds it to
every log record written while the request is handled (a contextvar: per asyncio task in the front,
per request in a worker; a worker answers one request at a time, so its other threads, such as the
engine's inference thread, which does not inherit the context, fall back to the worker's current
request).  ``MODELHUB_LOG_FORMAT=json`` makes each line a JSON object (a standard
library ``logging.Formatter`` subclass with orjson: no further dependency for a fixed set of fields).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from modelhub.settings import Settings

access_log = logging.getLogger("modelhub.access")
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("modelhub_request_id", default=None)
VALID_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
_worker_request: list[str | None] = [None]  # the request a worker process is answering, for all its threads
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def handling(rid: str | None) -> Iterator[None]:
    """In a worker: the log lines written while answering one request name it."""
    token = REQUEST_ID.set(rid)
    _worker_request[0] = rid
    try:
        yield
    finally:
        _worker_request[0] = None
        REQUEST_ID.reset(token)


def request_id(sent: bytes | None) -> str:
    """The client's ID when it is valid, else a new one."""
    if sent is not None and VALID_ID.fullmatch(sent):
        return sent.decode("ascii")
    return uuid.uuid4().hex


@dataclass
class Exchange:
    """One request and its answer, as the front saw them."""

    client: str
    started: float = field(default_factory=time.monotonic)
    method: str = "-"
    path: str = "-"  # without the query string (which may carry URLs or tokens)
    request_id: str = ""  # the front sets it from the request, or makes one when it answers
    status: int = 0
    sent: int = 0  # body bytes sent
    seconds: float = 0.0
    by_front: bool = False  # answered by the main process itself, not by a worker

    def identify(self, method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """From the request head: method, path and ID (also set for the log lines of this asyncio task)."""
        self.method = method.decode("ascii", "replace")
        self.path = target.split(b"?", 1)[0].decode("latin-1")
        self.request_id = request_id(next((value for name, value in headers if name == b"x-request-id"), None))
        REQUEST_ID.set(self.request_id)

    def log(self) -> None:
        fields = {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "bytes": self.sent,
            "duration_ms": round(self.seconds * 1000, 2),
            "request_id": self.request_id,
            "client": self.client,
        }
        access_log.info(
            "%s %s %d %d %.2fms id=%s client=%s",
            self.method,
            self.path,
            self.status,
            self.sent,
            self.seconds * 1000,
            self.request_id,
            self.client,
            extra={"access": fields, "request_id": self.request_id},
        )


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (of the request being handled, or None) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or _worker_request[0]
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        if rid and not hasattr(record, "access"):
            line += f" [request {rid}]"
        return line


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, pid, request_id, the access fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        rid = getattr(record, "request_id", None)
        if rid:
            entry["request_id"] = rid
        entry.update(getattr(record, "access", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(settings: Settings) -> None:
    """The server's log: its format, request IDs on every line, the access log on or off."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=settings.log_level.upper())
    formatter: logging.Formatter = JSONFormatter() if settings.log_format == "json" else TextFormatter()
    for handler in root.handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
    if settings.access_log:  # its own level: MODELHUB_ACCESS_LOG switches it, MODELHUB_LOG_LEVEL does not hide it
        access_log.setLevel(logging.INFO)
