"""The loopback listener our in-process servers use must give accepted connections TCP_NODELAY.

With a protocol-0 listener, asyncio leaves Nagle's algorithm on for accepted
sockets, and each two-part response (headers, then body) waited 40 ms for the
client's delayed ACK: the HTTP benchmark read 84 ms for 10 ms searches.
"""

import asyncio
import socket

import pytest

from qmdr.testing.openai_server import loopback_socket


async def _nodelay_of_accepted_connection(listener: socket.socket) -> int:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=listener)
    async with server:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        value = await asyncio.wait_for(accepted, 5)
        writer.close()
    return value


@pytest.mark.anyio
async def test_connections_accepted_on_the_loopback_socket_have_nagle_off():
    assert await _nodelay_of_accepted_connection(loopback_socket()) != 0


@pytest.mark.anyio
async def test_a_protocol_zero_listener_would_leave_nagle_on():
    """The control: proves the check above can fail (asyncio only sets it for IPPROTO_TCP listeners)."""
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    plain.bind(("127.0.0.1", 0))
    assert await _nodelay_of_accepted_connection(plain) == 0
