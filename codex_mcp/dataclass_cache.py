"""The methods `dataclasses` writes for each class, compiled once per installation.

Creating a dataclass writes its `__init__`, `__repr__`, `__eq__`... as Python source and
compiles it: the ~130 dataclasses on the way to a first call spent ~55 ms here compiling,
about a third of that path's CPU, more than the event loop and the HTTP client import
together.  That source depends only on the class's shape (field names, which have defaults,
the options), never on values (those are passed in), so the code compiled from it can be
kept: `install()` lets `dataclasses` compile each distinct source once per installation and
load it afterwards (~2 ms for all of them).

Exactness: inside `dataclasses`, `exec(source, ...)` compiles with no future flags (that
module has none) under the name "<string>"; `compile(source, "<string>", "exec",
dont_inherit=True)` is that same compilation, and executing the resulting code object in the
same namespaces does what executing the text does.  Entries are keyed by a digest of the
whole source.

Trust: the code objects are kept next to the package's own bytecode (its `__pycache__`) and
get the same trust as that bytecode: whoever can write there can already change the server's
code, and no sandbox ever gets that directory as a writable root (`agent/config/code_dirs.py`).
A file is read only when it is a regular file (no symbolic link), owned by us or by root,
writable by nobody else, and not oversized; anything else, and anything that does not
decode to the expected shape, is ignored and the sources are compiled as usual.  Nothing is
written when Python is told not to write bytecode (`PYTHONDONTWRITEBYTECODE`, `-B`) or keeps
it elsewhere (`PYTHONPYCACHEPREFIX`), or when the directory is not writable; writes go to a
temporary file renamed over the old one, so readers never see half a file.

Only the server process installs it (`cli.main`); the embedding API leaves `dataclasses` as
it is.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import stat
import sys
import threading
import types
from typing import Any

FORMAT = b"codex-mcp dataclass methods 1\n"
MAX_FILE_BYTES = 8 << 20
MAX_ENTRIES = 8192
"""Bounds: the server's own classes need ~700 entries (~0.5 MiB); a cache that would grow
past these stops growing (later sources are compiled each time, as without it)."""

_lock = threading.Lock()
_codes: dict[bytes, types.CodeType] = {}
_added = 0
"""Entries compiled since the file was read (written back by `save`)."""
_path: str | None = None
_real_exec: Any = exec


def cache_path() -> str | None:
    """Where this installation keeps the code: the package's `__pycache__`, one file per
    interpreter version.  None when Python keeps bytecode elsewhere."""
    if sys.pycache_prefix is not None or not sys.implementation.cache_tag:
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "__pycache__", f"dataclass-methods.{sys.implementation.cache_tag}.bin")


def _magic() -> bytes:
    from importlib.util import MAGIC_NUMBER

    return MAGIC_NUMBER


def _digest(source: str) -> bytes:
    from _blake2 import blake2b

    return blake2b(source.encode("utf-8", "surrogatepass"), digest_size=20).digest()


def _exec(source: Any, globals: Any = None, locals: Any = None, /, **kwargs: Any) -> Any:
    """`exec` as `dataclasses` calls it, with the compiled text looked up first."""
    global _added
    if type(source) is str:
        key = _digest(source)
        code = _codes.get(key)
        if code is None:
            code = compile(source, "<string>", "exec", dont_inherit=True)
            with _lock:
                if len(_codes) < MAX_ENTRIES:
                    _codes[key] = code
                    _added += 1
        source = code
    return _real_exec(source, globals, locals, **kwargs)


def _trusted(st: os.stat_result) -> bool:
    return st.st_uid in (os.geteuid(), 0) and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(path: str) -> dict[bytes, types.CodeType]:
    """The code kept at `path`, or {} when there is none we may use.

    Opened by hand rather than through `bounded_read`, which would bring the event loop's
    thread helpers onto the start path; the checks are the same (no symbolic link, no
    blocking open, a regular file by `fstat`, a size cap) plus the owner's."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return {}
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not _trusted(st) or st.st_size > MAX_FILE_BYTES:
            return {}
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES and (chunk := os.read(fd, MAX_FILE_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError:
        return {}
    finally:
        os.close(fd)
    header = FORMAT + _magic()
    if len(data) > MAX_FILE_BYTES or not data.startswith(header):
        return {}
    try:
        loaded = marshal.loads(memoryview(data)[len(header) :])
    except (EOFError, ValueError, TypeError):
        return {}
    if type(loaded) is not dict or len(loaded) > MAX_ENTRIES:
        return {}
    if not all(type(k) is bytes and type(v) is types.CodeType for k, v in loaded.items()):
        return {}
    return loaded


def install(path: str | None = None) -> None:
    """Make `dataclasses` use (and fill) this installation's compiled methods (kept at
    `path`; by default `cache_path()`).  Once per process; does nothing on an interpreter
    other than CPython."""
    global _path, _real_exec
    import dataclasses

    if sys.implementation.name != "cpython" or "exec" in vars(dataclasses):
        return
    _path = path or cache_path()
    if _path is not None:
        _codes.update(_read(_path))
    _real_exec = exec
    dataclasses.exec = _exec  # type: ignore[attr-defined]  # found before the builtin


def save() -> None:
    """Write the entries compiled since the file was read, if any and if allowed.  Never
    raises: at worst the next process compiles them again."""
    global _added
    if not _added or _path is None or sys.dont_write_bytecode:
        return
    with _lock:
        codes, added = dict(_codes), _added
    try:
        data = FORMAT + _magic() + marshal.dumps(codes)
    except ValueError:
        return
    if len(data) > MAX_FILE_BYTES:
        return
    directory = os.path.dirname(_path)
    temp = f"{_path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        os.makedirs(directory, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        return
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temp, _path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        return
    with _lock:
        _added -= added
