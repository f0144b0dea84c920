"""Request bodies over a real socket (uvicorn on 127.0.0.1 in a thread): chunked framing, no token, oversize.

Raw HTTP/1.1 on a socket, because an HTTP client library would frame and
buffer the body its own way: here the test decides exactly which bytes the
server has been sent when it answers.
"""

from __future__ import annotations

import json
import resource
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from qmdr.api.app import MAX_BODY_BYTES
from tests.qmdr.live_server import live_server
from tests.qmdr.memory_service import make_service, write_notes

TOKEN = "body-limit-test-token"
#: guard for any one socket read
SOCKET_LIMIT_S = 30.0
CHUNK = 64 * 1024


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    folder = write_notes(tmp_path / "v", {"herons.md": "# Herons\n\nHerons nest near the lake.\n"})
    service = make_service(tmp_path, folder, qmdr_api_token=TOKEN)
    with live_server(service) as base:
        yield "127.0.0.1", int(base.rsplit(":", 1)[1])


def chunked_headers(path: str, token: str | None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
        "Connection: close",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and whatever body arrives before the server closes (Connection: close)."""
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            break
        if not part:
            break
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def send_until_answered(sock: socket.socket, total: int) -> int:
    """Send up to ``total`` body bytes in chunks; stop when the server answers or closes. Bytes sent."""
    sent, piece = 0, chunk(b"x" * CHUNK)
    sock.setblocking(False)
    try:
        while sent < total:
            try:
                sock.sendall(piece)
            except BlockingIOError:  # the server stopped reading: it has answered or will
                break
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
    finally:
        sock.setblocking(True)
        sock.settimeout(SOCKET_LIMIT_S)
    return sent


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_a_chunked_body_without_a_token_is_refused_before_it_is_read(server) -> None:
    host, port = server
    with socket.create_connection((host, port), timeout=SOCKET_LIMIT_S) as sock:
        sock.sendall(chunked_headers("/vaults/default/notes", None) + chunk(b'{"path": "a", "content": "'))
        # no more body: the answer must come from the headers alone
        status, headers, body = read_response(sock)
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in json.loads(body)["detail"]


def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(server) -> None:
    """With the token, 4x the limit is offered in chunks; the server answers 413 and stops reading."""
    host, port = server
    before = rss_kib()  # server and test share this process: the bound covers both (a sanity bound only)
    with socket.create_connection((host, port), timeout=SOCKET_LIMIT_S) as sock:
        sock.sendall(chunked_headers("/vaults/default/notes", TOKEN) + chunk(b'{"path": "a", "content": "'))
        send_until_answered(sock, 4 * MAX_BODY_BYTES)
        status, headers, body = read_response(sock)
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 413 and problem["error"] == "PayloadTooLarge"
    assert str(MAX_BODY_BYTES) in problem["detail"]
    assert rss_kib() - before < 4 * MAX_BODY_BYTES // 1024  # nothing near the offered body stayed in memory


def test_a_declared_length_over_the_limit_is_refused_before_reading(server) -> None:
    host, port = server
    head = (
        "POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port), timeout=SOCKET_LIMIT_S) as sock:
        sock.sendall(head)
        status, _, body = read_response(sock)
    assert status == 413 and json.loads(body)["error"] == "PayloadTooLarge"


def test_a_chunked_body_under_the_limit_still_works(server) -> None:
    host, port = server
    payload = json.dumps({"query": "herons", "mode": "keyword"}).encode()
    with socket.create_connection((host, port), timeout=SOCKET_LIMIT_S) as sock:
        sock.sendall(chunked_headers("/search", TOKEN) + chunk(payload[:7]) + chunk(payload[7:]) + b"0\r\n\r\n")
        status, _, body = read_response(sock)
    assert status == 200, body
    assert json.loads(body)["query"] == "herons"


def test_peak_memory_stays_flat_while_unauthenticated_bodies_are_refused(server) -> None:
    """Ten 8 MiB chunked bodies without a token: each is answered from its headers; peak RSS barely moves."""
    host, port = server
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(10):
        with socket.create_connection((host, port), timeout=SOCKET_LIMIT_S) as sock:
            sock.sendall(chunked_headers("/vaults/default/notes", None))
            send_until_answered(sock, 4 * MAX_BODY_BYTES)
            status, _, _ = read_response(sock)
        assert status == 401
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 4 * MAX_BODY_BYTES // 1024
