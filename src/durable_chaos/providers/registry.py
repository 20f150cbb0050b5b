"""The provider APIs the harness knows, looked up by name or by request path (and host).

========================  ==========================================  =====================
API                       path                                        genai-prices provider
========================  ==========================================  =====================
``openai-chat``           ``.../chat/completions``                    ``openai``
``openai-responses``      ``.../responses``                           ``openai``
``anthropic``             ``.../v1/messages``                         ``anthropic``
``gemini``                ``.../models/{model}:generateContent``,     ``google``
                          ``...:streamGenerateContent`` (``?alt=sse``)
========================  ==========================================  =====================
"""

from __future__ import annotations

from durable_chaos.providers import anthropic_messages, gemini, openai_chat, openai_responses
from durable_chaos.providers.base import API, Provider

PROVIDERS: dict[str, Provider] = {
    provider.api: provider
    for provider in (
        openai_chat.PROVIDER,
        openai_responses.PROVIDER,
        anthropic_messages.PROVIDER,
        gemini.PROVIDER,
    )
}
"""Every provider API by name, in the order requests are matched against them."""

DEFAULT: API = "openai-chat"
"""The API whose shapes are used when a request's API is unknown (OpenAI's is the common dialect)."""


def provider(api: API | None) -> Provider:
    """The provider of an API name; OpenAI chat's when ``api`` is None (or unknown)."""
    return PROVIDERS.get(api or DEFAULT) or PROVIDERS[DEFAULT]


def detect(path: str, host: str = "") -> API | None:
    """The provider API a request is for, from its URL path (and host), or None when it is not a model call.

    The OpenAI paths are matched on their suffix so that OpenAI-compatible gateways (Azure, OpenRouter,
    a scripted server under ``/v1``) count too; Anthropic's ``/v1/messages`` likewise (``/messages``
    alone is too generic, so a host naming Anthropic is needed for it).
    """
    path = path.rstrip("/")
    for found in PROVIDERS.values():
        if found.detects(path, host):
            return found.api
    return None


def served(path: str) -> API | None:
    """The provider API the scripted model server answers at ``path`` (exact paths only, so a wrong base
    URL is a 404)."""
    for found in PROVIDERS.values():
        if found.serves(path):
            return found.api
    return None
