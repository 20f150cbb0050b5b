"""``python -m durable_chaos.infra.model_server SCRIPT.yaml [--port N] [--host H]``: serve a script until
interrupted, printing the base URL first."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from durable_chaos.infra.model_server.script import Script
from durable_chaos.infra.model_server.server import ScriptedServer


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a script file until interrupted; prints the base URL first."""
    parser = argparse.ArgumentParser(
        prog="python -m durable_chaos.infra.model_server",
        description="Serve a scripted OpenAI-compatible chat-completions API.",
    )
    parser.add_argument("script", type=Path, help="script file (.yaml, .yml or .json)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="host to bind (default: 127.0.0.1)")
    args = parser.parse_args(argv)
    server = ScriptedServer(Script.from_file(args.script), host=args.host, port=args.port).start()
    print(server.base_url, flush=True)
    try:
        while server._thread is not None and server._thread.is_alive():
            server._thread.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
