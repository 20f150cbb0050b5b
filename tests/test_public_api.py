"""The public face: a short, explicit ``durable_chaos.__all__``, loaded lazily."""

from __future__ import annotations

import subprocess
import sys

import durable_chaos


def test_every_public_name_resolves() -> None:
    for name in durable_chaos.__all__:
        assert getattr(durable_chaos, name) is not None, name
    assert sorted(dir(durable_chaos)) == sorted(durable_chaos.__all__)
    assert set(durable_chaos.__all__) == {"__version__", *durable_chaos._PUBLIC}


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        durable_chaos.runner  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "'runner'" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_package_imports_nothing_heavy() -> None:
    code = (
        "import sys, durable_chaos; "
        "print(sorted(m for m in ('pydantic', 'pydantic_ai', 'hypothesis', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
