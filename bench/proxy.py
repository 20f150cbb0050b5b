"""Toxiproxy overhead: the same HTTP traffic straight to a server and through a proxy with no toxic.

Usage (from the repo root)::

    python bench/proxy.py [--rounds N] [--json]

Three processes: an upstream HTTP/1.1 server (asyncio, keep-alive, fixed responses), the Toxiproxy
(the embedded server as a subprocess, or the real one at ``TOXIPROXY_URL``) with one proxy to the
upstream, and this client (stdlib ``http.client``). Two workloads, each timed direct and proxied in the
same run:

* ``1 MB response``: 20 fetches of a 1,000,000-byte body, each on a fresh connection (connect included);
* ``1,000 small requests``: 1,000 sequential GETs of a 64-byte body on one keep-alive connection.

Each round measures both workloads both ways, in alternating order (direct first, then proxy first)
so machine noise hits both alike; after one warm-up round, N rounds (default 7). Reported per workload:
the median direct and proxied time and the median of the per-round ratios proxy/direct (target
<= 1.3x). With the embedded server, also the proxy process's own CPU time per MB and per request
(from /proc), a figure that machine load disturbs much less than wall-clock ratios: on a shared
machine, a proxy is one more process to schedule on every hop.

A third path puts the figure in context: a *floor relay*, the cheapest user-space TCP relay there is
(``os.splice`` through a pipe, zero copies in user space, no Python per byte), timed in the same rounds.
Its ratio to direct is what one more loopback hop and one more process cost on this machine whatever
the proxy; ``proxy / floor`` is what the embedded server adds on top. A benchmark: it prints numbers and
exits 0 whatever they are.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from durable_chaos.infra.toxiproxy.client import ToxiproxyClient  # noqa: E402
from durable_chaos.infra.toxiproxy.embedded import ToxiproxyProcess  # noqa: E402

TARGET = 1.3
BIG = 1_000_000
SMALL = 64
BIG_FETCHES = 20
SMALL_REQUESTS = 1000


# -- upstream ----------------------------------------------------------------------------------------


def _response(size: int) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
    return head.encode() + b"x" * size


async def _serve_upstream() -> None:
    answers = {b"/big": _response(BIG), b"/small": _response(SMALL)}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                writer.write(answers.get(path, answers[b"/small"]))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


# -- floor relay: a zero-copy splice relay, the cheapest possible proxy --------------------------------


def _serve_floor_relay(upstream_port: int) -> None:
    loop = asyncio.new_event_loop()
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    listener.setblocking(False)

    def relay(src: socket.socket, dst: socket.socket, closing: Callable[[], None]) -> Callable[[], None]:
        pipe_r, pipe_w = os.pipe()

        def readable() -> None:
            try:
                while True:
                    n = os.splice(
                        src.fileno(), pipe_w, 1 << 20, flags=os.SPLICE_F_NONBLOCK | os.SPLICE_F_MOVE
                    )
                    if n == 0:
                        closing()
                        return
                    while n:  # wait for the destination rather than buffer: the simplest correct relay
                        try:
                            n -= os.splice(pipe_r, dst.fileno(), n, flags=os.SPLICE_F_MOVE)
                        except BlockingIOError:
                            select.select([], [dst], [])
            except BlockingIOError:
                return
            except OSError:
                closing()

        return readable

    def accept() -> None:
        client, _ = listener.accept()
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
        pair = (client, upstream)

        def closing() -> None:
            for sock in pair:
                if sock.fileno() >= 0:
                    loop.remove_reader(sock.fileno())
                    sock.close()

        for src, dst in ((client, upstream), (upstream, client)):
            src.setblocking(False)
            src.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            loop.add_reader(src.fileno(), relay(src, dst, closing))

    loop.add_reader(listener.fileno(), accept)
    print(listener.getsockname()[1], flush=True)
    loop.run_forever()


# -- client ------------------------------------------------------------------------------------------


def _big(port: int) -> None:
    for _ in range(BIG_FETCHES):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/big")
        body = conn.getresponse().read()
        assert len(body) == BIG
        conn.close()


def _small(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(SMALL_REQUESTS):
        conn.request("GET", "/small")
        assert len(conn.getresponse().read()) == SMALL
    conn.close()


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:  # nanoseconds on CPU, summed over the process's threads (the server runs one)
        total = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except OSError:
        return 0.0
    return total / 1e9


def _timed(fn: Callable[[int], None], port: int) -> float:
    start = time.perf_counter()
    fn(port)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--upstream-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor-relay", type=int, metavar="UPSTREAM_PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream_server:
        asyncio.run(_serve_upstream())
        return 0
    if args.floor_relay:
        _serve_floor_relay(args.floor_relay)
        return 0

    upstream = subprocess.Popen(
        [sys.executable, __file__, "--upstream-server"], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert upstream.stdout is not None
        upstream_port = int(upstream.stdout.readline())
        floor = subprocess.Popen(
            [sys.executable, __file__, f"--floor-relay={upstream_port}"],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert floor.stdout is not None
        floor_port = int(floor.stdout.readline())
        with ToxiproxyProcess.from_env() as toxiproxy, ToxiproxyClient(toxiproxy.url or "") as client:
            if "bench_proxy" in client.proxies():
                client.delete_proxy("bench_proxy")
            proxy = client.create_proxy("bench_proxy", f"127.0.0.1:{upstream_port}")
            try:
                pid = toxiproxy.process.pid if toxiproxy.process is not None else None
                results = _measure(
                    {"direct": upstream_port, "floor": floor_port, "proxy": proxy.port}, args.rounds, pid
                )
            finally:
                client.delete_proxy("bench_proxy")
            server = f"embedded {toxiproxy.version}" if toxiproxy.embedded else f"real {toxiproxy.version}"
    finally:
        for process in (upstream, locals().get("floor")):
            if isinstance(process, subprocess.Popen):
                process.terminate()
                process.wait(timeout=5)

    if args.json:
        print(json.dumps({"server": server, "rounds": args.rounds, "target": TARGET, "workloads": results}))
        return 0
    print(f"Toxiproxy ({server}) overhead, {args.rounds} interleaved rounds, median; target <= {TARGET}x")
    for name, result in results.items():
        print(
            f"  {name:<22} direct {result['direct_ms']:8.1f} ms   proxy {result['proxy_ms']:8.1f} ms   "
            f"ratio {result['ratio']:.2f}x   floor relay {result['floor_ratio']:.2f}x   "
            f"proxy/floor {result['proxy_over_floor']:.2f}x"
            + "".join(
                f"   proxy CPU {value:.0f} us/{key.rsplit('_', 1)[1]}"
                for key, value in result.items()
                if key.startswith("proxy_cpu")
            )
        )
    print(f"  per-round ratios: { {n: [round(x, 2) for x in r['ratios']] for n, r in results.items()} }")
    return 0


def _measure(ports: dict[str, int], rounds: int, proxy_pid: int | None = None) -> dict[str, dict[str, float]]:
    """Time each workload on each path (``direct``, ``floor``, ``proxy``), rotating the order per round."""
    workloads: dict[str, Callable[[int], None]] = {"1 MB response": _big, "1,000 small requests": _small}
    units = {"1 MB response": ("MB", BIG_FETCHES), "1,000 small requests": ("request", SMALL_REQUESTS)}
    samples: dict[str, dict[str, list[float]]] = {w: {p: [] for p in [*ports, "cpu"]} for w in workloads}
    paths = list(ports.items())
    for round_no in range(rounds + 1):  # round 0 warms up
        for name, fn in workloads.items():
            shift = round_no % len(paths)
            for label, port in paths[shift:] + paths[:shift]:
                cpu = _cpu_seconds(proxy_pid)
                seconds = _timed(fn, port)
                if round_no:
                    samples[name][label].append(seconds)
                    if label == "proxy":
                        samples[name]["cpu"].append(_cpu_seconds(proxy_pid) - cpu)
    results = {}
    for name, sample in samples.items():
        ratios = [p / d for p, d in zip(sample["proxy"], sample["direct"], strict=True)]
        floor = [f / d for f, d in zip(sample["floor"], sample["direct"], strict=True)]
        over_floor = [p / f for p, f in zip(sample["proxy"], sample["floor"], strict=True)]
        results[name] = {
            "direct_ms": statistics.median(sample["direct"]) * 1000,
            "proxy_ms": statistics.median(sample["proxy"]) * 1000,
            "floor_ms": statistics.median(sample["floor"]) * 1000,
            "ratio": statistics.median(ratios),
            "floor_ratio": statistics.median(floor),
            "proxy_over_floor": statistics.median(over_floor),
            "ratios": ratios,  # type: ignore[dict-item]
        }
        if proxy_pid is not None:
            unit, count = units[name]
            results[name]["proxy_cpu_us_per_" + unit] = statistics.median(sample["cpu"]) / count * 1e6
    return results


if __name__ == "__main__":
    sys.exit(main())
