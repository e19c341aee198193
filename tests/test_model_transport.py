"""The model client's HTTP/1.1 syntax (`transport/http11.py`) and URL targets (`direct.py`):
pure functions, checked case by case and on generated input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_mcp.agent.model.transport import proxy_configured
from codex_mcp.agent.model.transport.direct import parse_target
from codex_mcp.agent.model.transport.http11 import (
    MAX_FIELDS,
    Headers,
    body_framing,
    encode_request_head,
    find_head_end,
    keeps_connection,
    parse_chunk_size,
    parse_head,
    request_fields,
)
from codex_mcp.errors import ModelError, ProviderTransportError

# --- request fields and head ------------------------------------------------------------------


def test_request_fields_strip_blanks_and_keep_order() -> None:
    assert request_fields([("A", " x "), ("b-c", "y\tz")]) == [("A", "x"), ("b-c", "y\tz")]


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "a\rb", "nul\x00", "bell\x07", "del\x7f", "é"])
def test_a_value_http_cannot_carry_is_a_final_error(value: str) -> None:
    with pytest.raises(ModelError) as info:
        request_fields([("X-Ok", value)])
    assert "X-Ok" in str(info.value) and not info.value.retryable


@pytest.mark.parametrize("name", ["", "a b", "a:b", "a\r\nb", "é", "a\x00"])
def test_a_name_that_is_not_a_token_is_a_final_error(name: str) -> None:
    with pytest.raises(ModelError):
        request_fields([(name, "v")])


def test_the_head_owns_host_and_framing_fields() -> None:
    head = encode_request_head(
        "POST",
        "/v1/responses",
        "example.com",
        [("Content-Length", "1"), ("Transfer-Encoding", "chunked"), ("Connection", "close"), ("X-A", "b")],
        42,
    )
    assert head == (
        b"POST /v1/responses HTTP/1.1\r\nHost: example.com\r\nX-A: b\r\nContent-Length: 42\r\n\r\n"
    )


def test_a_configured_host_replaces_ours() -> None:
    head = encode_request_head("POST", "/", "a.example", [("host", "b.example")], 0)
    assert head.startswith(b"POST / HTTP/1.1\r\nHost: b.example\r\n")
    assert head.count(b"Host:") == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=6))
def test_whatever_is_accepted_cannot_break_a_line(fields: list[tuple[str, str]]) -> None:
    try:
        checked = request_fields(fields)
    except ModelError:
        return
    head = encode_request_head("POST", "/", "h", checked, 0)
    lines = head.split(b"\r\n")
    assert lines[-2:] == [b"", b""]
    assert all(b"\r" not in line and b"\n" not in line for line in lines)
    passed = [
        n
        for n, _ in checked
        if n.lower() not in ("host", "content-length", "transfer-encoding", "connection")
    ]
    # the request line, Host, the caller's other fields, Content-Length, the blank line
    assert len(lines) == 1 + 1 + len(passed) + 1 + 2


# --- targets ------------------------------------------------------------------------------------


def test_target_of_an_https_url() -> None:
    t = parse_target("https://API.example.com/v1/responses")
    assert (t.scheme, t.host, t.port, t.host_header, t.request_target) == (
        "https",
        "api.example.com",
        443,
        "api.example.com",
        "/v1/responses",
    )


def test_target_with_a_port_ipv6_and_params() -> None:
    t = parse_target("http://[::1]:8080/v1/chat/completions?a=1&b=2", {"b": "x y", "api-version": "2025"})
    assert t.host == "::1" and t.port == 8080 and t.host_header == "[::1]:8080"
    assert t.request_target == "/v1/chat/completions?a=1&b=x%20y&api-version=2025"
    assert t.netloc == "[::1]:8080"


def test_a_path_cannot_break_the_request_line() -> None:
    t = parse_target("http://h/v1 x\r\nX-Evil: 1/responses?q=a b")
    assert " " not in t.request_target and "\r" not in t.request_target and "\n" not in t.request_target
    # urlsplit drops the line break itself; what is left is encoded
    assert t.request_target == "/v1%20xX-Evil:%201/responses?q=a%20b"


def test_an_empty_path_is_slash() -> None:
    assert parse_target("http://h:1").request_target == "/"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://h/x", "http or https"),
        ("http:///x", "no host"),
        ("http://u:p@h/x", "credentials"),
        ("http://h:99999/x", "invalid provider URL"),
        ("http://h:port/x", "invalid provider URL"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, fragment: str) -> None:
    with pytest.raises(ProviderTransportError) as info:
        parse_target(url)
    assert fragment in str(info.value)


def test_proxy_settings_are_found_in_any_case() -> None:
    assert proxy_configured({"HTTPS_PROXY": "http://p:3128"})
    assert proxy_configured({"all_proxy": "socks5://p"})
    assert not proxy_configured({"NO_PROXY": "*", "https_proxy": " "})
    assert not proxy_configured({"PATH": "/bin"})


# --- response heads -----------------------------------------------------------------------------


def test_a_head_parses() -> None:
    head = parse_head(b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nX-A: 1\r\nx-a: 2\r\n")
    assert (head.minor_version, head.status, head.reason) == (1, 429, "Too Many")
    assert head.headers["retry-after"] == "3"
    assert head.headers.get("X-A") == "1, 2"
    assert head.headers.get_list("x-a") == ["1", "2"]
    assert list(head.headers) == ["retry-after", "x-a"] and len(head.headers) == 2


def test_a_head_with_bare_newlines_and_no_reason() -> None:
    head = parse_head(b"HTTP/1.0 200\nContent-Length: 2\n")
    assert (head.minor_version, head.status, head.reason) == (0, 200, "")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"HTTP/2 200 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 099 X",
        b"ICY 200 OK",
        b"PRI * HTTP/2.0",
        b"HTTP/1.1 200 OK\r\n folded: yes",
        b"HTTP/1.1 200 OK\r\nno colon",
        b"HTTP/1.1 200 OK\r\nbad name: x",
        b"HTTP/1.1 200 OK\r\nx: a\x00b",
        b"HTTP/1.1 200 OK\r\nx: a\rb",
        b"HTTP/1.1 200 O\x00K",
    ],
)
def test_malformed_heads_are_refused(data: bytes) -> None:
    with pytest.raises(ProviderTransportError):
        parse_head(data)


def test_too_many_fields_are_refused() -> None:
    data = b"HTTP/1.1 200 OK\r\n" + b"".join(b"x%d: y\r\n" % i for i in range(MAX_FIELDS + 1))
    with pytest.raises(ProviderTransportError, match="header fields"):
        parse_head(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_are_refused(data: bytes) -> None:
    try:
        head = parse_head(b"HTTP/1.1 200 OK\r\n" + data)
    except ProviderTransportError:
        return
    for name, value in head.headers.raw():
        assert name and ":" not in name and " " not in name
        assert not any(ch in value for ch in "\x00\r\n")


def test_find_head_end_resumes() -> None:
    buf = bytearray(b"HTTP/1.1 200 OK\r\nA: b\r\n")
    assert find_head_end(buf, 0) == -1
    buf += b"\r\nbody"
    assert find_head_end(buf, len(buf) - 9) == len(buf) - 4
    assert find_head_end(b"HTTP/1.1 200 OK\n\nrest", 0) == 17


# --- framing ------------------------------------------------------------------------------------


def _head(fields: bytes, status: bytes = b"200") -> object:
    return parse_head(b"HTTP/1.1 " + status + b" X\r\n" + fields)


@pytest.mark.parametrize(
    ("fields", "status", "expected"),
    [
        (b"Content-Length: 12\r\n", b"200", ("length", 12)),
        (b"Content-Length: 5, 5\r\nContent-Length: 5\r\n", b"200", ("length", 5)),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"200", ("chunked", 0)),
        (b"Transfer-Encoding: CHUNKED \r\n", b"200", ("chunked", 0)),
        (b"", b"200", ("close", 0)),
        (b"Content-Length: 9\r\n", b"204", ("none", 0)),
        (b"", b"304", ("none", 0)),
    ],
)
def test_framing(fields: bytes, status: bytes, expected: tuple[str, int]) -> None:
    assert body_framing(_head(fields, status)) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: +5\r\n",
        b"Content-Length: 0x10\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Content-Length: \r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: chunked, chunked\r\n",
        b"Transfer-Encoding: identity\r\n",
    ],
)
def test_unreadable_framing_is_refused(fields: bytes) -> None:
    with pytest.raises(ProviderTransportError):
        body_framing(_head(fields))  # type: ignore[arg-type]


def test_keep_alive_rules() -> None:
    h11 = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n")
    assert keeps_connection(h11, "length")
    assert not keeps_connection(h11, "close")
    assert not keeps_connection(parse_head(b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n"), "length")
    assert not keeps_connection(parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n"), "length")


@pytest.mark.parametrize(
    ("line", "size"), [(b"0\r\n", 0), (b"1a\r\n", 26), (b"FF;ext=1\r\n", 255), (b"10 \n", 16)]
)
def test_chunk_sizes(line: bytes, size: int) -> None:
    assert parse_chunk_size(line) == size


@pytest.mark.parametrize("line", [b"\r\n", b"-1\r\n", b"0x10\r\n", b"g\r\n", b"1 2\r\n", b"1" * 17 + b"\r\n"])
def test_bad_chunk_sizes(line: bytes) -> None:
    with pytest.raises(ProviderTransportError):
        parse_chunk_size(line)


def test_headers_mapping_is_case_blind() -> None:
    headers = Headers([("Content-Type", "text/event-stream")])
    assert headers["content-type"] == headers["CONTENT-TYPE"] == "text/event-stream"
    assert "Content-type" in headers and headers.get("missing") is None
    with pytest.raises(KeyError):
        headers["missing"]
