"""A deterministic, scripted model server speaking four provider APIs, JSON and streamed (SSE).

Routed by path: OpenAI chat completions (``/v1/chat/completions``), OpenAI Responses (``/v1/responses``),
Anthropic Messages (``/v1/messages``, SSE events ``message_start`` ... ``message_stop``) and Gemini
(``/v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``). Each API's dialect
(how a request reads, how a reply renders) and its errors are in its provider module
(:mod:`durable_chaos.providers`).

Used offline to record VCR cassettes and to serve live HTTP in tests. Replies are chosen statelessly from
the request alone (conversation by ``match`` substring of the system prompt: chat ``system`` message,
Responses ``instructions``, Anthropic ``system``, Gemini ``systemInstruction``; turn by the number of
assistant turns already in the request), so a retried identical request always gets the identical reply.
Ids are deterministic (``call_<turn>_<i>``, ``toolu_<turn>_<i>``, ``msg_<conversation>_<turn>``, ...).

Example script (YAML)::

    conversations:
      - match: "You are a weather bot"
        turns:
          - tool_calls: [{name: get_weather, arguments: {city: Paris}}]
          - text: "It is sunny in Paris."
            usage: {prompt_tokens: 50, completion_tokens: 7, cached_tokens: 20, reasoning_tokens: 2}
      - match: ""          # fallback: matches every request
        turns:
          - text: "Hello!"

Run standalone: ``python -m durable_chaos.infra.model_server SCRIPT.yaml [--port N]``.

Modules: :mod:`.script` (the script, read and validated), :mod:`.dialects` (which API answers, and the
answer), :mod:`.server` (HTTP), :mod:`.cli` (the command line).
"""

from __future__ import annotations

from durable_chaos.infra.model_server.script import (
    Conversation,
    Reply,
    Script,
    ScriptError,
    ToolCall,
    Usage,
)
from durable_chaos.infra.model_server.server import ScriptedServer

__all__ = ["Conversation", "Reply", "Script", "ScriptError", "ScriptedServer", "ToolCall", "Usage"]
