"""How much the durable-chaos pytest plugin adds to ``import pytest``.

pytest imports every installed plugin (``pytest11`` entry points) in every session, ``--chaos`` or
not, so the plugin module must stay light. Prints the median import time of ``import pytest`` alone and
with the plugin (each in a fresh interpreter, interleaved), their difference and ratio.

    python bench/plugin_import.py [rounds]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

ALONE = "import pytest"
WITH_PLUGIN = "import pytest, durable_chaos.pytest_plugin.plugin"
HEAVY = ("pydantic_ai", "vcr", "httpx2", "prefect", "dbos", "temporalio")


def timed(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    timed(ALONE), timed(WITH_PLUGIN)  # warm the file cache
    alone, plugin = [], []
    for _ in range(rounds):
        alone.append(timed(ALONE))
        plugin.append(timed(WITH_PLUGIN))
    check = (
        "import sys, pytest, durable_chaos.pytest_plugin.plugin; print([m for m in %r if m in sys.modules])"
    )
    heavy = subprocess.run([sys.executable, "-c", check % (HEAVY,)], capture_output=True, text=True).stdout
    a, p = statistics.median(alone), statistics.median(plugin)
    print(f"import pytest alone:        {a * 1000:7.1f} ms (median of {rounds})")
    print(f"import pytest + plugin:     {p * 1000:7.1f} ms")
    print(f"the plugin adds:            {(p - a) * 1000:7.1f} ms (ratio {p / a:.2f}x; target: <= 100 ms)")
    print(f"heavy modules imported by the plugin: {heavy.strip()}")


if __name__ == "__main__":
    main()
