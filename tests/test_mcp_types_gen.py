"""The generator `python -m mcp_types_gen`: both schema layouts, the sha pins, `--check`, and the
freshness of every committed file of `codex_mcp/_generated/`."""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from mcp_types_gen.__main__ import main
from mcp_types_gen.naming import method_constant, pascal_case, snake_case
from mcp_types_gen.outputs import generate_revision
from mcp_types_gen.schema import DEFAULT_OUTPUT_DIR, DEFAULT_PIN_DIR, DEFAULT_SCHEMA_DIR, REPO_ROOT, REVISIONS

# A small draft-07 schema in the shape of MCP 2025-06-18, exercising each construct of that layout.
MINI_DRAFT07: dict[str, Any] = {
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

# A small JSON Schema 2020-12 schema in the shape of MCP 2025-11-25: `$defs`, `allOf`, nullable types,
# a `$schema` property, named params definitions.
MINI_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "Result": {
            "type": "object",
            "additionalProperties": {},
            "properties": {"_meta": {"type": "object", "additionalProperties": {}}},
        },
        "Job": {
            "type": "object",
            "properties": {
                "jobId": {"type": "string"},
                "ttl": {"type": ["integer", "null"]},
                "note": {"type": ["string", "null"]},
            },
            "required": ["jobId", "ttl"],
        },
        "GetJobResult": {"allOf": [{"$ref": "#/$defs/Result"}, {"$ref": "#/$defs/Job"}]},
        "Error": {
            "type": "object",
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        },
        "JobGoneError": {
            "type": "object",
            "properties": {
                "error": {
                    "allOf": [
                        {"$ref": "#/$defs/Error"},
                        {"type": "object", "properties": {"code": {"type": "integer", "const": -32001}}},
                    ]
                }
            },
            "required": ["error"],
        },
        "GetJobRequestParams": {
            "type": "object",
            "properties": {
                "_meta": {"type": "object", "additionalProperties": {}},
                "jobId": {"type": "string"},
            },
            "required": ["jobId"],
        },
        "GetJobRequest": {
            "type": "object",
            "properties": {
                "method": {"type": "string", "const": "jobs/get"},
                "params": {"$ref": "#/$defs/GetJobRequestParams"},
            },
            "required": ["method", "params"],
        },
        "Form": {
            "type": "object",
            "properties": {"$schema": {"type": "string"}, "type": {"type": "string", "const": "object"}},
            "required": ["type"],
        },
    },
}

MINIS = {"2025-06-18": MINI_DRAFT07, "2025-11-25": MINI_2020_12}


def _write_schema(schema_dir: Path, pin_dir: Path, version: str, document: dict[str, Any]) -> Path:
    path = schema_dir / version / "schema.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    pin_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (pin_dir / f"mcp-schema-{version}.sha256").write_text(
        f"{digest}  {version}/schema.json\n", encoding="utf-8"
    )
    return path


@pytest.fixture
def mini(tmp_path: Path) -> list[str]:
    """CLI arguments pointing at a schema dir and pin dir holding the two mini schemas."""
    schema_dir, pin_dir = tmp_path / "schemas", tmp_path / "pins"
    for version, document in MINIS.items():
        _write_schema(schema_dir, pin_dir, version, document)
    return ["--schema-dir", str(schema_dir), "--pin-dir", str(pin_dir)]


def _arg(args: list[str], flag: str) -> Path:
    return Path(args[args.index(flag) + 1])


def _load(text: str, monkeypatch: pytest.MonkeyPatch, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    # pydantic resolves deferred annotations through sys.modules when a model is first used
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(text, f"<{name}>", "exec"), module.__dict__)
    return module


def _mini_module(args: list[str], version: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    schema_dir, pin_dir = _arg(args, "--schema-dir"), _arg(args, "--pin-dir")
    pin = pin_dir / f"mcp-schema-{version}.sha256"
    text = generate_revision(schema_dir / version / "schema.json", pin, version)
    return _load(text, monkeypatch, "mini_" + version.replace("-", "_"))


def test_naming() -> None:
    assert snake_case("_meta") == "meta"
    assert snake_case("mimeType") == "mime_type"
    assert snake_case("structuredContent") == "structured_content"
    assert snake_case("uriTemplate") == "uri_template"
    assert snake_case("class") == "class_"
    assert snake_case("json") == "json_"
    assert snake_case("$schema") == "schema_"
    assert snake_case("modelPreferences") == "model_preferences"
    assert pascal_case("requestedSchema") == "RequestedSchema"
    assert pascal_case("_meta") == "Meta"
    assert method_constant("sampling/createMessage") == "METHOD_SAMPLING_CREATE_MESSAGE"
    assert method_constant("notifications/tools/list_changed") == "METHOD_NOTIFICATIONS_TOOLS_LIST_CHANGED"


# -- the CLI: one command for every generated file ---------------------------------------------------


def test_write_then_check_fresh_then_stale(mini: list[str], tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "out" / "_generated"
    args = [*mini, "--output-dir", str(out)]
    assert main(["--check", *args]) == 1  # nothing there yet: stale
    assert not out.exists(), "--check never writes"
    assert main(args) == 0
    names = sorted(p.name for p in out.iterdir())
    expected = sorted(
        ["__init__.py", "icons.py", "tool_catalogue.py", *(f"{r.module}.py" for r in REVISIONS)]
    )
    assert names == expected
    old = (out / "mcp_2025_06_18.py").read_text(encoding="utf-8")
    assert old.startswith("# @generated by mcp_types_gen — do not edit\n")
    assert "revision 2025-06-18," in old and 'MCP_SCHEMA_VERSION: Final = "2025-06-18"' in old
    new = (out / "mcp_2025_11_25.py").read_text(encoding="utf-8")
    assert 'MCP_SCHEMA_VERSION: Final = "2025-11-25"' in new
    capsys.readouterr()
    assert main(["--check", *args]) == 0
    assert capsys.readouterr().out == ""
    assert main(args) == 0  # idempotent: nothing rewritten
    assert "wrote" not in capsys.readouterr().err

    (out / "mcp_2025_06_18.py").write_text(old.replace("class Cat(WireModel):", "class Kat(WireModel):"))
    assert main(["--check", *args]) == 1
    captured = capsys.readouterr()
    assert "-class Kat(WireModel):" in captured.out and "+class Cat(WireModel):" in captured.out
    assert "stale" in captured.err and "mcp_2025_06_18.py" in captured.err
    assert "class Kat" in (out / "mcp_2025_06_18.py").read_text(encoding="utf-8")  # --check never writes

    assert main(args) == 0
    (out / "icons.py").unlink()
    assert main(["--check", *args]) == 1
    assert "icons.py" in capsys.readouterr().err


def test_a_file_nothing_produces_is_reported(mini: list[str], tmp_path: Path, capsys: Any) -> None:
    """A dropped revision's module must not linger unnoticed; it is never deleted for the user."""
    out = tmp_path / "_generated"
    args = [*mini, "--output-dir", str(out)]
    assert main(args) == 0
    stray = out / "mcp_2024_11_05.py"
    stray.write_text("# left behind\n", encoding="utf-8")
    capsys.readouterr()
    for extra in (["--check"], []):
        assert main([*extra, *args]) == 1
        assert f"{stray} is produced by no generator" in capsys.readouterr().err
    assert stray.exists()


def test_check_through_the_entry_point_detects_a_stale_committed_copy(tmp_path: Path) -> None:
    """The CI command itself (`python -m mcp_types_gen --check`) on a copy of the committed package."""
    if not all(r.schema_path().is_file() for r in REVISIONS):
        pytest.skip(f"the MCP schemas are not available under {DEFAULT_SCHEMA_DIR} (outside the repository)")
    copy = tmp_path / "_generated"
    shutil.copytree(DEFAULT_OUTPUT_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "mcp_types_gen", "--check", "--output-dir", str(copy)]
    fresh = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    target = copy / "mcp_2025_11_25.py"
    target.write_text(target.read_text(encoding="utf-8").replace("    ttl: StrictInt | None\n", "", 1))
    stale = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert stale.returncode == 1
    assert "+    ttl: StrictInt | None" in stale.stdout and "mcp_2025_11_25.py" in stale.stderr


# -- the two schema layouts ------------------------------------------------------------------------


def test_generated_draft07_module_works(mini: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _mini_module(mini, "2025-06-18", monkeypatch)
    names = ("Cat", "Dog", "Done", "FetchRequest", "FetchResult", "Level", "PokeRequest", "Request", "Result")
    assert (*names, "Token") == mod.SCHEMA_DEFINITIONS
    assert {
        "pets/fetch": (mod.FetchRequestParams, mod.FetchResult),
        "pets/poke": (None, mod.Result),
    } == mod.REQUEST_TYPES
    assert mod.METHOD_PETS_FETCH == "pets/fetch"
    assert mod.FetchRequest.METHOD == "pets/fetch"
    assert mod.Done is mod.Result
    assert {"FetchRequestParams", "WireModel", "REQUEST_TYPES", "METHOD_PETS_FETCH"} <= set(mod.__all__)
    assert all(hasattr(mod, name) for name in mod.__all__)
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


def test_generated_2020_12_module_works(mini: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    mod = _mini_module(mini, "2025-11-25", monkeypatch)
    assert {"jobs/get": (mod.GetJobRequestParams, mod.GetJobResult)} == mod.REQUEST_TYPES
    # allOf: one model with every member's fields, required names united.
    assert list(mod.GetJobResult.model_fields) == ["meta", "job_id", "ttl", "note"]
    with pytest.raises(ValidationError):
        mod.GetJobResult.model_validate({"jobId": "j"})  # ttl is required (nullable, not optional)
    done = mod.GetJobResult.model_validate({"jobId": "j", "ttl": None, "_meta": {"k": 1}, "extra": True})
    # A required nullable field is written as null; an optional one that is None is left out.
    assert done.to_wire() == {"_meta": {"k": 1}, "jobId": "j", "ttl": None, "extra": True}
    assert mod.Job(job_id="j", ttl=5, note="n").to_wire() == {"jobId": "j", "ttl": 5, "note": "n"}
    with pytest.raises(ValidationError):
        mod.Job.model_validate({"jobId": "j", "ttl": True})  # strict: a bool is not a ttl
    # An inline allOf: a later member narrows a property (here to a const).
    gone = mod.JobGoneError.model_validate({"error": {"message": "gone"}})
    assert type(gone.error).__name__ == "JobGoneErrorError"
    assert gone.to_wire() == {"error": {"code": -32001, "message": "gone"}}
    with pytest.raises(ValidationError):
        mod.JobGoneError.model_validate({"error": {"code": -1, "message": "m"}})
    form = mod.Form.model_validate({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    assert form.schema_ == "https://json-schema.org/draft/2020-12/schema"
    assert form.to_wire() == {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        ({"allOf": [{"type": "string"}]}, "allOf is only supported over object schemas"),
        ({"allOf": [{"$ref": "#/$defs/Nowhere"}]}, "allOf $ref to unknown definition Nowhere"),
        ({"type": "object", "properties": {"a": {"$ref": "#/definitions/Job"}}}, "unsupported $ref"),
    ],
)
def test_untranslatable_schema_is_exit_2(
    tmp_path: Path, capsys: Any, definition: dict[str, Any], problem: str
) -> None:
    schema_dir, pin_dir, out = tmp_path / "s", tmp_path / "p", tmp_path / "out"
    _write_schema(schema_dir, pin_dir, "2025-06-18", MINI_DRAFT07)
    broken = {**MINI_2020_12, "$defs": {**MINI_2020_12["$defs"], "Broken": definition}}
    _write_schema(schema_dir, pin_dir, "2025-11-25", broken)
    args = ["--schema-dir", str(schema_dir), "--pin-dir", str(pin_dir), "--output-dir", str(out)]
    assert main(args) == 2
    assert problem in capsys.readouterr().err
    assert not out.exists(), "nothing is written when any input is bad"


# -- inputs: missing, changed, badly pinned --------------------------------------------------------


@pytest.mark.parametrize("absent", [r.version for r in REVISIONS])
def test_missing_schema_is_exit_2(mini: list[str], tmp_path: Path, capsys: Any, absent: str) -> None:
    (_arg(mini, "--schema-dir") / absent / "schema.json").unlink()
    out = tmp_path / "out"
    for extra in ([], ["--check"]):
        assert main([*extra, *mini, "--output-dir", str(out)]) == 2
        err = capsys.readouterr().err
        assert "MCP schema not found" in err and f"{absent}/schema.json" in err
    assert not out.exists()


@pytest.mark.parametrize("revision", REVISIONS, ids=lambda r: r.version)
def test_sha_mismatch_is_exit_2(mini: list[str], tmp_path: Path, capsys: Any, revision: Any) -> None:
    """One changed byte in either schema is refused (the real schema when it is available)."""
    real = revision.schema_path()
    original = real.read_bytes() if real.is_file() else json.dumps(MINIS[revision.version]).encode()
    index = original.index(b"Result")
    changed = original[:index] + b"Resulz" + original[index + 6 :]
    schema = _arg(mini, "--schema-dir") / revision.version / "schema.json"
    schema.write_bytes(changed)
    pin_file = revision.pin_file(_arg(mini, "--pin-dir"))
    if real.is_file():
        shutil.copy(revision.pin_file(), pin_file)
    pinned = pin_file.read_text(encoding="utf-8").split()[0]
    out = tmp_path / "out"
    for extra in ([], ["--check"]):
        assert main([*extra, *mini, "--output-dir", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"sha256 mismatch for {schema}: expected {pinned}" in err
        assert hashlib.sha256(changed).hexdigest() in err
    assert not out.exists()


def test_bad_pin_file_is_exit_2(mini: list[str], tmp_path: Path, capsys: Any) -> None:
    (_arg(mini, "--pin-dir") / "mcp-schema-2025-11-25.sha256").write_text("not a digest\n", encoding="utf-8")
    assert main([*mini, "--output-dir", str(tmp_path / "out")]) == 2
    assert "sha256 line" in capsys.readouterr().err


def test_pin_files_match_the_documented_schemas() -> None:
    documented = {
        "2025-06-18": "af845e7e5b9d27107d1690f0936022546177a1403e63ffb11470135b296a2e01",
        "2025-11-25": "268a5f82ba70fd7e4b6dc4aa1e64f116f74b4d0edcb69dc046829c79dd4e97e7",
    }
    assert [r.version for r in REVISIONS] == list(documented)
    for revision in REVISIONS:
        line = revision.pin_file().read_text(encoding="utf-8").splitlines()[0]
        assert line == f"{documented[revision.version]}  {revision.version}/schema.json"
    assert sorted(p.name for p in DEFAULT_PIN_DIR.glob("*.sha256")) == [
        f"mcp-schema-{v}.sha256" for v in documented
    ]


# -- the committed package -------------------------------------------------------------------------


@pytest.mark.skipif(
    not all(r.schema_path().is_file() for r in REVISIONS),
    reason=f"the MCP schemas are not available under {DEFAULT_SCHEMA_DIR} (they live outside the repository)",
)
def test_committed_package_is_fresh(tmp_path: Path) -> None:
    import importlib

    out = tmp_path / "_generated"
    assert main(["--output-dir", str(out)]) == 0
    for path in sorted(out.iterdir()):
        committed = DEFAULT_OUTPUT_DIR / path.name
        assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{committed} is stale: run `python -m mcp_types_gen`"
        )
    assert main(["--check"]) == 0
    for revision in REVISIONS:
        document = json.loads(revision.schema_path().read_bytes())
        definitions = document.get("definitions") or document["$defs"]
        module = importlib.import_module(f"codex_mcp._generated.{revision.module}")
        assert revision.version == module.MCP_SCHEMA_VERSION
        assert tuple(sorted(definitions)) == module.SCHEMA_DEFINITIONS
        request_methods = {
            d["properties"]["method"]["const"]
            for name, d in definitions.items()
            if name.endswith("Request") and "const" in d.get("properties", {}).get("method", {})
        }
        assert request_methods == set(module.REQUEST_TYPES)


def test_nothing_at_run_time_imports_the_generator() -> None:
    """The generator is a development tool: no module of the installed package may import it."""
    offenders = []
    for path in sorted((REPO_ROOT / "codex_mcp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "mcp_types_gen" or n.startswith("mcp_types_gen.") for n in names):
                offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []
