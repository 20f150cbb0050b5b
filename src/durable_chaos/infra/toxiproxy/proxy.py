"""asyncio TCP proxies with toxics: the data plane of the embedded Toxiproxy-compatible server.

Each accepted client gets a :class:`Connection` to the upstream, made of two :class:`Link` s (one per
direction). A link with no toxic on its stream forwards bytes straight from ``data_received`` to the other
transport (no task, no queue, no copy): the proxy's overhead is a protocol callback per 256 KiB read.
Once a toxic is on its stream, the link switches to a pump task that reads chunks from a queue, runs them
through the chain and writes them out; when the chain is empty again and the queue drained, it switches
back. Toxics added or removed apply to live connections, as in Toxiproxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from typing import Any

from durable_chaos.infra.toxiproxy.toxics import Chunk, CloseLink, Toxic

__all__ = ["Connection", "Link", "Proxy", "join_host_port", "split_host_port"]

_QUEUE_HIGH = 4 * 1024 * 1024  # bytes queued in a pump before the source is paused
_WRITE_HIGH = 4 * 1024 * 1024
_WRITE_LOW = 1024 * 1024
_WAKE = object()  # queue sentinel: the chain changed, look again
_EOF = object()


def split_host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address {address}: missing port in address")
    host = host.strip("[]")
    return host, int(port)


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Side(asyncio.Protocol):
    """One socket of a connection; hands reads to the link that reads from it."""

    def __init__(self, conn: Connection, is_client: bool) -> None:
        self.conn = conn
        self.is_client = is_client
        self.transport: asyncio.Transport | None = None
        self.paused_writing = False
        self.writable = asyncio.Event()
        self.writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=_WRITE_HIGH, low=_WRITE_LOW)  # asyncio sets TCP_NODELAY
        if self.is_client:
            transport.pause_reading()  # until the upstream is connected
            self.conn.client_made(self)

    def data_received(self, data: bytes) -> None:
        self.conn.reader_link(self).feed(data)

    def eof_received(self) -> bool:
        self.conn.reader_link(self).feed_eof()
        return True  # keep our write side open: the other direction may still be sending

    def connection_lost(self, exc: Exception | None) -> None:
        self.writable.set()
        self.conn.side_lost(self)

    def pause_writing(self) -> None:
        self.paused_writing = True
        self.writable.clear()
        self.conn.writer_link(self).source_pause()

    def resume_writing(self) -> None:
        self.paused_writing = False
        self.writable.set()
        self.conn.writer_link(self).source_resume()


class Link:
    """One direction of a connection: reads from ``src``, writes to ``dst`` through the stream's toxics."""

    def __init__(self, conn: Connection, stream: str) -> None:
        self.conn = conn
        self.stream = stream
        self.src: _Side | None = None
        self.dst: _Side | None = None
        self.pending: list[bytes | object] = []  # reads before the upstream connected
        self.queue: asyncio.Queue[Any] | None = None
        self.queued = 0
        self.pump: asyncio.Task[None] | None = None
        self.states: dict[str, tuple[int, bool, Any]] = {}  # toxic name -> (generation, active, state)
        self.paused = 0  # reasons the source is paused (dst full, queue full)
        self.done = False

    # -- source side ------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.dst is None:
            self.pending.append(data)
        elif self.pump is None and not self.conn.proxy.chain(self.stream):
            assert self.dst.transport is not None
            self.dst.transport.write(data)
        else:
            self._enqueue(Chunk(data, time.monotonic()))

    def feed_eof(self) -> None:
        if self.dst is None:
            self.pending.append(_EOF)
        elif self.pump is None and not self.conn.proxy.chain(self.stream):
            self._finish()
        else:
            self._enqueue(_EOF)

    def _enqueue(self, item: Any) -> None:
        self.start_pump()
        assert self.queue is not None
        self.queue.put_nowait(item)
        if isinstance(item, Chunk):
            self.queued += len(item.data)
            if self.queued > _QUEUE_HIGH and self.queued - len(item.data) <= _QUEUE_HIGH:
                self.source_pause()

    def source_pause(self) -> None:
        self.paused += 1
        if self.paused == 1 and self.src is not None and self.src.transport is not None:
            self.src.transport.pause_reading()

    def source_resume(self) -> None:
        self.paused = max(self.paused - 1, 0)
        src = self.src.transport if self.src is not None else None
        if self.paused == 0 and src is not None and not src.is_closing():
            src.resume_reading()

    def connected(self) -> None:
        """The upstream connected: replay what the client sent meanwhile."""
        pending, self.pending = self.pending, []
        for item in pending:
            if item is _EOF:
                self.feed_eof()
            else:
                assert isinstance(item, bytes)
                self.feed(item)
        if self.conn.proxy.chain(self.stream):
            self.start_pump()  # start idle timers (timeout) even before any data

    def _finish(self) -> None:
        """The source closed and everything was passed on: half-close the destination."""
        self.done = True
        dst = self.dst.transport if self.dst else None
        if dst is not None and not dst.is_closing() and dst.can_write_eof():
            dst.write_eof()
        self.conn.link_done()

    # -- toxic path -------------------------------------------------------------------------------

    def start_pump(self) -> None:
        if self.pump is None and not self.done and self.dst is not None:
            self.queue = asyncio.Queue()
            self.pump = asyncio.get_running_loop().create_task(self._run_pump())

    def wake(self) -> None:
        if self.pump is not None and self.queue is not None:
            self.queue.put_nowait(_WAKE)
        elif self.conn.proxy.chain(self.stream):
            self.start_pump()

    def active_chain(self) -> list[tuple[Toxic, Any]]:
        chain = []
        for toxic in self.conn.proxy.chain(self.stream):
            entry = self.states.get(toxic.name)
            if entry is None or entry[0] != toxic.generation:
                state = entry[2] if entry is not None else toxic.new_state()
                entry = (toxic.generation, toxic.roll(), state)
                self.states[toxic.name] = entry
            if entry[1]:
                chain.append((toxic, entry[2]))
        return chain

    def is_affected_by(self, toxic: Toxic) -> bool:
        entry = self.states.get(toxic.name)
        return entry is not None and entry[1]

    async def _run_pump(self) -> None:
        assert self.queue is not None
        queue = self.queue
        try:
            while True:
                if not self.conn.proxy.chain(self.stream) and queue.empty():
                    return  # back to the direct path
                chain = self.active_chain()
                timeouts = [t for t in (toxic.idle_timeout() for toxic, _ in chain) if t is not None]
                try:
                    if timeouts:
                        item = await asyncio.wait_for(queue.get(), min(timeouts))
                    else:
                        item = await queue.get()
                except TimeoutError:
                    raise CloseLink() from None
                if item is _WAKE:
                    continue
                chain = self.active_chain()
                if item is _EOF:
                    for toxic, state in chain:
                        await toxic.on_eof(state)
                    self.pump = None
                    self._finish()
                    return
                self.queued -= len(item.data)
                if self.queued <= _QUEUE_HIGH < self.queued + len(item.data):
                    self.source_resume()
                await self._through(item, chain, 0)
        except CloseLink as close:
            self.conn.close(reset=close.reset)
        except (ConnectionError, OSError):
            self.conn.close(reset=False)
        finally:
            if self.pump is asyncio.current_task():
                self.pump = None
                self.queue = None
                if not queue.empty():  # data arrived after the chain emptied: keep order
                    self.queue = queue
                    self.pump = asyncio.get_running_loop().create_task(self._run_pump())

    async def _through(self, chunk: Chunk, chain: list[tuple[Toxic, Any]], index: int) -> None:
        if index == len(chain):
            dst = self.dst
            if dst is None or dst.transport is None or dst.transport.is_closing():
                raise CloseLink()
            dst.transport.write(chunk.data)
            if dst.paused_writing:
                await dst.writable.wait()
            return
        toxic, state = chain[index]
        async for out in toxic.pipe(chunk, state):
            await self._through(out, chain, index + 1)


class Connection:
    """A client connection and its upstream: two links, ``upstream`` (client to upstream), ``downstream``."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.client: _Side | None = None
        self.upstream: _Side | None = None
        self.up = Link(self, "upstream")
        self.down = Link(self, "downstream")
        self.closed = False
        self.connecting: asyncio.Task[None] | None = None

    def reader_link(self, side: _Side) -> Link:
        return self.up if side.is_client else self.down

    def writer_link(self, side: _Side) -> Link:
        return self.down if side.is_client else self.up

    def links(self) -> tuple[Link, Link]:
        return self.up, self.down

    def client_made(self, side: _Side) -> None:
        self.client = side
        self.up.src = side
        self.down.dst = side
        self.proxy.connections.add(self)
        self.connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = split_host_port(self.proxy.upstream)
            _, side = await loop.create_connection(lambda: _Side(self, False), host, port)
        except (OSError, ValueError):
            self.close(reset=False)
            return
        if self.closed:
            if side.transport is not None:
                side.transport.close()
            return
        self.upstream = side
        self.up.dst = side
        self.down.src = side
        self.up.connected()
        self.down.connected()
        client = self.client.transport if self.client is not None else None
        if client is not None and self.up.paused == 0 and not client.is_closing():
            client.resume_reading()

    def link_done(self) -> None:
        if self.up.done and self.down.done:
            self.close(reset=False)

    def side_lost(self, side: _Side) -> None:
        # A socket went away (peer closed both ways or errored): the connection is over.
        self.close(reset=False)

    def close(self, reset: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy.connections.discard(self)
        if self.connecting is not None and not self.connecting.done():
            self.connecting.cancel()
        for link in self.links():
            if link.pump is not None and link.pump is not asyncio.current_task():
                link.pump.cancel()
        for side in (self.client, self.upstream):
            transport = side.transport if side is not None else None
            if transport is None:
                continue
            if reset:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            else:
                transport.close()  # flushes what is buffered, then closes


class Proxy:
    """A named listener forwarding to ``upstream``, with its toxics."""

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: list[Toxic] = []
        self.server: asyncio.Server | None = None
        self.connections: set[Connection] = set()
        self._chains: dict[str, list[Toxic]] = {"upstream": [], "downstream": []}

    # -- toxics -----------------------------------------------------------------------------------

    def chain(self, stream: str) -> list[Toxic]:
        return self._chains[stream]

    def _rebuild(self) -> None:
        # Toxiproxy lists a proxy's toxics upstream chain first, then downstream, each in order added.
        for stream in self._chains:
            self._chains[stream] = [t for t in self.toxics if t.stream.lower() == stream]
        self.toxics = self._chains["upstream"] + self._chains["downstream"]

    def find_toxic(self, name: str) -> Toxic | None:
        return next((t for t in self.toxics if t.name == name), None)

    def add_toxic(self, toxic: Toxic) -> None:
        self.toxics.append(toxic)
        self._rebuild()
        self._wake(toxic.stream.lower())

    def update_toxic(self, toxic: Toxic) -> None:
        toxic.generation += 1
        self._wake(toxic.stream.lower())

    def remove_toxic(self, toxic: Toxic) -> None:
        self.toxics.remove(toxic)
        self._rebuild()
        stream = toxic.stream.lower()
        for conn in list(self.connections):
            for link in conn.links():
                if link.stream == stream and link.is_affected_by(toxic) and toxic.close_on_remove:
                    conn.close(reset=False)
                link.states.pop(toxic.name, None)
        self._wake(stream)

    def reset_toxics(self) -> None:
        for toxic in list(self.toxics):
            self.remove_toxic(toxic)

    def _wake(self, stream: str) -> None:
        for conn in list(self.connections):
            for link in conn.links():
                if link.stream == stream:
                    link.wake()

    # -- listening --------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host`` (an IP address) and ``port`` (no-op when enabled); ``listen`` becomes the
        address bound. Raises OSError when the address cannot be bound."""
        if self.enabled:
            return
        loop = asyncio.get_running_loop()
        conns_proxy = self

        def factory() -> _Side:
            return _Side(Connection(conns_proxy), True)

        self.server = await loop.create_server(factory, host, port, backlog=1024)
        bound = self.server.sockets[0].getsockname()
        self.listen = join_host_port(bound[0], bound[1])
        self.enabled = True

    def stop(self) -> None:
        """Stop listening and close every connection (a proxy disabled is down)."""
        if not self.enabled:
            return
        self.enabled = False
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.connections):
            conn.close(reset=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics],
        }
