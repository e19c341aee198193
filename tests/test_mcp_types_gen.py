"""The generator `python -m mcp_types_gen`: CLI, sha pin, --check, freshness of the committed module."""

from __future__ import annotations

import hashlib
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from mcp_types_gen.__main__ import generate, main
from mcp_types_gen.naming import method_constant, pascal_case, snake_case
from mcp_types_gen.schema import DEFAULT_OUTPUT, DEFAULT_SCHEMA, PIN_FILE

# A small schema in the shape of the MCP one, exercising each construct the generator handles.
MINI_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "definitions": {
        "Request": {
            "type": "object",
            "properties": {
                "method": {"type": "string"},
                "params": {
                    "type": "object",
                    "additionalProperties": {},
                    "properties": {
                        "_meta": {
                            "type": "object",
                            "additionalProperties": {},
                            "properties": {"progressToken": {"$ref": "#/definitions/Token"}},
                        }
                    },
                },
            },
            "required": ["method"],
        },
        "Token": {"type": ["string", "integer"]},
        "Level": {"type": "string", "enum": ["high", "low"]},
        "Result": {"type": "object", "additionalProperties": {}, "properties": {"_meta": {"type": "object"}}},
        "Done": {"$ref": "#/definitions/Result"},
        "Cat": {
            "type": "object",
            "properties": {"kind": {"type": "string", "const": "cat"}, "lives": {"type": "integer"}},
            "required": ["kind"],
        },
        "Dog": {
            "type": "object",
            "properties": {"kind": {"type": "string", "const": "dog"}, "goodBoy": {"type": "boolean"}},
            "required": ["kind"],
        },
        "FetchRequest": {
            "type": "object",
            "properties": {
                "method": {"type": "string", "const": "pets/fetch"},
                "params": {
                    "type": "object",
                    "properties": {
                        "names": {"type": "array", "items": {"type": "string"}},
                        "level": {"$ref": "#/definitions/Level"},
                        "filters": {
                            "type": "array",
                            "items": {"type": "object", "properties": {"field": {"type": "string"}}},
                        },
                        "weights": {
                            "type": "object",
                            "additionalProperties": {"type": "number", "minimum": 0},
                        },
                    },
                    "required": ["names"],
                },
            },
            "required": ["method", "params"],
        },
        "FetchResult": {
            "type": "object",
            "properties": {
                "pets": {
                    "type": "array",
                    "items": {"anyOf": [{"$ref": "#/definitions/Cat"}, {"$ref": "#/definitions/Dog"}]},
                },
                "nextCursor": {"type": "string"},
                "raw": {},
            },
            "required": ["pets"],
        },
        "PokeRequest": {
            "type": "object",
            "properties": {"method": {"type": "string", "const": "pets/poke"}, "params": {"type": "object"}},
            "required": ["method"],
        },
    },
}


@pytest.fixture
def mini(tmp_path: Path) -> tuple[Path, Path]:
    """(schema path, pin file) for MINI_SCHEMA."""
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(MINI_SCHEMA, indent=2), encoding="utf-8")
    pin = tmp_path / "mini.sha256"
    pin.write_text(f"{hashlib.sha256(schema.read_bytes()).hexdigest()}  mini/schema.json\n", encoding="utf-8")
    return schema, pin


def _load(text: str, monkeypatch: pytest.MonkeyPatch, name: str = "mini_types") -> types.ModuleType:
    module = types.ModuleType(name)
    # pydantic resolves deferred annotations through sys.modules when a model is first used
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(text, f"<{name}>", "exec"), module.__dict__)
    return module


def test_naming() -> None:
    assert snake_case("_meta") == "meta"
    assert snake_case("mimeType") == "mime_type"
    assert snake_case("structuredContent") == "structured_content"
    assert snake_case("uriTemplate") == "uri_template"
    assert snake_case("class") == "class_"
    assert snake_case("json") == "json_"
    assert snake_case("modelPreferences") == "model_preferences"
    assert pascal_case("requestedSchema") == "RequestedSchema"
    assert pascal_case("_meta") == "Meta"
    assert method_constant("sampling/createMessage") == "METHOD_SAMPLING_CREATE_MESSAGE"
    assert method_constant("notifications/tools/list_changed") == "METHOD_NOTIFICATIONS_TOOLS_LIST_CHANGED"


def test_write_then_check_fresh_then_stale(mini: tuple[Path, Path], tmp_path: Path, capsys: Any) -> None:
    schema, pin = mini
    out = tmp_path / "out" / "types.py"
    args = ["--schema", str(schema), "--pin", str(pin), "--output", str(out)]
    assert main(["--check", *args]) == 1  # no file yet: stale
    assert main(args) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# @generated by mcp_types_gen — do not edit\n")
    assert text == generate(schema, pin)  # deterministic
    capsys.readouterr()
    assert main(["--check", *args]) == 0
    assert capsys.readouterr().out == ""

    out.write_text(text.replace("class Cat(WireModel):", "class Kat(WireModel):"), encoding="utf-8")
    assert main(["--check", *args]) == 1
    captured = capsys.readouterr()
    assert "-class Kat(WireModel):" in captured.out
    assert "+class Cat(WireModel):" in captured.out
    assert "stale" in captured.err
    assert "class Kat" in out.read_text(encoding="utf-8")  # --check never writes


def test_generated_mini_module_works(mini: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _load(generate(*mini), monkeypatch)
    names = ("Cat", "Dog", "Done", "FetchRequest", "FetchResult", "Level", "PokeRequest", "Request", "Result")
    assert (*names, "Token") == mod.SCHEMA_DEFINITIONS
    assert {
        "pets/fetch": (mod.FetchRequestParams, mod.FetchResult),
        "pets/poke": (None, mod.Result),
    } == mod.REQUEST_TYPES
    assert mod.METHOD_PETS_FETCH == "pets/fetch"
    assert mod.FetchRequest.METHOD == "pets/fetch"
    assert mod.Done is mod.Result
    wire = {
        "method": "pets/fetch",
        "params": {
            "_meta": {"progressToken": 3},
            "names": ["rex"],
            "level": "low",
            "filters": [{"field": "age"}],
            "weights": {"a": 1.5},
        },
    }
    request = mod.FetchRequest.model_validate(wire)
    assert request.to_wire() == wire
    assert request.params.meta.progress_token == 3  # inherited from Request.params._meta
    assert type(request.params.filters[0]).__name__ == "FetchRequestParamsFiltersItem"
    result = mod.FetchResult.model_validate(
        {"pets": [{"kind": "dog", "goodBoy": True}, {"kind": "cat"}], "raw": None}
    )
    assert [type(p).__name__ for p in result.pets] == ["Dog", "Cat"]
    assert result.to_wire() == {"pets": [{"kind": "dog", "goodBoy": True}, {"kind": "cat"}]}
    assert mod.FetchRequest(params=mod.FetchRequestParams(names=[])).to_wire() == {
        "method": "pets/fetch",
        "params": {"names": []},
    }


def test_missing_schema_is_exit_2(tmp_path: Path, capsys: Any) -> None:
    absent = tmp_path / "nowhere" / "schema.json"
    out = tmp_path / "types.py"
    for extra in ([], ["--check"]):
        assert main([*extra, "--schema", str(absent), "--output", str(out)]) == 2
        err = capsys.readouterr().err
        assert "MCP schema not found" in err and str(absent) in err
    assert not out.exists()


def test_sha_mismatch_is_exit_2(tmp_path: Path, capsys: Any) -> None:
    """A copy of the pinned schema with one byte changed is refused (synthetic bytes without ../shared)."""
    original = DEFAULT_SCHEMA.read_bytes() if DEFAULT_SCHEMA.is_file() else json.dumps(MINI_SCHEMA).encode()
    index = original.index(b"definitions")
    changed = original[:index] + b"D" + original[index + 1 :]
    schema = tmp_path / "schema.json"
    schema.write_bytes(changed)
    out = tmp_path / "types.py"
    for extra in ([], ["--check"]):
        assert main([*extra, "--schema", str(schema), "--output", str(out)]) == 2
        err = capsys.readouterr().err
        pinned = PIN_FILE.read_text(encoding="utf-8").split()[0]
        assert f"sha256 mismatch for {schema}: expected {pinned}" in err
        assert hashlib.sha256(changed).hexdigest() in err
    assert not out.exists()


def test_bad_pin_file_is_exit_2(mini: tuple[Path, Path], tmp_path: Path, capsys: Any) -> None:
    schema, pin = mini
    pin.write_text("not a digest\n", encoding="utf-8")
    assert main(["--schema", str(schema), "--pin", str(pin), "--output", str(tmp_path / "x.py")]) == 2
    assert "sha256 line" in capsys.readouterr().err


def test_pin_file_matches_the_documented_schema() -> None:
    line = PIN_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert line == "af845e7e5b9d27107d1690f0936022546177a1403e63ffb11470135b296a2e01  2025-06-18/schema.json"


@pytest.mark.skipif(
    not DEFAULT_SCHEMA.is_file(),
    reason=f"the MCP schema is not available at {DEFAULT_SCHEMA} (it lives outside the repository)",
)
def test_committed_module_is_fresh(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "mcp_types.py"
    assert main(["--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == DEFAULT_OUTPUT.read_text(encoding="utf-8"), (
        "codex_mcp/mcp_types.py is stale: run `python -m mcp_types_gen`"
    )
    assert main(["--check"]) == 0
    definitions = json.loads(DEFAULT_SCHEMA.read_bytes())["definitions"]
    from codex_mcp import mcp_types

    assert tuple(sorted(definitions)) == mcp_types.SCHEMA_DEFINITIONS
    request_methods = {
        d["properties"]["method"]["const"]
        for name, d in definitions.items()
        if name.endswith("Request") and "const" in d.get("properties", {}).get("method", {})
    }
    assert request_methods == set(mcp_types.REQUEST_TYPES)
