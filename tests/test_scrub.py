"""One scrubber: credentials leave cassettes, reports and logs, wherever they were planted."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import openai
import pytest

from durable_chaos.infra.cassettes import CassetteError, cassette_traffic, load
from durable_chaos.infra.model_server import ScriptedServer
from durable_chaos.scrub import (
    REDACTED,
    for_terminal,
    is_secret_name,
    scrub_headers,
    scrub_json,
    scrub_text,
    scrub_url,
    strip_controls,
)

# --------------------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "Proxy-Authorization",
        "X-Auth-Token",
        "X-Custom-Auth",
        "api_key",
        "api-key",
        "X-Api-Key",
        "apiKey",
        "x-goog-api-key",
        "anthropic-api-key",
        "Cookie",
        "Set-Cookie",
        "OpenAI-Organization",
        "openai-project",
        "access_token",
        "token",
        "client_secret",
        "password",
        "x-amz-security-token",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["key", "sig"])
def test_query_only_names(name: str) -> None:
    assert is_secret_name(name, query=True)
    assert not is_secret_name(name)  # a cache "key" in a report stays


@pytest.mark.parametrize(
    "name",
    ["token_savings", "auth_mode", "total_tokens"],
)
def test_more_names_that_are_not_secrets(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "content-type",
        "max_tokens",
        "prompt_tokens",
        "x-ratelimit-remaining-tokens",
        "author",
        "model",
        "keys",
    ],
)
def test_names_that_are_not_secrets(name: str) -> None:
    assert not is_secret_name(name)


def test_scrub_headers() -> None:
    headers = {
        "Authorization": "Bearer sk-x",
        "X-Custom-Auth": ["a", "b"],
        "Content-Type": "application/json",
    }
    assert scrub_headers(headers) == {
        "Authorization": REDACTED,
        "X-Custom-Auth": [REDACTED, REDACTED],
        "Content-Type": "application/json",
    }
    assert headers["Authorization"] == "Bearer sk-x"  # pure: the input is untouched


def test_scrub_url() -> None:
    assert (
        scrub_url("https://user:s3cret@api.example.com/v1/chat?api-key=A&key=B&access_token=C&model=m#x")
        == "https://user:***@api.example.com/v1/chat?api-key=***&key=***&access_token=***&model=m#x"
    )
    assert scrub_url("https://sk-lonekey@host/path") == "https://***@host/path"
    assert scrub_url("postgresql+psycopg://u:pw@h:5432/db") == "postgresql+psycopg://u:***@h:5432/db"
    assert scrub_url("not a url") == "not a url"


def test_scrub_json_nested_and_extra_body() -> None:
    body = {
        "model": "gpt",
        "max_tokens": 5,
        "extra_body": {"api_key": "A", "nested": [{"apiKey": "B", "token": "C"}], "password": "D"},
        "usage": {"prompt_tokens": 3},
        "note": "connect to postgresql://u:E@h/db",
    }
    assert scrub_json(body) == {
        "model": "gpt",
        "max_tokens": 5,
        "extra_body": {
            "api_key": REDACTED,
            "nested": [{"apiKey": REDACTED, "token": REDACTED}],
            "password": REDACTED,
        },
        "usage": {"prompt_tokens": 3},
        "note": "connect to postgresql://u:***@h/db",
    }


def test_scrub_text() -> None:
    text = (
        "DBOS could not connect to postgresql+psycopg://chaos:hunter2@db:5432/app\n"
        "Authorization: Bearer sk-" + "proj-abcdefghijklmnopqrstuvwx\n"
        'payload {"api_key": "zzz", "max_tokens": 7} token=abc123 '
        "and AIza" + "SyA1234567890abcdefghijklmnopqrstu\n"
    )
    scrubbed = scrub_text(text)
    for secret in (
        "hunter2",
        "sk-" + "proj-abcdefghijklmnopqrstuvwx",
        "zzz",
        "abc123",
        "AIza" + "SyA1234567890",
    ):
        assert secret not in scrubbed
    assert "postgresql+psycopg://chaos:***@db:5432/app" in scrubbed
    assert '"max_tokens": 7' in scrubbed


def test_user_names_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert scrub_headers({"X-Tenant": "acme"}) == {"X-Tenant": "acme"}
    monkeypatch.setenv("DURABLE_CHAOS_SCRUB", "x-tenant, customer_ref")
    assert scrub_headers({"X-Tenant": "acme"}) == {"X-Tenant": REDACTED}
    assert scrub_json({"customer_ref": "c-1"}) == {"customer_ref": REDACTED}
    assert scrub_url("https://h/p?customer_ref=c-1") == "https://h/p?customer_ref=***"


# -------------------------------------------------------------------------- planted secrets, real vcrpy

SECRETS = {
    "proxy": "PLANTED-proxy-authorization-0001",
    "x_auth": "PLANTED-x-auth-token-0002",
    "custom_auth": "PLANTED-x-custom-auth-0003",
    "api_key_header": "PLANTED-api-key-header-0004",
    "query_api_key": "PLANTED-query-api-key-0005",
    "query_key": "PLANTED-query-key-0006",
    "query_access_token": "PLANTED-query-access-token-0007",
    "url_password": "PLANTED-url-password-0008",
    "body": "PLANTED-extra-body-key-0009",
    "bearer": "sk-" + "PLANTED-bearer-000000000010",  # key-shaped only at run time
}
SCRIPT = {"conversations": [{"match": "", "turns": [{"text": "Hello!"}]}]}


async def _chat(base_url: str) -> str:
    async with openai.AsyncOpenAI(
        base_url=base_url,
        api_key=SECRETS["bearer"],
        default_headers={
            "Proxy-Authorization": f"Basic {SECRETS['proxy']}",
            "X-Auth-Token": SECRETS["x_auth"],
            "X-Custom-Auth": SECRETS["custom_auth"],
            "api_key": SECRETS["api_key_header"],
        },
        default_query={
            "api-key": SECRETS["query_api_key"],
            "key": SECRETS["query_key"],
            "access_token": SECRETS["query_access_token"],
        },
        max_retries=0,
    ) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"api_key": SECRETS["body"]},
        )
    return completion.choices[0].message.content or ""


def test_planted_secrets_never_reach_a_cassette(tmp_path: Path) -> None:
    cassette = tmp_path / "cassettes" / "planted.yaml"
    base_url = f"https://user:{SECRETS['url_password']}@api.openai.com/v1"
    with ScriptedServer(SCRIPT) as server, cassette_traffic(cassette, "record", upstream=server.base_url):
        assert asyncio.run(_chat(base_url)) == "Hello!"
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == [cassette]
    for path in written:
        text = path.read_text(errors="replace")
        leaked = [name for name, secret in SECRETS.items() if secret in text]
        assert not leaked, f"{path} holds {leaked}"
    text = cassette.read_text()
    assert "chat/completions" in text and "Hello!" in text
    assert "user:***@api.openai.com" in text

    # The scrubbed cassette replays for the same client, secrets and all.
    with cassette_traffic(cassette, "replay") as session:
        assert asyncio.run(_chat(base_url)) == "Hello!"
    assert session.misses == []


GATEWAY_SECRETS = {
    "apim": "PLANTED-ocp-apim-subscription-key-0011",
    "portkey": "PLANTED-portkey-virtual-key-0012",
    "functions": "PLANTED-functions-key-0013",
    "custom_bearer": "PLANTED-custom-bearer-0014",
    "query_subscription": "PLANTED-query-subscription-key-0015",
    "access_key": "PLANTED-access-key-0016",
    "license_key": "PLANTED-license-key-0017",
    "user_key": "PLANTED-user-key-0018",
}


async def _gateway_chat(base_url: str) -> str:
    """A client behind API gateways (Azure API Management, Portkey, Azure Functions), each with its own
    credential header, query parameter or body field."""
    async with openai.AsyncOpenAI(
        base_url=base_url,
        api_key="unused",
        default_headers={
            "Ocp-Apim-Subscription-Key": GATEWAY_SECRETS["apim"],
            "x-portkey-virtual-key": GATEWAY_SECRETS["portkey"],
            "x-functions-key": GATEWAY_SECRETS["functions"],
            "X-Upstream-Gateway": f"Bearer {GATEWAY_SECRETS['custom_bearer']}",
        },
        default_query={"subscription-key": GATEWAY_SECRETS["query_subscription"]},
        max_retries=0,
    ) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=32,
            extra_body={
                "access_key": GATEWAY_SECRETS["access_key"],
                "license_key": GATEWAY_SECRETS["license_key"],
                "userKey": GATEWAY_SECRETS["user_key"],
            },
        )
    return completion.choices[0].message.content or ""


def test_gateway_credentials_never_reach_a_cassette_and_it_replays(tmp_path: Path) -> None:
    cassette = tmp_path / "cassettes" / "gateway.yaml"
    base_url = "https://api.openai.com/v1"
    with ScriptedServer(SCRIPT) as server, cassette_traffic(cassette, "record", upstream=server.base_url):
        assert asyncio.run(_gateway_chat(base_url)) == "Hello!"
    text = cassette.read_text()
    leaked = [name for name, secret in GATEWAY_SECRETS.items() if secret in text]
    assert not leaked, leaked
    assert "PLANTED" not in text
    assert "max_tokens" in text and "subscription-key=***" in text
    with cassette_traffic(cassette, "replay") as session:
        assert asyncio.run(_gateway_chat(base_url)) == "Hello!"
    assert session.misses == []


# ------------------------------------------------------------------------------------- broken cassettes


def test_corrupt_cassette_names_the_file(tmp_path: Path) -> None:
    cassette = tmp_path / "bad.yaml"
    cassette.write_bytes(b"interactions:\n- \x01\n")
    with pytest.raises(CassetteError) as info:
        load(cassette, "replay")
    assert str(cassette) in str(info.value)
    assert "ReaderError" in str(info.value)


def test_cassette_of_the_wrong_shape_names_the_file(tmp_path: Path) -> None:
    cassette = tmp_path / "passwd.yaml"
    cassette.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(CassetteError) as info:
        load(cassette, "replay")
    assert str(cassette) in str(info.value)


def test_cassette_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="is a directory"):
        load(tmp_path, "replay")


# ------------------------------------------------------------------------------------------------ reports


def test_json_and_markdown_reports_are_scrubbed(tmp_path: Path) -> None:
    from durable_chaos.report.json_report import write_json
    from durable_chaos.report.markdown import write_markdown
    from durable_chaos.run.results import TrialResult
    from durable_chaos.scenario.model import Scenario
    from durable_chaos.scenario.trial_specs import TrialSpec

    scenario = Scenario.model_validate(
        {
            "schema_version": 1,
            "name": "s",
            "agent": "m:agent",
            "prompt": "p",
            "engines": ["prefect"],
            "cassette": "c.yaml",
            "plans": [{"name": "p"}],
        }
    )
    reason = "engine unavailable: cannot connect to postgresql+psycopg://chaos:PLANTED-db-pw@db:5432/app"
    result = TrialResult(TrialSpec(scenario, "dbos", scenario.plans[0]), "error", reason)
    write_json(
        tmp_path / "r.json", [result], {"exit_code": 1, "meaning": "a trial errored", "messages": [reason]}
    )
    write_markdown(
        tmp_path / "r.md", [result], {"exit_code": 1, "meaning": "a trial errored", "messages": [reason]}
    )
    for name in ("r.json", "r.md"):
        text = (
            (tmp_path / name).read_text().replace("&#8203;", "").replace("\\*", "*")
        )  # Markdown as rendered
        assert "PLANTED-db-pw" not in text
        assert "postgresql+psycopg://chaos:***@db:5432/app" in text


# ------------------------------------------------------------------- credential shapes, not only names


@pytest.mark.parametrize(
    "name",
    [
        "Ocp-Apim-Subscription-Key",
        "subscription-key",
        "x-portkey-virtual-key",
        "x-functions-key",
        "access_key",
        "license_key",
        "userKey",
        "secretKey",
        "accesskey",
        "AccountKey",
        "passphrase",
        "x-api-token",
        "refreshToken",
    ],
)
def test_credential_names_by_shape(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "prompt_cache_key",  # an OpenAI request field: scrubbing it would change what replays
        "idempotency_key",
        "cache_key",
        "sort_key",
        "stable_cache_keys",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "maxOutputTokens",
        "max_completion_tokens",
        "monkey",
        "hotkey",
    ],
)
def test_names_ending_like_credentials_that_are_not(name: str) -> None:
    assert not is_secret_name(name)


def test_a_credential_value_under_any_header_name() -> None:
    headers = {
        "X-Gateway": "Bearer gw-token-123",
        "X-Upstream": "Basic dXNlcjpwYXNzd29yZA==",
        "X-Whatever": "sk-ant-" + "api03-abcdefghijklmnopqrstuv",
        "User-Agent": "AsyncOpenAI/Python 1.99.0",
        "Content-Type": "application/json",
    }
    assert scrub_headers(headers) == {
        "X-Gateway": REDACTED,
        "X-Upstream": REDACTED,
        "X-Whatever": REDACTED,
        "User-Agent": "AsyncOpenAI/Python 1.99.0",
        "Content-Type": "application/json",
    }


def test_query_parameters_and_body_fields_by_shape() -> None:
    assert (
        scrub_url("https://x.azure-api.net/openai/deployments/d/chat?api-version=1&subscription-key=S")
        == "https://x.azure-api.net/openai/deployments/d/chat?api-version=1&subscription-key=***"
    )
    body = {
        "model": "m",
        "max_tokens": 64,
        "prompt_cache_key": "session-1",
        "usage": {"input_tokens": 3, "output_tokens": 4},
        "extra_body": {"access_key": "A", "license_key": "L", "userKey": "U"},
    }
    assert scrub_json(body) == {
        **body,
        "extra_body": {"access_key": REDACTED, "license_key": REDACTED, "userKey": REDACTED},
    }


@pytest.mark.parametrize(
    "secret",
    [
        "sk-ant-" + "api03-abcdefghijklmnopqrstuv",
        "sk-" + "proj-abcdefghijklmnopqrstuv",
        "AKIA" + "ABCDEFGHIJKLMNOP",
        "ghp_" + "a1" * 18,
        "github_pat_" + "b2" * 20,
        "xo" + "xb-1234567890-abcdef",
        "AIza" + "c3" * 18,
        "hf_" + "d4" * 17,
        "eyJ" + "hbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig-nature_x",
    ],
)
def test_well_known_key_shapes_in_text(secret: str) -> None:
    scrubbed = scrub_text(f"failed with {secret}; retrying")
    assert secret not in scrubbed and f"failed with {REDACTED}; retrying" == scrubbed


def test_authorization_schemes_in_text_and_prose_that_only_looks_like_them() -> None:
    assert scrub_text("sent X-Gateway: Bearer gw-token-123 upstream") == "sent X-Gateway: Bearer *** upstream"
    assert scrub_text("Basic dXNlcjpwYXNzd29yZA== was refused") == "Basic *** was refused"
    prose = "the bearer token was rejected; Basic authentication failed; max_tokens=64 input_tokens: 3"
    assert scrub_text(prose) == prose


def test_escaped_json_in_text() -> None:
    text = '{"detail": "{\\"license_key\\": \\"L-123\\", \\"max_tokens\\": 5}"}'
    assert scrub_text(text) == '{"detail": "{\\"license_key\\": \\"***\\", \\"max_tokens\\": 5}"}'


def test_an_unclosed_quote_is_scrubbed_to_the_end_of_the_value() -> None:
    assert scrub_text('password="hunter2 and more') == 'password="*** and more'


# ------------------------------------------------------------------------------------------ linear time


ADVERSARIAL = [  # each took seconds to minutes with the old backtracking patterns
    "a." * 10_000,
    "a" * 20_000,
    "a=" * 10_000,
    'password="x' * 2_000,
    "https://" * 2_500,
    "?a" * 10_000,
    "key" * 7_000,
    "\x1b[" * 10_000,
    "sk-" * 7_000,
    '\\"' * 10_000,
]


# The targets hold for untraced code; a tracer (coverage.py, as the README's test command runs the suite)
# makes every Python line several times slower, so under one the budget grows by that factor.
TRACED = 4.0 if sys.gettrace() is not None else 1.0


def test_scrubbing_is_linear() -> None:
    for text in ADVERSARIAL:
        started = time.process_time()
        scrub_text(text)
        strip_controls(text)
        assert time.process_time() - started < 0.2 * TRACED, text[:20]
    planted_key = "sk-" + "abcdefghijklmnopqrstu"  # key-shaped only at run time
    line = (
        "Traceback: ConnectionError: postgresql://chaos:pw@db/app password=hunter2 "
        f'{{"api_key": "k", "max_tokens": 5}} Authorization: Bearer {planted_key} x-functions-key=f\n'
    )
    message = (line * (1_000_000 // len(line) + 1))[:1_000_000]
    started = time.process_time()
    scrubbed = scrub_text(message)
    assert time.process_time() - started < 1.0 * TRACED
    assert "hunter2" not in scrubbed and planted_key not in scrubbed


# --------------------------------------------------------------------------------- terminal sequences


def test_control_sequences_cannot_drive_the_terminal() -> None:
    hostile = "\x1b]0;PWNED\x07\x1b[31mred\x1b[0m\r\x1b[2Kexit status 0\x08 \u202eevil\ttab\nline"
    assert strip_controls(hostile) == "red\\x0dexit status 0\\x08 \\u202eevil\ttab\nline"
    assert for_terminal("password=x \x1b[2K") == "password=*** "


def test_a_one_megabyte_message_is_scrubbed_and_reported_in_under_a_second(tmp_path: Path) -> None:
    from durable_chaos.report.html import write_html
    from durable_chaos.report.json_report import write_json
    from durable_chaos.report.markdown import write_markdown
    from durable_chaos.report.terminal import terminal_lines
    from durable_chaos.run.results import TrialResult
    from durable_chaos.scenario.model import Scenario
    from durable_chaos.scenario.trial_specs import TrialSpec

    scenario = Scenario.model_validate(
        {
            "schema_version": 1,
            "name": "s",
            "agent": "m:agent",
            "prompt": "p",
            "engines": ["prefect"],
            "cassette": "c.yaml",
            "plans": [{"name": "p"}],
        }
    )
    line = 'Error: postgresql://chaos:PLANTED-pw@db/app {"api_key": "PLANTED-k"} x-functions-key=PLANTED\n'
    reason = (line * (1_000_000 // len(line) + 1))[:1_000_000]
    result = TrialResult(TrialSpec(scenario, "dbos", scenario.plans[0]), "error", reason)
    gate = {"exit_code": 3, "meaning": "the harness failed", "messages": [reason]}
    for name, write in (("r.json", write_json), ("r.md", write_markdown), ("r.html", write_html)):
        started = time.process_time()
        write(tmp_path / name, [result], gate)
        assert time.process_time() - started < 1.0 * TRACED, name
        text = (tmp_path / name).read_text().replace("&#8203;", "").replace("\\*", "*")  # as rendered
        assert "PLANTED" not in text and "chaos:***@db/app" in text, name
    assert "PLANTED" not in "\n".join(terminal_lines([result]))
