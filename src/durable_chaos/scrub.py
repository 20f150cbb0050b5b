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

import functools
import json
import os
import re
import string
from collections.abc import Iterable, Iterator, Mapping
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
    authoriz | authenticat | passw | passphrase | secret | cookie | credential | private[-_]?key
    | api[-_]?key | subscription[-_]?key
    | (?:^|[-_.])auth(?:$|[-_.]?token|[-_.]?key$)
    | (?:^|[-_.])(?:token|signature)$ | [-_.]key$
    | (?:access|license|licence|subscription|user|master|virtual|functions?|client|account|service
       |admin|signing|encryption|consumer|developer|app|auth|host|ingest|sdk|secret)key$
    | (?:access|refresh|id|auth|bearer|session|api|csrf|xsrf)token$
    | ^(?:pwd|pw|pass|passwd|session|sessionid|bearer|sas)$ | ^openai[-_](?:organization|project)$
    """,
    re.IGNORECASE | re.VERBOSE,
)
_QUERY_ONLY = frozenset({"key", "sig", "code"})
"""Names that are credentials as URL query parameters (``?key=``, signed URLs' ``sig``) but too
common as JSON fields (a cache ``key``) to scrub everywhere."""
_NOT_SECRET = frozenset(
    {
        "cache_key",
        "prompt_cache_key",
        "idempotency_key",
        "dedup_key",
        "deduplication_key",
        "sort_key",
        "partition_key",
        "primary_key",
        "foreign_key",
        "routing_key",
        "group_key",
        "lookup_key",
        "object_key",
        "hash_key",
        "range_key",
        "row_key",
        "state_key",
        "storage_key",
        "unique_key",
        "public_key",
        "message_key",
    }
)
"""Names ending in ``key`` that name a value, not a credential (``prompt_cache_key`` is an OpenAI
request field; a tool's ``sort_key`` argument must replay as recorded)."""
_MAYBE_WORDS = r"auth|pass|secret|cookie|credential|key|token|signature|pw|session|bearer|sas|openai"
"""Words one of which is in every credential name of the patterns above (a cheap first test)."""
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_added: set[str] = set()


def add_names(names: Iterable[str]) -> None:
    """Also scrub these header, parameter and field names (exact, case-insensitive)."""
    _added.update(name.strip().lower() for name in names if name.strip())


def extra_names() -> frozenset[str]:
    """The user's extra names: :func:`add_names` plus the ``DURABLE_CHAOS_SCRUB`` comma list."""
    return _extra_names(os.environ.get(ENV_VAR, ""), frozenset(_added))


@functools.lru_cache(maxsize=16)
def _extra_names(from_env: str, added: frozenset[str]) -> frozenset[str]:
    return added | {n.strip().lower() for n in from_env.split(",") if n.strip()}


def is_secret_name(name: object, *, query: bool = False) -> bool:
    """Whether a header, JSON key (or, with ``query``, URL query parameter) of this name holds a
    credential."""
    if not isinstance(name, str) or not name or len(name) > 200:  # longer is not a name
        return False
    return _is_secret_name(name, query, extra_names())


_MAYBE_SECRET = re.compile(_MAYBE_WORDS, re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _is_secret_name(name: str, query: bool, extras: frozenset[str]) -> bool:
    lower = name.lower()
    if lower in extras or (query and lower in _QUERY_ONLY):
        return True
    if not _MAYBE_SECRET.search(name):  # cheap: most names in a text are not credentials
        return False
    snake = _CAMEL.sub("_", name)  # apiKey -> api_Key, accessToken -> access_Token
    if re.sub(r"[-.]", "_", snake.lower()) in _NOT_SECRET:
        return False
    return bool(_SECRET_NAME.search(name) or _SECRET_NAME.search(snake))


# ------------------------------------------------------------------------------------------ headers


def scrub_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with the value of every credential header replaced by ``***`` (lists stay lists): by
    name, or by value whatever the name (``X-Gateway: Bearer ...``); other values are scrubbed as text."""
    out: dict[str, Any] = {}
    for name, value in headers.items():
        values = value if isinstance(value, list) else [value]
        if is_secret_name(name) or any(is_credential_value(v) for v in values):
            out[name] = [REDACTED] * len(value) if isinstance(value, list) and value else REDACTED
        elif isinstance(value, str):
            out[name] = scrub_text(value)
        elif isinstance(value, list):
            out[name] = [scrub_text(v) if isinstance(v, str) else v for v in value]
        else:
            out[name] = value
    return out


_AUTH_SCHEME = re.compile(
    r"[ \t]*+(?:bearer|basic|token|digest|apikey|key|sharedkey|sharedaccesssignature|sas|sso-key|ssws"
    r"|negotiate|ntlm|hmac|aws4-hmac-sha256|goog4-hmac-sha256)[ \t]++\S",
    re.IGNORECASE,
)


def is_credential_value(value: object) -> bool:
    """Whether a header value is a credential by its shape, whatever the header's name: an
    authorization scheme and its token (``Bearer ...``, ``Basic ...``) or a well-known key shape."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or not value:
        return False
    return bool(_AUTH_SCHEME.match(value) or _KEY_SHAPES.search(value))


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


_QUERY_PAIR = re.compile(r"(^|[?&;])([^=&;#?\s]++)=([^&;#\s]*+)")


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

# Every pattern below starts only at the beginning of a token (a lookbehind) and scans with
# possessive quantifiers, so no position is scanned twice: scrubbing is linear in the text's length.
_URL = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*+://[^\s'\"<>`]++")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.-]*+")
_SEP = re.compile(r"[ \t]*+[:=][ \t]*+")
_NAME_LIMIT = 200
"""Longer runs of name characters are not names (and are not scanned backwards further)."""


@functools.lru_cache(maxsize=16)
def _secret_words(extras: frozenset[str]) -> re.Pattern[str]:
    """Words one of which is in every credential name (lower case), found in one fast scan."""
    return re.compile(
        "|".join([_MAYBE_WORDS, *(re.escape(e) for e in sorted(extras, key=len, reverse=True))])
    )


_NAME_CHAR = frozenset(string.ascii_letters + string.digits + "_.-")


def _pair_heads(text: str, extras: frozenset[str]) -> Iterator[tuple[int, str, str, int]]:
    """``(start, quote, name, value start)`` of every ``name: value`` / ``name=value`` /
    ``"name": value`` whose name is a credential, left to right. The text is scanned once for the
    words credential names contain; each run of name characters is then read once."""
    lowered = text.translate(_ASCII_LOWER)  # same length, unlike str.lower()
    done = 0  # the end of the last run of name characters read
    for hit in _secret_words(extras).finditer(lowered):
        if hit.start() < done:
            continue
        start = hit.start()
        floor = max(done, hit.start() - _NAME_LIMIT)
        while start > floor and text[start - 1] in _NAME_CHAR:
            start -= 1
        end = _NAME_CHARS.match(text, hit.start()).end()  # type: ignore[union-attr]
        done = end
        if start > 0 and (text[start - 1] in _NAME_CHAR or text[start - 1].isalnum()):
            continue  # the run is longer than a name
        name = text[start:end]
        if not name or not (name[0].isalpha() or name[0] == "_") or len(name) > _NAME_LIMIT:
            continue
        quote = ""
        if start > 0 and text[start - 1] in "\"'":
            quote = text[start - 1]
            if start > 1 and text[start - 2] == "\\":
                quote = "\\" + quote
            if text.startswith(quote, end):
                end += len(quote)
            else:
                quote = ""
        sep = _SEP.match(text, end)
        if sep is None or not _is_secret_name_in(name, extras):
            continue
        yield start - len(quote), quote, name, sep.end()


def _is_secret_name_in(name: str, extras: frozenset[str]) -> bool:
    return _is_secret_name(name, False, extras)


_BARE = re.compile(r"""(?:(?:Bearer|Basic|Token|Digest)[ \t]++)?[^\s,;'"}\])&\\]++""", re.IGNORECASE)
_KEY_SHAPES = re.compile(
    r"""(?<![A-Za-z0-9_-])(?:
        sk-[A-Za-z0-9_-]{16,}+                      # OpenAI, Anthropic (sk-ant-), OpenRouter...
      | [sr]k_(?:live|test)_[A-Za-z0-9]{16,}+       # Stripe
      | AIza[0-9A-Za-z_-]{30,}+                     # Google
      | gh[pousr]_[A-Za-z0-9]{30,}+                 # GitHub
      | github_pat_[A-Za-z0-9_]{30,}+
      | glpat-[A-Za-z0-9_-]{20,}+                   # GitLab
      | xox[abposr]-[A-Za-z0-9-]{10,}+              # Slack
      | xapp-[A-Za-z0-9-]{10,}+
      | (?:AKIA|ASIA)[0-9A-Z]{16}                   # AWS access key id
      | (?:hf|gsk|r8|npm)_[A-Za-z0-9]{30,}+         # Hugging Face, Groq, Replicate, npm
      | (?:xai|pplx)-[A-Za-z0-9]{30,}+              # xAI, Perplexity
      | eyJ[A-Za-z0-9_-]{8,}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]*+   # JWT
    )
    | (?<![A-Za-z0-9])(?P<scheme>[Bb]earer|Basic)[ \t]++(?!\*\*\*)
      (?=[A-Za-z]*+[0-9._~+/=-])[A-Za-z0-9._~+/-]{8,}+=*+   # a token (a digit or symbol), not a word
    """,
    re.VERBOSE,
)


def scrub_text(text: str) -> str:
    """Free text with credentials replaced by ``***``: URL userinfo passwords and credential query
    parameters, ``name: value`` pairs with a credential name, ``Bearer``/``Basic`` tokens and
    well-known key shapes. Linear in the text's length (a megabyte takes well under a second)."""
    if not isinstance(text, str) or not text:
        return text
    return _scrub_text(text, extra_names())


@functools.lru_cache(maxsize=32)
def _scrub_text(text: str, extras: frozenset[str]) -> str:
    """:func:`scrub_text`, remembered: a trial's reason is in several places of several reports."""
    try:
        text = _URL.sub(lambda m: scrub_url(m.group(0)), text)
        text = _scrub_pairs(text)
        return _KEY_SHAPES.sub(_scrub_shape, text)
    except Exception:  # noqa: BLE001 - a scrubber never breaks the report it cleans, nor leaks
        return f"{REDACTED} (text withheld: it could not be scrubbed)"


def _scrub_shape(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    return f"{scheme} {REDACTED}" if scheme else REDACTED


class _Finder:
    """``text.find(delimiter, start)`` for starts that only grow, each part of the text searched once
    (a closing quote that is missing is not searched for again at every later opening quote)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cache: dict[str, tuple[int, int]] = {}

    def closing(self, delimiter: str, start: int) -> int:
        while True:
            searched_from, found = self.cache.get(delimiter, (-1, -1))
            if not (searched_from != -1 and searched_from <= start and (found == -1 or found >= start)):
                found = self.text.find(delimiter, start)
                self.cache[delimiter] = (start, found)
            if found == -1 or len(delimiter) > 1 or not _escaped(self.text, found, start):
                return found
            start = found + 1


def _escaped(text: str, index: int, start: int) -> bool:
    """Whether the character at ``index`` follows an odd number of backslashes (after ``start``)."""
    count = 0
    while index - count - 1 >= start and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _scrub_pairs(text: str) -> str:
    """``name: value`` / ``name=value`` / ``"name": "value"`` pairs with a credential name, their
    value replaced; one pass from left to right."""
    out: list[str] = []
    finder = _Finder(text)
    pos = 0  # text before pos is in out
    for _start, q, _name, start in _pair_heads(text, extra_names()):
        if start < pos:
            continue  # inside a value already replaced
        opening = text[start : start + 2] if text.startswith("\\", start) else text[start : start + 1]
        quoted = opening in ('"', "'", '\\"', "\\'")
        if quoted:
            end = finder.closing(opening, start + len(opening))
            if end != -1:
                if not _keep(text[start + len(opening) : end]):
                    out.append(text[pos:start] + opening + REDACTED + opening)
                    pos = end + len(opening)
                continue
            start += len(opening)  # an unclosed quote (a truncated message): the value runs bare
        bare = _BARE.match(text, start)
        if bare is None or _keep(bare.group(0)):
            continue
        quote = "" if quoted else q.lstrip("\\")  # a bare JSON number after a quoted name gets quotes
        out.append(text[pos:start] + quote + REDACTED + quote)
        pos = bare.end()
    out.append(text[pos:])
    return "".join(out)


def _keep(value: str) -> bool:
    return not value or value == REDACTED or value.lower() in ("null", "none", "true", "false")


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


# ------------------------------------------------------------------------------- terminal and Markdown

_ESCAPE_SEQUENCE = re.compile(
    "\x1b\\[[0-?]*+[ -/]*+[@-~]"  # CSI: colour, erase line, cursor moves
    "|\x1b\\][^\x07\x1b]*+(?:\x07|\x1b\\\\)?"  # OSC: window title, hyperlinks, clipboard
    "|\x1b[PX^_][^\x1b]*+(?:\x1b\\\\)?"  # DCS, SOS, PM, APC strings
    "|\x1b[ -/]*+[0-~]?"  # any other escape
    "|\x9b[0-?]*+[ -/]*+[@-~]"  # the 8-bit CSI
)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    """Text that cannot drive a terminal: escape sequences (colour, window title, erase line, cursor
    moves) removed, and every other control character (carriage return, backspace, bidirectional
    overrides) shown as ``\\xNN``. Tabs and newlines stay. Linear."""
    if not isinstance(text, str) or not text:
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    return _CONTROL.sub(_visible, text)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: str) -> str:
    """A line for the terminal (or JUnit XML): scrubbed of credentials and of control sequences."""
    return strip_controls(scrub_text(str(text)))
