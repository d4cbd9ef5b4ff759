"""The ModelHub Flask app behind an ASGI request (Starlette's, as Ray Serve hands it to a replica).

:class:`ReplicaApp` holds the engine and its Flask app (one onnxruntime session whose
``intra_op_num_threads`` is the CPUs the replica was given) and answers a Starlette request by
running that WSGI app on the complete request with :func:`.workerproc.answer`, the production
worker's own adapter, in one thread of its own: one request runs at a time.  The upload limit is
checked from ``Content-Length`` before the body is read, and again while it streams in.  Nothing
here imports Ray (:mod:`.ray_app` does).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor

from starlette.requests import Request
from starlette.responses import Response

from modelhub.settings import Settings

from .wire import WireRequest, WireResponse
from .workerproc import answer

log = logging.getLogger("modelhub.ray")

MULTIPART_SLACK = 64 * 1024  # as the Flask app's MAX_CONTENT_LENGTH: room for multipart headers


def replica_threads(num_cpus: float) -> int:
    """onnxruntime intra-op threads for a replica given ``num_cpus`` CPUs (at least one)."""
    return max(1, math.floor(num_cpus))


def replica_settings(settings: Settings, num_cpus: float) -> Settings:
    """The settings of one replica: one session, as many intra-op threads as the CPUs Ray gave it."""
    return dataclasses.replace(settings, intra_op_threads=replica_threads(num_cpus), inter_op_threads=1, workers=1)


def to_starlette(wire: WireResponse) -> Response:
    """The app's response as Starlette's, headers kept as they are (repeated ones too)."""
    response = Response(content=wire.body, status_code=wire.status)
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in wire.headers
        if name.lower() != "content-length"
    ]
    response.raw_headers = [*headers, (b"content-length", str(len(wire.body)).encode("ascii"))]
    return response


def error_response(status: int, message: str, cors: list[tuple[str, str]]) -> Response:
    """An answer of the adapter itself, shaped as the production front's (JSON, CORS headers)."""
    body = json.dumps({"error": message}, separators=(",", ":")).encode() + b"\n"
    return to_starlette(WireResponse(status, "", [("Content-Type", "application/json"), *cors], body))


def wire_request(request: Request, body: bytes, received: float) -> WireRequest:
    """Starlette's request (the ASGI scope Ray's proxy built) as the complete request the WSGI adapter takes."""
    scope = request.scope
    path = scope.get("raw_path") or scope["path"].encode("utf-8")
    query = scope.get("query_string") or b""
    target = path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
    client = request.client
    server = scope.get("server") or ("", 0)
    return WireRequest(
        request.method,
        target,
        headers,
        body,
        (client.host, client.port) if client else ("", 0),
        (str(server[0]), int(server[1] or 0)),
        str(scope.get("http_version", "1.1")),
        received,
    )


class ReplicaApp:
    """The engine and its Flask app, loaded once; requests run one at a time in the replica's app thread."""

    def __init__(self, settings: Settings, num_cpus: float) -> None:
        from modelhubapi.app import cors_headers, create_app

        self.settings = replica_settings(settings, num_cpus)
        self.app = create_app(self.settings)  # loads and warms up the model; a failure fails the replica
        self.host = self.app.extensions["modelhub"].host
        self.cors = cors_headers(self.settings)
        self.limit = self.settings.max_upload_bytes + MULTIPART_SLACK
        self.too_large = f"the upload is larger than the limit of {self.settings.max_upload_bytes} bytes"
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelhub-app")
        log.info("replica ready: %g CPU(s), onnxruntime intra_op_num_threads=%s", num_cpus, self.intra_op_threads())

    def intra_op_threads(self) -> int | None:
        """The intra-op threads of the onnxruntime session, read from the session (None: the model has none)."""
        onnx = getattr(getattr(self.host.plane.model, "session", None), "session", None)
        return None if onnx is None else int(onnx.get_session_options().intra_op_num_threads)

    async def __call__(self, request: Request) -> Response:
        received = time.monotonic()
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            return error_response(413, self.too_large, self.cors)  # before a byte of the body is read
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.limit:
                return error_response(413, self.too_large, self.cors)
        wire = wire_request(request, bytes(body), received)
        loop = asyncio.get_running_loop()
        return to_starlette(await loop.run_in_executor(self.executor, answer, self.app, wire))

    def check_health(self) -> None:
        """A replica whose model is not loaded is unhealthy (Ray Serve replaces it)."""
        if not self.host.ready:
            raise RuntimeError(f"the model is not loaded: {self.host.error}")
