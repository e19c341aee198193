"""`codex_mcp.uuids` against the standard `uuid` module it stands in for."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_mcp import uuids
from codex_mcp.agent.request_headers import uname


def test_uuid4_is_a_random_rfc_4122_version_4() -> None:
    seen = {uuids.uuid4() for _ in range(200)}
    assert len(seen) == 200
    for text in seen:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_uuid7_is_rfc_4122_version_7_with_the_time_first() -> None:
    for _ in range(200):
        text = uuids.uuid7()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.variant == uuid.RFC_4122
        assert parsed.int >> 76 & 0xF == 7


GIVEN = [
    "0189a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
    "0189A3B4-5C6D-7E8F-9A0B-1C2D3E4F5A6B",
    "0189a3b45c6d7e8f9a0b1c2d3e4f5a6b",
    "{0189a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b}",
    "urn:uuid:0189a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
    "uuid:0189a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
    "0x89a3b45c6d7e8f9a0b1c2d3e4f5a6b",
    "+189a3b45c6d7e8f9a0b1c2d3e4f5a6b",
    " 189a3b45c6d7e8f9a0b1c2d3e4f5a6b",
    "0189_3b45c6d7e8f9a0b1c2d3e4f5a6b",
    "0189a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6",
    "0189a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6bb",
    "zz89a3b45c6d7e8f9a0b1c2d3e4f5a6b",
    "",
    "{}",
    "--------------------------------",
    "٠١٢٣٤٥٦٧٨٩0189a3b45c6d7e8f9a0b1c",
]


def _standard(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _ours(text: str) -> str | None:
    try:
        return uuids.canonical(text)
    except ValueError:
        return None


@pytest.mark.parametrize("text", GIVEN)
def test_canonical_accepts_and_spells_what_uuid_does(text: str) -> None:
    assert _ours(text) == _standard(text)


@given(
    st.lists(st.sampled_from(list("0123456789abcdefABCDEF-{}_ +x:urnid")) | st.characters(), max_size=48).map(
        "".join
    )
)
def test_canonical_matches_uuid_on_generated_text(text: str) -> None:
    assert _ours(text) == _standard(text)


def test_uname_is_what_platform_reports() -> None:
    import platform

    assert uname() == (platform.system(), platform.release(), platform.machine())
