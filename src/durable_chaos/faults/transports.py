"""The HTTP clients that carry model traffic, and which requests are model traffic.

Provider SDKs send through ``httpx2`` (openai 3.x, anthropic and google-genai as pydantic-ai 2.68 builds
them) or through ``httpx`` (pydantic-ai 2.5 to 2.22 build an ``httpx.AsyncClient`` and hand it to the
SDK; users pass their own). Both libraries have the same transport API, so the fault layer and the
cassette are installed on ``AsyncHTTPTransport`` of each installed one, and the code that handles a
request takes the request's own module (:func:`module_of`).

Engine traffic travels on the same clients (the Prefect API is on ``httpx``; an engine's HTTP
ingress may be too), so only **model requests** are touched: requests to a provider API endpoint,
wherever the base URL points (:func:`durable_chaos.providers.detect`). Everything else passes
through untouched and is never recorded, faulted or counted. Synchronous transports are not
intercepted (pydantic-ai's models are async); a model request sent through one (a plain flow's task
using ``httpx.Client`` or ``openai.OpenAI``) is refused with a message saying so
(:func:`on_every_sync_transport`), rather than sent past the cassette.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any

from durable_chaos import providers
from durable_chaos.patching import patched

CLIENT_MODULES = ("httpx2", "httpx")
"""HTTP client libraries whose ``AsyncHTTPTransport`` carries model traffic, newest first."""


def client_modules() -> list[ModuleType]:
    """The installed client libraries among :data:`CLIENT_MODULES`."""
    found = []
    for name in CLIENT_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue
    return found


def module_of(request: Any) -> ModuleType:
    """The client library a request object belongs to (``httpx`` or ``httpx2``)."""
    return sys.modules[type(request).__module__.partition(".")[0]]


def is_model_request(request: Any) -> bool:
    """Whether a request is model traffic (a provider API endpoint), as opposed to engine traffic."""
    return providers.detect(request.url.path, request.url.host) is not None


@contextmanager
def on_every_transport(make: Callable[[Any, ModuleType], Any]) -> Iterator[None]:
    """Replace ``AsyncHTTPTransport.handle_async_request`` of every installed client library with
    ``make(original, module)`` for the block. The replacement sees every request; it should hand
    non-model requests (:func:`is_model_request`) straight to ``original``."""
    with ExitStack() as stack:
        for module in client_modules():
            cls = module.AsyncHTTPTransport
            stack.enter_context(patched(cls, "handle_async_request", make(cls.handle_async_request, module)))
        yield


@contextmanager
def on_every_sync_transport(make: Callable[[Any, ModuleType], Any]) -> Iterator[None]:
    """Replace ``HTTPTransport.handle_request`` (the synchronous transport) of every installed client
    library with ``make(original, module)`` for the block, as :func:`on_every_transport` does for the
    async one."""
    with ExitStack() as stack:
        for module in client_modules():
            cls = module.HTTPTransport
            stack.enter_context(patched(cls, "handle_request", make(cls.handle_request, module)))
        yield
