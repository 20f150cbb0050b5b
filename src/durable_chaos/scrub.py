"""One scrubber for credentials in cassettes, reports, logs and artifacts.

Pure functions, each returning a scrubbed copy and never raising:

- :func:`scrub_headers`: header values whose *name* says credential (``Authorization``,
  ``Proxy-Authorization``, ``*api-key*``, ``*api_key*``, ``X-Auth-Token``, ``*-auth*``, ``*token*``,
  ``*secret*``, ``*password*``, cookies, ``OpenAI-Organization``/``-Project``...);
- :func:`scrub_url`: the password of URL userinfo (``https://user:***@host``; a lone user name,
  often a key, becomes ``***``), and query parameters with a credential name (``key``, ``api-key``,
  ``access_token``, ``sig``...);
- :func:`scrub_json`: values under credential keys (``api_key``, ``apiKey``, ``token``,
  ``password``, ``secret``...) at any depth, including ``extra_body``; string values are scrubbed as
  text too;
- :func:`scrub_text`: free text (reports, logs, tracebacks): URLs as above (database URLs included:
  ``postgresql+psycopg://u:***@h/db``), ``name: value`` / ``name=value`` / ``"name": "value"``
  pairs with a credential name, and well-known key shapes (``sk-...``, ``AIza...``).

Names are matched case-insensitively. ``token`` matches as the last word (``x-auth-token``,
``access_token``) but not ``max_tokens``, ``token_savings`` or ``x-ratelimit-remaining-tokens``,
which are not credentials; ``key`` and ``sig`` only as query parameters. Users add names with
the environment variable ``DURABLE_CHAOS_SCRUB`` (a comma list, e.g. ``x-tenant-id,customer_ref``)
or :func:`add_names`; each extra name matches exactly. (``[tool.durable-chaos] scrub = [...]`` in
pyproject can feed :func:`add_names` once the gate configuration reads it.)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "add_names",
    "extra_names",
    "is_secret_name",
    "scrub_headers",
    "scrub_json",
    "scrub_text",
    "scrub_url",
]

REDACTED = "***"
ENV_VAR = "DURABLE_CHAOS_SCRUB"

_SECRET_NAME = re.compile(
    r"""
    authoriz | authenticat | passw | secret | cookie | credential | private[-_]?key
    | api[-_]?key | (?:^|[-_.])auth(?:$|[-_.]?token) | (?:^|[-_.])token$ | (?:^|[-_.])signature$
    | ^(?:pwd|passwd|session|sessionid|bearer)$ | ^openai[-_](?:organization|project)$
    """,
    re.IGNORECASE | re.VERBOSE,
)
_QUERY_ONLY = frozenset({"key", "sig", "code"})
"""Names that are credentials as URL query parameters (``?key=``, signed URLs' ``sig``) but too
common as JSON fields (a cache ``key``) to scrub everywhere."""
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_added: set[str] = set()


def add_names(names: Iterable[str]) -> None:
    """Also scrub these header, parameter and field names (exact, case-insensitive)."""
    _added.update(name.strip().lower() for name in names if name.strip())


def extra_names() -> frozenset[str]:
    """The user's extra names: :func:`add_names` plus the ``DURABLE_CHAOS_SCRUB`` comma list."""
    from_env = {n.strip().lower() for n in os.environ.get(ENV_VAR, "").split(",") if n.strip()}
    return frozenset(_added | from_env)


def is_secret_name(name: object, *, query: bool = False) -> bool:
    """Whether a header, JSON key (or, with ``query``, URL query parameter) of this name holds a
    credential."""
    if not isinstance(name, str) or not name:
        return False
    if name.lower() in extra_names() or (query and name.lower() in _QUERY_ONLY):
        return True
    snake = _CAMEL.sub("_", name)  # apiKey -> api_Key, accessToken -> access_Token
    return bool(_SECRET_NAME.search(name) or _SECRET_NAME.search(snake))


# ------------------------------------------------------------------------------------------ headers


def scrub_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with the value of every credential header replaced by ``***`` (lists stay lists)."""
    out: dict[str, Any] = {}
    for name, value in headers.items():
        if is_secret_name(name):
            out[name] = [REDACTED] * len(value) if isinstance(value, list) and value else REDACTED
        elif isinstance(value, str):
            out[name] = scrub_text(value)
        elif isinstance(value, list):
            out[name] = [scrub_text(v) if isinstance(v, str) else v for v in value]
        else:
            out[name] = value
    return out


# --------------------------------------------------------------------------------------------- URLs


def scrub_url(url: str) -> str:
    """``url`` without userinfo secrets or credential query parameters; text that is not a URL is
    returned scrubbed as text."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub_text(url)
    if not parts.scheme or not parts.netloc:
        return _scrub_query_string(url) if "=" in url else url
    netloc = _scrub_netloc(parts.netloc)
    query = _scrub_query_string(parts.query) if parts.query else parts.query
    fragment = _scrub_query_string(parts.fragment) if "=" in parts.fragment else parts.fragment
    try:
        return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    except ValueError:
        return scrub_text(url)


def _scrub_netloc(netloc: str) -> str:
    if "@" not in netloc:
        return netloc
    userinfo, _, host = netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if colon:
        return f"{user}:{REDACTED}@{host}"
    return f"{REDACTED}@{host}"  # a lone user name in a URL is usually a key


_QUERY_PAIR = re.compile(r"(^|[?&;])([^=&;#\s]+)=([^&;#\s]*)")


def _scrub_query_string(query: str) -> str:
    def replace(match: re.Match[str]) -> str:
        lead, name, value = match.groups()
        if is_secret_name(_unquote(name), query=True) and value:
            return f"{lead}{name}={REDACTED}"
        return match.group(0)

    return _QUERY_PAIR.sub(replace, query)


def _unquote(name: str) -> str:
    from urllib.parse import unquote_plus

    try:
        return unquote_plus(name)
    except Exception:  # noqa: BLE001 - never raise
        return name


# --------------------------------------------------------------------------------------------- JSON


def scrub_json(value: Any) -> Any:
    """A copy of plain JSON-like data with credential keys' values replaced by ``***`` at any depth
    (``extra_body`` included) and strings scrubbed as text."""
    return _scrub_json(value, 0)


def _scrub_json(value: Any, depth: int) -> Any:
    if depth > 200:
        return value
    if isinstance(value, dict):
        return {
            key: (_redact_value(item) if is_secret_name(key) else _scrub_json(item, depth + 1))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub_json(item, depth + 1) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _redact_value(value: Any) -> Any:
    """What replaces a credential value: ``***``, keeping null and empty values as they are."""
    if value is None or value == "" or isinstance(value, bool):
        return value
    return REDACTED


# --------------------------------------------------------------------------------------------- text

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_PAIR = re.compile(
    r"""(?P<q>["']?)(?P<name>[A-Za-z_][\w.-]*)(?P=q)(?P<sep>\s*[:=]\s*)"""
    r"""(?:(?P<vq>["'])(?P<quoted>(?:\\.|(?!(?P=vq)).)*)(?P=vq)"""
    r"""|(?P<bare>(?:(?:Bearer|Basic|Token|Digest)\s+)?[^\s,;'"}\])&]+))""",
    re.IGNORECASE,
)
_KEY_SHAPES = re.compile(
    r"""\b(?:
        sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}      # OpenAI, Anthropic
      | AIza[0-9A-Za-z_-]{30,}                    # Google
      | gh[pousr]_[A-Za-z0-9]{30,}                # GitHub
      | xox[abposr]-[A-Za-z0-9-]{10,}             # Slack
      | AKIA[0-9A-Z]{16}                          # AWS access key id
    )""",
    re.VERBOSE,
)


def scrub_text(text: str) -> str:
    """Free text with credentials replaced by ``***``: URL userinfo passwords and credential query
    parameters, ``name: value`` pairs with a credential name, and well-known key shapes."""
    if not isinstance(text, str) or not text:
        return text
    try:
        text = _URL.sub(lambda m: scrub_url(m.group(0)), text)
        text = _PAIR.sub(_scrub_pair, text)
        return _KEY_SHAPES.sub(REDACTED, text)
    except Exception:  # noqa: BLE001 - a scrubber never breaks the report it cleans
        return text


def _scrub_pair(match: re.Match[str]) -> str:
    if not is_secret_name(match.group("name")):
        return match.group(0)
    value = match.group("quoted") if match.group("vq") else match.group("bare")
    if not value or value == REDACTED or value.lower() in ("null", "none", "true", "false"):
        return match.group(0)
    q = match.group("q")
    quote = match.group("vq") or q  # a bare value after a quoted name (JSON number) gets quotes
    return f"{q}{match.group('name')}{q}{match.group('sep')}{quote}{REDACTED}{quote}"


def scrub_body(body: bytes | str | None) -> bytes | str | None:
    """A request or response body with credentials removed: JSON by key (formatting is kept when
    nothing changes), anything else as text; bytes that are not UTF-8 are returned as they are."""
    if body is None or body == b"" or body == "":
        return body
    was_bytes = isinstance(body, bytes)
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body
    else:
        text = body
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        scrubbed = scrub_text(text)
    else:
        cleaned = scrub_json(data)
        scrubbed = text if cleaned == data else json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"))
    if scrubbed == text:
        return body
    return scrubbed.encode("utf-8") if was_bytes else scrubbed
