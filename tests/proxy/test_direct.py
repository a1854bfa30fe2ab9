"""proxy/direct.py against real sockets on 127.0.0.1: pooled connections, deadlines, broken answers.

Each upstream here is a small asyncio server scripted per connection; the proxy-level behaviour (failover,
recording, the client's view) is covered by tests/proxy/addons/test_failover.py and the fault matrix, which
now go through this client for whole answers.
"""

from __future__ import annotations

import asyncio
import gc
import ssl
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from proxy.direct import Address, Deadlines, DirectClient, Expired, Unreachable, tls_context
from proxy.framing import BadAnswer
from tests.proxy.test_intercept import self_signed

REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\nhost: up\r\ncontent-length: 2\r\n\r\n{}"
OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
LOOSE = Deadlines(idle=5.0, total=10.0)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return head + await reader.readexactly(length)


Test = Callable[[Address, list[int]], Awaitable[None]]


async def serving(handler: Handler, test: Test, tls: ssl.SSLContext | None = None) -> None:
    """Run ``test`` against a server calling ``handler`` for each connection (numbered from 0), over TLS with
    ``tls`` (the server's context)."""
    connections: list[int] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = len(connections)
        connections.append(number)
        try:
            await handler(reader, writer, number)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=tls)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        await test((host, port, tls is not None), connections)
    finally:
        server.close()


def run(handler: Handler, test: Test, tls: ssl.SSLContext | None = None) -> None:
    asyncio.run(asyncio.wait_for(serving(handler, test, tls), 20))


def test_answers_come_back_parsed_and_a_connection_serves_the_next_request() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        while True:
            assert await read_request(reader) == REQUEST
            writer.write(OK)

    async def test(address: Address, connections: list[int]) -> None:
        client = DirectClient(1 << 20)
        for _ in range(5):
            answer = await client.exchange(address, REQUEST, time.perf_counter(), LOOSE)
            assert (answer.status, answer.header(b"content-type"), answer.take()) == (
                200,
                "application/json",
                b'{"ok":true}',
            )
        assert connections == [0]  # one kept-alive connection for all five
        client.close()

    run(handler, test)


def test_an_exchange_leaves_nothing_for_the_cyclic_collector() -> None:
    """What an answer allocates is freed as soon as it is done with (reference counting), not left in cycles
    for the cyclic collector to find later: its passes over the young objects are part of the served path."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        while True:
            await read_request(reader)
            writer.write(OK)

    async def test(address: Address, connections: list[int]) -> None:
        client = DirectClient(1 << 20)
        await client.exchange(address, REQUEST, time.perf_counter(), LOOSE)  # the connection, made once
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds is kept in gc.garbage, not freed
        try:
            for _ in range(20):
                await client.exchange(address, REQUEST, time.perf_counter(), LOOSE)
            gc.collect()
            ours = [o for o in gc.garbage if type(o).__module__.startswith("proxy.") or _closure_of_ours(o)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert ours == []
        client.close()

    run(handler, test)


def _closure_of_ours(obj: object) -> bool:
    return isinstance(obj, types.FunctionType) and obj.__module__.startswith("proxy.")


def test_a_chunked_answer_is_de_chunked_and_an_answer_that_closes_is_not_pooled() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )
        await writer.drain()

    async def test(address: Address, connections: list[int]) -> None:
        client = DirectClient(1 << 20)
        answer = await client.exchange(address, REQUEST, time.perf_counter(), LOOSE)
        assert answer.take() == b"abcde"
        await client.exchange(address, REQUEST, time.perf_counter(), LOOSE)
        assert connections == [0, 1]  # "connection: close": the second request needed a new connection

    run(handler, test)


def test_a_kept_alive_connection_the_upstream_closed_is_replaced_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        if number == 0:
            await read_request(reader)  # takes the second request, then hangs up without a byte
            return
        await asyncio.sleep(5)

    async def test(address: Address, connections: list[int]) -> None:
        client = DirectClient(1 << 20)
        await client.exchange(address, REQUEST, time.perf_counter(), LOOSE)
        answer = await client.exchange(address, REQUEST, time.perf_counter(), LOOSE)
        assert answer.status == 200
        assert connections == [0, 1]

    run(handler, test)


def test_a_new_connection_closed_before_answering_is_a_broken_answer() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_request(reader)

    async def test(address: Address, connections: list[int]) -> None:
        with pytest.raises(BadAnswer, match="closed before the answer was complete"):
            await DirectClient(1 << 20).exchange(address, REQUEST, time.perf_counter(), LOOSE)
        assert connections == [0]  # not retried: the request may have been acted on

    run(handler, test)


def test_each_deadline_ends_the_answer_with_its_reason() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_request(reader)
        if number == 1:  # a head, then silence
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{")
        elif number == 2:  # a byte every 0.1 s, never done
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
            for _ in range(50):
                await writer.drain()
                writer.write(b" ")
                await asyncio.sleep(0.1)
        await asyncio.sleep(5)

    async def test(address: Address, connections: list[int]) -> None:
        client = DirectClient(1 << 20)
        cases = [
            (Deadlines(idle=5.0, total=10.0, first_byte=0.3), "no answer within 0.3s"),
            (Deadlines(idle=0.3, total=10.0, first_byte=2.0), "silent for 0.3s mid-answer"),
            (Deadlines(idle=0.5, total=0.8), "answer not complete within 0.8s"),
        ]
        for deadlines, reason in cases:
            began = time.perf_counter()
            with pytest.raises(Expired) as caught:
                await client.exchange(address, REQUEST, began, deadlines)
            assert str(caught.value) == reason
            assert time.perf_counter() - began < 2.0
        assert client.idle == {} or all(not idle for idle in client.idle.values())  # none was kept

    run(handler, test)


def test_an_answer_over_the_limit_is_broken() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n" + b"x" * 5000)
        await writer.drain()
        await asyncio.sleep(5)

    async def test(address: Address, connections: list[int]) -> None:
        with pytest.raises(BadAnswer, match="over 1000 bytes"):
            await DirectClient(1000).exchange(address, REQUEST, time.perf_counter(), LOOSE)

    run(handler, test)


def test_nothing_listening_is_unreachable() -> None:
    async def test() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        address = (host, port, False)
        server.close()
        await server.wait_closed()
        with pytest.raises(Unreachable):
            await DirectClient(1 << 20).exchange(address, REQUEST, time.perf_counter(), LOOSE)

    asyncio.run(test())


def test_an_https_upstream_is_reached_over_tls_and_its_certificate_is_checked(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        while True:
            await read_request(reader)
            writer.write(OK)

    async def test(address: Address, connections: list[int]) -> None:
        trusting = DirectClient(1 << 20, tls_context(str(cert)))
        for _ in range(2):
            answer = await trusting.exchange(address, REQUEST, time.perf_counter(), LOOSE)
            assert answer.take() == b'{"ok":true}'
        with pytest.raises(Unreachable, match="CERTIFICATE_VERIFY_FAILED"):  # certifi's roots: not this one
            await DirectClient(1 << 20).exchange(address, REQUEST, time.perf_counter(), LOOSE)
        assert connections == [0]  # one kept-alive connection; the refused handshake never got to the server

    run(handler, test, server_side)
