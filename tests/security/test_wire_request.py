"""The request side: what configuration, environment and the MCP caller put into a request
to the provider can never add a header, a request line or reframe the body.

Judged at the provider: a recording peer sees every byte of every request.  A value that
HTTP cannot carry ends the call with a clear error that names the field (never the value:
it may be a secret) before anything is sent; a URL's parts are percent-encoded and arrive
exactly as configured.  Both transports, plus one end-to-end check of the MCP client's
`clientInfo`, which reaches the User-Agent.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from codex_mcp.agent.model import Auth
from codex_mcp.agent.model.transport import ProviderTransport
from codex_mcp.agent.model.types import Prompt
from tests.security.wire_support import (
    Answer,
    RawServer,
    Request,
    answering,
    client_for,
    outcome,
    respond,
    sse_body,
)
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.anyio

INJECTED = "X-Injected"


def is_direct(http: ProviderTransport) -> bool:
    return type(http).__name__ == "DirectTransport"


def ok_answers(n: int = 3) -> list[Answer]:
    return [Answer(respond(sse_body("fine")), end="close") for _ in range(n)]


def assert_clean(server: RawServer) -> None:
    """No request carried an injected field or a second request line."""
    for request in server.requests:
        lines = request.head[:-4].split(b"\r\n")
        assert len(lines[0].split(b" ")) == 3 and lines[0].endswith(b" HTTP/1.1"), lines[0]
        for line in lines[1:]:
            name, sep, _ = line.partition(b":")
            assert sep and name and all(33 <= c < 127 for c in name), line
            assert b"\n" not in line and b"\r" not in line and b"\x00" not in line, line
        assert INJECTED.lower() not in [k.lower() for k, _ in request.fields], request.head
        assert request.head.count(b"\r\n\r\n") == 1, request.head
        assert request.method == "POST"
        json.loads(request.body)  # the whole body, framed by the one Content-Length


async def refused_before_sending(
    http: ProviderTransport, fragment: str, secret: str = "", **provider: object
) -> str:
    with answering(*ok_answers()) as (server, _):
        result = await outcome(client_for(server.base_url, http, **provider))
    assert not result.ok, result
    assert fragment in result.text, result.text
    if secret:
        assert secret not in result.text
    assert server.connections == 0 and not server.requests, "something was sent"
    return result.text


async def sent(http: ProviderTransport, **provider: object) -> Request:
    with answering(*ok_answers()) as (server, _):
        result = await outcome(client_for(server.base_url, http, **provider))
    assert result.ok, result
    assert_clean(server)
    assert len(server.requests) == 1
    return server.requests[0]


BAD_VALUES = {
    "crlf": f"v\r\n{INJECTED}: 1",
    "lf": f"v\n{INJECTED}: 1",
    "cr": f"v\r{INJECTED}: 1",
    "request-line": "v\r\n\r\nGET /admin HTTP/1.1\r\nHost: x",
    "nul": "v\x00w",
    "del": "v\x7fw",
    "esc": "v\x1b[31mw",
    "non-ascii": "v\u00e9",
    "emoji": "v\U0001f600",
    "u2028": "v\u2028w",
    "nel": "v\u0085w",
}


@pytest.mark.parametrize("value", list(BAD_VALUES.values()), ids=list(BAD_VALUES))
async def test_configured_header_values(http: ProviderTransport, value: str) -> None:
    await refused_before_sending(http, "the request header `X-Conf`", http_headers={"X-Conf": value})


BAD_NAMES = {
    "crlf": f"X-A\r\n{INJECTED}",
    "space": "X A",
    "colon": "X:A",
    "empty": "",
    "non-ascii": "X-\u00e9",
    "nul": "X\x00A",
    "trailing-space": "Host ",
}


@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
async def test_configured_header_names(http: ProviderTransport, name: str) -> None:
    await refused_before_sending(http, "is not a valid HTTP field name", http_headers={name: "v"})


@pytest.mark.parametrize("value", [BAD_VALUES["crlf"], BAD_VALUES["nul"], BAD_VALUES["non-ascii"]])
async def test_env_http_header_values(http: ProviderTransport, value: str) -> None:
    await refused_before_sending(
        http,
        "the request header `X-From-Env`",
        env_http_headers={"X-From-Env": "CONF_VAR"},
        env={"CONF_VAR": value},
    )


async def test_env_http_header_name(http: ProviderTransport) -> None:
    await refused_before_sending(
        http,
        "is not a valid HTTP field name",
        env_http_headers={f"X-E\r\n{INJECTED}": "CONF_VAR"},
        env={"CONF_VAR": "v"},
    )


async def test_trailing_line_break_of_an_env_value_is_trimmed_not_sent(http: ProviderTransport) -> None:
    request = await sent(http, env_http_headers={"X-From-Env": "CONF_VAR"}, env={"CONF_VAR": "value\r\n"})
    assert request.header("X-From-Env") == ["value"]


@pytest.mark.parametrize("var", ["OPENAI_ORGANIZATION", "OPENAI_PROJECT"])
@pytest.mark.parametrize("value", [BAD_VALUES["crlf"], BAD_VALUES["request-line"], BAD_VALUES["non-ascii"]])
async def test_openai_org_and_project(http: ProviderTransport, var: str, value: str) -> None:
    field = "OpenAI-Organization" if var == "OPENAI_ORGANIZATION" else "OpenAI-Project"
    await refused_before_sending(
        http, f"the request header `{field}`", requires_openai_auth=True, env={var: value}
    )


async def test_api_key_with_a_line_break_is_refused_without_showing_it(http: ProviderTransport) -> None:
    secret = "sk-secret-123"
    with answering(*ok_answers()) as (server, _):
        client = client_for(server.base_url, http)
        client.auth = Auth("api_key", f"{secret}\r\n{INJECTED}: 1")
        result = await outcome(client)
    assert not result.ok and "the request header `Authorization`" in result.text, result
    assert secret not in result.text
    assert not server.requests


async def test_prompt_identity_headers_are_checked_too(http: ProviderTransport) -> None:
    """The identifying headers are sanitised where they are built; the transport checks
    them again, so an unsanitised one is an error, never a header."""
    prompt = Prompt(
        instructions="x",
        input=[{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        headers={"user-agent": f"ua\r\n{INJECTED}: 1"},
    )
    with answering(*ok_answers()) as (server, _):
        result = await outcome(client_for(server.base_url, http), prompt)
    assert not result.ok and "the request header `user-agent`" in result.text, result
    assert not server.requests


# --- the framing and routing fields ------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Length": "5"},
        {"content-length": "0"},
        {"Transfer-Encoding": "chunked"},
        {"TRANSFER-ENCODING": "chunked", "Content-Length": "1"},
        {"Connection": "close, Transfer-Encoding"},
    ],
    ids=["cl", "cl-lower", "te", "te-and-cl", "connection"],
)
async def test_configured_framing_fields_never_reframe_the_request(
    http: ProviderTransport, headers: dict[str, str]
) -> None:
    request = await sent(http, http_headers=headers)
    assert request.header("Content-Length") == [str(len(request.body))]
    assert request.header("Transfer-Encoding") == []
    assert len(request.body) > 100 and json.loads(request.body)["model"] == "mock-model"


@pytest.mark.parametrize("name", ["Host", "host", "HOST"])
async def test_host_override_is_one_field_and_does_not_move_the_connection(
    http: ProviderTransport, name: str
) -> None:
    """A configured Host replaces ours (as with any HTTP library); the connection still
    goes to the URL's host and there is exactly one Host field."""
    request = await sent(http, http_headers={name: "other.example"})
    assert [v for k, v in request.fields if k.lower() == "host"] == ["other.example"]


async def test_host_override_with_a_line_break(http: ProviderTransport) -> None:
    await refused_before_sending(
        http, "the request header `Host`", http_headers={"Host": f"a\r\n{INJECTED}: 1"}
    )


# --- the URL -------------------------------------------------------------------------------------


PARAMS = {
    "crlf": ("k\r\nX", f"v\r\n{INJECTED}: 1"),
    "space-http": ("a", "b HTTP/1.1\r\nHost: evil"),
    "amp-hash": ("a&b=c", "d#e?f"),
    "non-ascii": ("\u00e9", "\u65e5\u672c"),
    "nul": ("n", "a\x00b"),
    "percent": ("p", "%0d%0a"),
}


@pytest.mark.parametrize("pair", list(PARAMS.values()), ids=list(PARAMS))
async def test_query_params_arrive_exactly_and_encoded(
    http: ProviderTransport, pair: tuple[str, str]
) -> None:
    name, value = pair
    request = await sent(http, query_params={name: value, "api-version": "1"})
    target = request.target
    assert " " not in target and "\r" not in target and "\n" not in target
    assert target.isascii()
    got = dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))
    assert got == {name: value, "api-version": "1"}


@pytest.mark.parametrize(
    "path",
    [
        f"/v1\r\n{INJECTED}: 1",
        "/v1 HTTP/1.1\r\nHost: evil\r\n\r\nGET /x",
        "/v1\x00",
        "/v\u00e9",
        "/v1/%0d%0a",
        "/v1\t",
    ],
    ids=["crlf", "request-line", "nul", "non-ascii", "encoded-crlf", "tab"],
)
async def test_base_url_path_is_encoded(http: ProviderTransport, path: str) -> None:
    with answering(*ok_answers()) as (server, _):
        url = f"http://127.0.0.1:{server.port}{path}"
        result = await outcome(client_for(url, http))
        assert_clean(server)
    if not result.ok:  # refusing the URL is as good as encoding it, if nothing was sent
        assert not server.requests, result
        return
    [request] = server.requests
    assert " " not in request.target and request.target.isascii()
    assert unquote(request.target).endswith("/responses")


async def test_base_url_query_is_merged_and_encoded(http: ProviderTransport) -> None:
    with answering(*ok_answers()) as (server, _):
        url = f"http://127.0.0.1:{server.port}/v1?x=1 2&y=\u00e9"
        client = client_for(url, http, query_params={"z": "3"})
        result = await outcome(client)
    # The client appends the wire's path to the base URL: a query in the base URL ends up
    # in the path of the request target.  Whatever it becomes, it is one encoded target.
    assert_clean(server)
    if result.ok:
        [request] = server.requests
        assert " " not in request.target and request.target.isascii()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1\x00.evil:1/v1",
        "http://user:pass@127.0.0.1:1/v1",
        "http://exa mple.invalid:1/v1",
        "ftp://127.0.0.1:1/v1",
        "http://:1/v1",
        "http://127.0.0.1:99999/v1",
        "http://[::1/v1",
    ],
    ids=["nul-host", "credentials", "space-host", "ftp", "no-host", "bad-port", "bad-ipv6"],
)
async def test_bad_base_urls_end_with_a_clear_error(http: ProviderTransport, url: str) -> None:
    result = await outcome(client_for(url, http))
    assert not result.ok, result
    if "user:pass" in url:
        assert "pass" not in result.text.replace("provider URL", "")


@pytest.mark.parametrize(
    "junk", ["\x00.evil.example", "\x00", " extra", "\u00a0"], ids=["nul", "nul-end", "space", "nbsp"]
)
async def test_a_host_is_never_cut_at_a_nul(http: ProviderTransport, junk: str) -> None:
    """The resolver stops reading a name at a NUL: `127.0.0.1<NUL>.evil.example` would
    reach 127.0.0.1 while the URL names another host, and put the NUL in the Host field."""
    with answering(*ok_answers()) as (server, _):
        result = await outcome(client_for(f"http://127.0.0.1{junk}:{server.port}/v1", http))
    assert not result.ok, result
    assert server.connections == 0, "a connection reached the host before the NUL"


# --- the MCP caller's clientInfo, end to end ---------------------------------------------------


@pytest.mark.parametrize(
    "info",
    [
        {"name": f"evil\r\n{INJECTED}: 1", "version": "1\r\n\r\nGET /admin HTTP/1.1"},
        {"name": "\u540d\u524d\u00e9\U0001f600", "version": "\x00\x1b[2J"},
        {"name": "a" * 5000, "version": "(" * 100},
    ],
    ids=["crlf", "non-ascii-and-control", "huge"],
)
def test_client_info_reaches_the_user_agent_only_as_safe_text(
    spawn_server: ServerFactory, scripted_model: ScriptedModel, info: dict[str, str]
) -> None:
    from tests.security.harness import assert_alive, run_call

    client = spawn_server(init=False)
    response = client.call(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": info},
    )
    assert "result" in response, response
    client.notify("notifications/initialized")
    scripted_model.text("answered")
    result = run_call(client)
    assert result.get("isError") is not True, result
    [request] = scripted_model.wait_requests(1)
    assert INJECTED.lower() not in request.headers
    agent = request.headers["user-agent"]
    assert agent.isascii() and agent.isprintable() and len(agent) < 600, agent
    assert "\r" not in agent and "\n" not in agent
    assert_alive(client)
