"""Which provider dialect answers a request, and the answer: the route picks the API
(:func:`durable_chaos.providers.served`), the script picks the reply, the API's provider module renders
it (:attr:`durable_chaos.providers.Provider.scripted_answer`). Errors are OpenAI-shaped here and put in
the API's own shape by the HTTP layer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from durable_chaos import providers
from durable_chaos.infra.model_server.script import Script, ScriptError
from durable_chaos.providers.scripted import CREATED

MODELS_PATHS = frozenset({"/v1/models", "/models"})


class HTTPError(Exception):
    """An error to send back as an OpenAI-shaped JSON body."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(payload["error"]["message"])
        self.status = status
        self.payload = payload

    def for_api(self, api: providers.API) -> dict[str, Any]:
        """The same error in the shape of another provider's API."""
        return providers.error_body(api, self.status, str(self))


def error_payload(
    message: str, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An error body shaped like OpenAI's."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def models_payload(models: Sequence[str]) -> dict[str, Any]:
    """``GET /v1/models`` body."""
    data = [{"id": m, "object": "model", "created": CREATED, "owned_by": "durable-chaos"} for m in models]
    return {"object": "list", "data": data}


def route(path: str) -> providers.API | None:
    """The provider API served at ``path`` (exact paths only, so a wrong base URL is a 404)."""
    return providers.served(path)


def parse_chat_request(raw: bytes) -> dict[str, Any]:
    """Parse and minimally validate a chat-completions body, raising 400-shaped errors."""
    try:
        request = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        message = f"We could not parse the JSON body of your request. ({exc})"
        raise HTTPError(400, error_payload(message)) from None
    if not isinstance(request, dict):
        raise HTTPError(400, error_payload("The request body must be a JSON object."))
    if not isinstance(request.get("messages"), list):
        raise HTTPError(400, error_payload("'messages' must be a list.", param="messages"))
    return request


def parse_json_request(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object request body, raising 400-shaped errors."""
    try:
        request = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPError(
            400, error_payload(f"We could not parse the JSON body of your request. ({exc})")
        ) from None
    if not isinstance(request, dict):
        raise HTTPError(400, error_payload("The request body must be a JSON object."))
    return request


def parse_request(api: providers.API, raw: bytes) -> dict[str, Any]:
    """A request body of ``api``, parsed (chat completions' ``messages`` checked too)."""
    return parse_chat_request(raw) if api == "openai-chat" else parse_json_request(raw)


def answer(script: Script, api: providers.API, path: str, request: dict[str, Any]) -> tuple[str, bytes]:
    """``(content type, body)`` answering a parsed request to ``api`` at ``path`` from ``script``."""
    dialect = providers.provider(api)
    haystack, turn = dialect.scripted_prompt(request)
    try:
        conversation, turn, reply = script.select_by(haystack, turn)
    except ScriptError as exc:
        raise HTTPError(400, error_payload(str(exc), code="no_scripted_conversation")) from None
    model = providers.model_name(api, path, request) or "scripted"
    stream = providers.is_streaming(api, path, request)
    return dialect.scripted_answer(model, conversation, turn, reply, request, stream)
