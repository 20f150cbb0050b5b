"""``python -m durable_chaos``: the same as the ``durable-chaos`` command."""

from durable_chaos.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
