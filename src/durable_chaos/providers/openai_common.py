"""What OpenAI's two APIs (chat completions and Responses) share: error bodies, error headers, and the
``usage`` objects of both (told apart by their fields, so a gateway's mislabelled path still reads)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from durable_chaos.providers.base import ErrorShape

ERRORS = {
    400: ("invalid_request_error", "invalid_request_error", "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", "server_error", "The server had an error while processing your request."),
    502: ("server_error", "server_error", "Bad gateway."),
    503: (
        "service_unavailable",
        "service_unavailable",
        "The engine is currently overloaded, please try again later.",
    ),
    529: ("overloaded_error", "overloaded_error", "Overloaded."),
}
"""Per status: the error's ``type``, ``code`` and default message."""


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """OpenAI's JSON error body for ``status``."""
    type_, code, default = ERRORS.get(status, ("api_error", "api_error", "Injected HTTP error."))
    return {"error": {"message": message or default, "type": type_, "param": None, "code": code}}


def stream_error_body(error_type: str, message: str | None = None) -> dict[str, Any]:
    """The ``error`` object of an in-stream failure of type ``error_type``: its default message is the
    one of the status whose type it is (``server_error``: "The server had an error ...")."""
    default = next((text for type_, _, text in ERRORS.values() if type_ == error_type), "")
    return {"message": message or default or "The server had an error while processing your request."}


def error_shape(status: int, message: str | None = None, retry_after: float | None = None) -> ErrorShape:
    """OpenAI's error response: ``retry-after`` in seconds and ``retry-after-ms``."""
    headers = {"content-type": "application/json", "x-request-id": "req_durable_chaos"}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
        headers["retry-after-ms"] = str(int(retry_after * 1000))
    return ErrorShape(error_body(status, message), headers)


def raw_usages(document: Any, *, responses: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(flavour, usage)`` of one body or stream event; ``responses``: look inside ``response`` too
    (``response.completed`` / ``response.incomplete`` events)."""
    if not isinstance(document, dict):
        return
    if responses and isinstance(document.get("response"), dict):
        document = document["response"]
    usage = document.get("usage")
    if isinstance(usage, dict):
        yield ("openai-chat" if "prompt_tokens" in usage else "openai-responses"), usage
