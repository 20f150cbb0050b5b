"""What the harness knows about each model provider's HTTP API, as pure functions: one module per API.

=======================  ===========================================================================
module                   knows
=======================  ===========================================================================
``openai_chat``          OpenAI chat completions (``.../chat/completions``)
``openai_responses``     OpenAI Responses (``.../responses``)
``openai_common``        what both OpenAI APIs share (error bodies and headers, usage flavours)
``anthropic_messages``   Anthropic Messages (``.../v1/messages``)
``gemini``               Google Gemini (``.../models/{model}:generateContent``, ``:streamGenerateContent``)
=======================  ===========================================================================

Each provider module knows its API's request facts (streaming, model name), its error bodies and
headers per status (so the SDK raises its real exception class), its usage fields, how to mangle a
response so that validation fails, and the scripted model server's dialect of it (how a request's system
prompt and turn read, how a scripted reply renders, JSON and streamed); it gathers them in one
:class:`~durable_chaos.providers.base.Provider`. :mod:`~durable_chaos.providers.registry` looks a provider
up by name, request path (and host) or scripted-server route; :mod:`~durable_chaos.providers.traffic`
applies the right one to a request or response.

Nothing here imports an SDK, an engine, pytest, or another layer of durable-chaos (faults and infra
import this package): inputs are paths, hosts, headers and bytes.
"""

from __future__ import annotations

from durable_chaos.providers.base import (
    API,
    MALFORMED_ARGUMENTS,
    MALFORMED_OBJECT,
    ErrorShape,
    Provider,
)
from durable_chaos.providers.registry import PROVIDERS, detect, provider, served
from durable_chaos.providers.sse import event_data, is_event_stream, split_events
from durable_chaos.providers.traffic import (
    error_body,
    error_shape,
    garbage_event,
    is_streaming,
    malformed_body,
    malformed_event,
    model_name,
    price_provider,
    stream_error_event,
    usage_of,
)

__all__ = [
    "API",
    "MALFORMED_ARGUMENTS",
    "MALFORMED_OBJECT",
    "PROVIDERS",
    "ErrorShape",
    "Provider",
    "detect",
    "error_body",
    "error_shape",
    "event_data",
    "garbage_event",
    "is_event_stream",
    "is_streaming",
    "malformed_body",
    "malformed_event",
    "model_name",
    "price_provider",
    "provider",
    "served",
    "split_events",
    "stream_error_event",
    "usage_of",
]
