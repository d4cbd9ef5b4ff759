"""The front's connection protocol, in process on 127.0.0.1: framing, order, deadlines and limits (raw sockets)."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import pytest
from modelhubserve.accesslog import Exchange
from modelhubserve.front import Front
from modelhubserve.limits import Limits
from modelhubserve.wire import WireRequest, WireResponse, response_head

BIG = 8 * 1024 * 1024  # more than loopback sockets buffer (4 MB sending, 128 KB receiving): the writer waits


@dataclass
class Served:
    front: Front
    port: int
    loop: asyncio.AbstractEventLoop
    requests: list[WireRequest] = field(default_factory=list)
    done: list[Exchange] = field(default_factory=list)

    def connect(self, receive_buffer: int = 0) -> socket.socket:
        sock = socket.socket()
        if receive_buffer:  # set before connecting: the kernel then does not grow it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", self.port))
        return sock


def handler(served: list[Served]):  # type: ignore[no-untyped-def]
    def handle(request: WireRequest) -> WireResponse:
        served[0].requests.append(request)
        path = request.target
        if path.startswith("/big/"):
            return WireResponse(200, "OK", [("Content-Type", "text/plain")], path[5:].encode() * (BIG // 8))
        if path == "/bad-header":
            return WireResponse(200, "OK", [("X-Evil", "a\r\nSet-Cookie: x=1")], b"no")
        body = json.dumps({"path": path, "size": len(request.body), "method": request.method}).encode()
        return WireResponse(200, "OK", [("Content-Type", "application/json")], body)

    return handle


@pytest.fixture
def serve() -> Iterator[object]:
    started: list[tuple[threading.Thread, asyncio.AbstractEventLoop, socket.socket]] = []

    def start(**limits: float) -> Served:
        box: list[Served] = []
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setblocking(False)
        loop = asyncio.new_event_loop()
        front = Front(handler(box), Limits(**limits), [("Access-Control-Allow-Origin", "*")])  # type: ignore[arg-type]
        served = Served(front, listener.getsockname()[1], loop)
        box.append(served)
        front.on_done = served.done.append

        async def accept() -> None:
            while True:
                conn, _ = await loop.sock_accept(listener)
                loop.create_task(front.adopt(conn))

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.create_task(accept())
            loop.run_forever()
            for connection in list(front.connections):
                connection.close()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        started.append((thread, loop, listener))
        return served

    yield start
    _streams.clear()
    for thread, loop, listener in started:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        listener.close()


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One answer off ``sock``, through one buffered reader per socket (pipelined answers follow each other)."""
    stream = _streams.setdefault(sock, sock.makefile("rb"))
    status_line = stream.readline()
    assert status_line, "closed before an answer"
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.lower()] = value.strip()
    body = stream.read(int(headers["content-length"]))
    assert len(body) == int(headers["content-length"]), "closed before the body was complete"
    return int(status_line.split()[1]), headers, body


_streams: dict[socket.socket, BinaryIO] = {}


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def get(path: str, extra: bytes = b"") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n".encode() + extra + b"\r\n"


def test_pipelined_big_answers_come_whole_and_in_order(serve) -> None:  # type: ignore[no-untyped-def]
    served = serve()
    with served.connect() as sock:
        sock.sendall(get("/big/AAAAAAAA") + get("/big/BBBBBBBB") + get("/small"))
        time.sleep(0.3)  # the first answer fills the socket buffers; the next requests wait their turn
        assert len(served.requests) == 1
        answers = [read_answer(sock) for _ in range(3)]
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert answers[0][2] == b"AAAAAAAA" * (BIG // 8) and answers[1][2] == b"BBBBBBBB" * (BIG // 8)
    assert json.loads(answers[2][2])["path"] == "/small"
    assert [request.target for request in served.requests] == ["/big/AAAAAAAA", "/big/BBBBBBBB", "/small"]
    time.sleep(0.1)
    assert [exchange.status for exchange in served.done] == [200, 200, 200]


def test_a_client_that_does_not_read_its_answer_is_dropped(serve) -> None:  # type: ignore[no-untyped-def]
    served = serve(send_timeout=0.5)
    with served.connect(receive_buffer=4096) as sock:
        sock.sendall(get("/big/CCCCCCCC"))
        time.sleep(1.5)
        assert served.front.open == 0 and len(served.done) == 1  # dropped, and logged once


def test_http_1_0_and_upgrades_are_answered_then_closed(serve) -> None:  # type: ignore[no-untyped-def]
    served = serve()
    for raw in (
        b"GET /one HTTP/1.0\r\n\r\n",
        get("/ws", b"Upgrade: websocket\r\nConnection: upgrade\r\n"),
        get("/bye", b"Connection: close\r\n"),
    ):
        with served.connect() as sock:
            sock.sendall(raw)
            status, headers, _body = read_answer(sock)
            assert status == 200 and headers["connection"] == "close"
            assert closed_by_server(sock)


def test_chunked_body_arrives_whole_and_its_trailer_is_dropped(serve) -> None:  # type: ignore[no-untyped-def]
    served = serve()
    with served.connect() as sock:
        sock.sendall(
            b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
        )
        status, _headers, body = read_answer(sock)
    assert status == 200 and json.loads(body)["size"] == 11
    assert served.requests[0].body == b"hello world"
    assert all(name != "x-trailer" for name, _ in served.requests[0].headers)


@pytest.mark.parametrize(
    "raw,status",
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Pad: " + b"a" * 1000 + b"\r\n" * 1 + b"X-More: " + b"b" * 40000, 431),
        (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 90) for i in range(300)), 431),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nHost t\r\n\r\n", 400),
        (b"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505),
    ],
    ids=["long URL", "long header", "many headers", "declared body", "bad header", "HTTP/3.0"],
)
def test_limits_hold_when_the_head_arrives_in_pieces(serve, raw: bytes, status: int) -> None:  # type: ignore[no-untyped-def]
    served = serve()
    with served.connect() as sock:
        for start in range(0, len(raw), 1000):
            if select.select([sock], [], [], 0.002)[0]:
                break  # answered already: sending more could make the server's close a reset
            sock.sendall(raw[start : start + 1000])
        code, headers, body = read_answer(sock)
    assert code == status, body
    assert headers["access-control-allow-origin"] == "*" and isinstance(json.loads(body)["error"], str)
    assert served.requests == []


def test_end_of_stream_in_the_body_is_a_400(serve) -> None:  # type: ignore[no-untyped-def]
    served = serve()
    with served.connect() as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly this")
        sock.shutdown(socket.SHUT_WR)
        status, _headers, body = read_answer(sock)
    assert status == 400 and "closed before the request body was complete" in json.loads(body)["error"]


def test_deadlines(serve) -> None:  # type: ignore[no-untyped-def]
    served = serve(header_timeout=0.4, body_timeout=0.4, min_body_rate=1e9, keepalive_timeout=0.3)
    with served.connect() as slow_head, served.connect() as slow_body, served.connect() as kept:
        slow_head.sendall(b"GET / HTTP/1.1\r\nHo")
        slow_body.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12")
        kept.sendall(get("/one"))
        assert read_answer(kept)[0] == 200
        started = time.monotonic()
        assert closed_by_server(kept)  # idle past keepalive_timeout: closed without an answer
        assert 0.2 < time.monotonic() - started < 2
        status, _, body = read_answer(slow_head)
        assert status == 408 and "headers did not arrive" in json.loads(body)["error"]
        status, _, body = read_answer(slow_body)
        assert status == 408 and "body arrived too slowly" in json.loads(body)["error"]
    assert served.requests[0].target == "/one" and len(served.requests) == 1


def test_a_header_with_a_line_break_is_never_sent(serve) -> None:  # type: ignore[no-untyped-def]
    served = serve()
    with served.connect() as sock:
        sock.sendall(get("/bad-header"))
        assert closed_by_server(sock)
    with pytest.raises(ValueError):
        response_head(WireResponse(200, "", [("X", "a\nb")], b""), "id", False)
    head = response_head(WireResponse(503, "", [("Content-Length", "9"), ("Connection", "x")], b"ab"), "r1", True)
    assert head == (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nX-Request-ID: r1\r\nConnection: close\r\n\r\n"
    )


def test_connections_over_the_limit_get_a_503(serve) -> None:  # type: ignore[no-untyped-def]
    served = serve(max_connections=1)
    with served.connect() as first, served.connect() as second:
        status, headers, body = read_answer(second)
        assert status == 503 and headers["connection"] == "close" and "too many" in json.loads(body)["error"]
        first.sendall(get("/still"))
        assert read_answer(first)[0] == 200


def test_close_idle_spares_a_connection_whose_next_request_waits(serve) -> None:  # type: ignore[no-untyped-def]
    served = serve()
    with served.connect() as idle, served.connect() as busy:
        for sock in (idle, busy):
            sock.sendall(get("/first"))
            assert read_answer(sock)[0] == 200

        def hold_the_loop_then_close_idle() -> None:
            time.sleep(0.3)  # meanwhile the next request of "busy" reaches its socket, unread
            served.front.close_idle()

        served.loop.call_soon_threadsafe(hold_the_loop_then_close_idle)
        time.sleep(0.05)
        busy.sendall(get("/second"))
        assert closed_by_server(idle)
        status, headers, _ = read_answer(busy)
        assert status == 200 and headers["connection"] == "close"


def test_a_big_head_and_pipelined_uploads_are_not_taken_for_oversized_framing(serve) -> None:  # type: ignore[no-untyped-def]
    served = serve()
    cookie = b"Cookie: " + b"c" * 14000 + b"\r\n"
    upload = b"POST /" + b"u" * 6000 + b" HTTP/1.1\r\nHost: t\r\n" + cookie + b"Content-Length: 300000\r\n\r\n"
    with served.connect() as sock:
        sock.sendall(upload + b"x" * 100)  # a head of 20 KB, then the body arrives in pieces
        time.sleep(0.05)
        sock.sendall(
            b"x" * (300000 - 100) + get("/next") + b"POST /again HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n12345"
        )
        answers = [read_answer(sock) for _ in range(3)]
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert [json.loads(body)["size"] for _, _, body in answers] == [300000, 0, 5]
