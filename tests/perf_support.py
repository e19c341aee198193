"""Running a fresh interpreter that makes dataclasses with (or without) the method cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

SHAPES = r"""
import dataclasses, inspect, json, sys
from dataclasses import InitVar, dataclass, field
from typing import ClassVar

from codex_mcp import dataclass_cache

if sys.argv[1] != "-":
    dataclass_cache.install(sys.argv[1])


@dataclass
class Plain:
    a: int
    b: str = "x"
    c: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Frozen:
    a: int
    b: tuple[int, ...] = ()


@dataclass(order=True, kw_only=True)
class Ordered:
    a: int
    b: float = 1.5


@dataclass(eq=False)
class NoEq:
    a: int
    k: ClassVar[int] = 3
    i: InitVar[int] = 0

    def __post_init__(self, i: int) -> None:
        self.a += i


@dataclass(unsafe_hash=True)
class Hashed:
    a: int
    b: str = field(default="y", compare=False, repr=False)


def describe(cls, *args, **kwargs):
    one, two = cls(*args, **kwargs), cls(*args, **kwargs)
    return {
        "signature": str(inspect.signature(cls)),
        "doc": cls.__doc__,
        "init_annotations": repr(cls.__init__.__annotations__),
        "repr": repr(one),
        "eq": one == two,
        "hash": hash(one) if vars(cls).get("__hash__") is not None else repr(cls.__hash__),
        "fields": [f.name for f in dataclasses.fields(cls)],
        "match_args": list(getattr(cls, "__match_args__", ())),
        "methods": sorted(k for k in vars(cls) if k.startswith("__") and callable(vars(cls)[k])),
    }


out = {
    "Plain": describe(Plain, 1),
    "Frozen": describe(Frozen, 1, (2,)),
    "Ordered": describe(Ordered, a=1) | {"lt": Ordered(a=1) < Ordered(a=2)},
    "NoEq": describe(NoEq, 1, 2),
    "Hashed": describe(Hashed, 1),
}
try:
    Frozen(1).a = 2
except dataclasses.FrozenInstanceError:
    out["frozen_refuses"] = True
dataclass_cache.save()
print(json.dumps({"classes": out, "added": dataclass_cache._added, "kept": len(dataclass_cache._codes)}))
"""


def env(write_bytecode: bool = True) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out["PYTHONPATH"] = str(REPO)
    if not write_bytecode:
        out["PYTHONDONTWRITEBYTECODE"] = "1"
    return out


def make_classes(cache: Path | str, *, write_bytecode: bool = True) -> dict[str, Any]:
    """Run `SHAPES` in a fresh interpreter with the cache at `cache` ("-": no cache);
    returns what it printed."""
    argv = [sys.executable, "-c", SHAPES, str(cache)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env(write_bytecode), cwd="/")
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result
