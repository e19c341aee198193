"""Who is asking, as request headers and `client_metadata`: pure data builders.

Providers see the same identifying fields Codex 0.147 sends: an `originator` (ours by
default, configurable), a User-Agent naming this server, the OS distribution, the terminal
and the MCP client that called us (its `clientInfo`), and per-turn metadata (installation,
thread, turn and context-window ids) both as the `x-codex-turn-metadata` header and in the
body's `client_metadata`.  No `OpenAI-Beta` header on plain HTTP (Codex sends one only on
its WebSocket transport).

Values that come from outside (the MCP client's name and version, environment variables)
are reduced to printable ASCII and capped, so they can neither break the header block nor
bloat every request.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from codex_mcp._version import __version__
from codex_mcp.bounded_read import UnreadableFileError, read_regular_file
from codex_mcp.uuids import canonical as canonical_uuid
from codex_mcp.uuids import uuid4

DEFAULT_ORIGINATOR = "codex_mcp"
INSTALLATION_ID_FILE = "codex_mcp_installation_id"
MAX_LABEL = 64
_UNSAFE = re.compile(r"[^\x21-\x7e ]+")
_TOKEN_UNSAFE = re.compile(r"[^A-Za-z0-9._\-+]+")


def header_safe(value: str, limit: int = MAX_LABEL) -> str:
    """Printable ASCII only (no CR/LF, no control or non-ASCII bytes), at most `limit` chars."""
    return _UNSAFE.sub("_", value).strip()[:limit]


@dataclass(frozen=True)
class ClientIdentity:
    """This server and the MCP client that called it."""

    originator: str = DEFAULT_ORIGINATOR
    version: str = __version__
    os_label: str = ""
    """`<distribution> <version>; <arch>`, e.g. `Debian 12.0.0; x86_64`."""
    terminal: str = "unknown"
    client_name: str | None = None
    client_version: str | None = None


def user_agent(identity: ClientIdentity) -> str:
    """`codex_mcp/0.1.0 (Debian 12.0.0; x86_64) xterm (claude-code; 2.1.0)`."""
    originator = _TOKEN_UNSAFE.sub("_", identity.originator)[:MAX_LABEL] or DEFAULT_ORIGINATOR
    text = f"{originator}/{header_safe(identity.version)}"
    if identity.os_label:
        text += f" ({header_safe(identity.os_label, 128)})"
    text += f" {header_safe(identity.terminal) or 'unknown'}"
    if identity.client_name:
        version = header_safe(identity.client_version or "") or "unknown"
        name = header_safe(identity.client_name).replace("(", "_").replace(")", "_")
        text += f" ({name}; {version.replace('(', '_').replace(')', '_')})"
    return text


@dataclass(frozen=True)
class TurnIds:
    """The ids one model request is tagged with."""

    installation_id: str
    thread_id: str
    turn_id: str
    window: int = 0
    """Which context window of the thread (bumped by each compaction)."""
    sandbox: str = "seccomp"
    turn_started_at_unix_ms: int = 0
    request_kind: str = "turn"

    @property
    def window_id(self) -> str:
        return f"{self.thread_id}:{self.window}"


def sandbox_tag(mode: str, system: str | None = None) -> str:
    """The sandbox named in turn metadata: none without one, else the platform's mechanism."""
    if mode == "danger-full-access":
        return "none"
    return "seatbelt" if (system or uname()[0]) == "Darwin" else "seccomp"


def turn_metadata(ids: TurnIds) -> str:
    """The `x-codex-turn-metadata` JSON (compact, keys in Codex's order)."""
    return json.dumps(
        {
            "installation_id": ids.installation_id,
            "session_id": ids.thread_id,
            "thread_id": ids.thread_id,
            "turn_id": ids.turn_id,
            "window_id": ids.window_id,
            "request_kind": ids.request_kind,
            "sandbox": ids.sandbox,
            "turn_started_at_unix_ms": ids.turn_started_at_unix_ms,
        },
        separators=(",", ":"),
    )


def client_metadata(ids: TurnIds) -> dict[str, str]:
    """The body's `client_metadata`: the same ids, for providers that log bodies not headers."""
    return {
        "session_id": ids.thread_id,
        "thread_id": ids.thread_id,
        "turn_id": ids.turn_id,
        "x-codex-installation-id": ids.installation_id,
        "x-codex-window-id": ids.window_id,
        "x-codex-turn-metadata": turn_metadata(ids),
    }


def request_headers(
    identity: ClientIdentity, ids: TurnIds, *, builtin_openai: bool = False
) -> dict[str, str]:
    """The identifying headers of one request (auth, content type and provider headers are
    added by the client).  `version` only goes to the built-in OpenAI provider, as Codex does."""
    headers = {
        "originator": _TOKEN_UNSAFE.sub("_", identity.originator)[:MAX_LABEL] or DEFAULT_ORIGINATOR,
        "user-agent": user_agent(identity),
        "session-id": ids.thread_id,
        "thread-id": ids.thread_id,
        "x-client-request-id": ids.thread_id,
        "x-codex-window-id": ids.window_id,
        "x-codex-turn-metadata": turn_metadata(ids),
    }
    if builtin_openai:
        headers["version"] = header_safe(identity.version)
    return headers


# --- what the machine is (read once) -------------------------------------------------------


def uname() -> tuple[str, str, str]:
    """(system, release, machine) as `platform.system()`, `.release()` and `.machine()` give
    them on a POSIX system: `os.uname()`'s, with "unknown" as "".  Read here because
    importing `platform` costs a first call ~1.5 ms."""
    info = os.uname()
    system, release, machine = (
        "" if v == "unknown" else v for v in (info.sysname, info.release, info.machine)
    )
    return system, release, machine


_DISTRO_NAMES = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "fedora": "Fedora",
    "centos": "CentOS",
    "rhel": "Red Hat Enterprise Linux",
    "rocky": "Rocky Linux",
    "almalinux": "AlmaLinux",
    "arch": "Arch Linux",
    "alpine": "Alpine Linux",
    "opensuse-leap": "openSUSE Leap",
    "opensuse-tumbleweed": "openSUSE Tumbleweed",
    "amzn": "Amazon Linux",
    "nixos": "NixOS",
    "gentoo": "Gentoo Linux",
    "linuxmint": "Linux Mint",
}


def parse_os_release(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().isidentifier():
            out[key.strip()] = value.strip().strip("'\"")
    return out


def _semantic(version: str) -> str:
    """`12` -> `12.0.0`, `22.04` -> `22.4.0`: the distribution version as a semantic one."""
    parts = version.split(".")
    if 1 <= len(parts) <= 3 and all(p.isdigit() for p in parts):
        numbers = [str(int(p)) for p in parts] + ["0"] * (3 - len(parts))
        return ".".join(numbers)
    return version


def os_label(os_release: str | None, system: str, release: str, machine: str) -> str:
    """`Debian 12.0.0; x86_64` from /etc/os-release, or `<system> <release>; <arch>`."""
    if system == "Linux" and os_release:
        fields = parse_os_release(os_release)
        ident = fields.get("ID", "").lower()
        name = _DISTRO_NAMES.get(ident) or fields.get("NAME") or "Linux"
        version = fields.get("VERSION_ID", "")
        label = f"{name} {_semantic(version)}" if version else name
    elif system == "Darwin":
        import platform

        label = f"Mac OS {platform.mac_ver()[0] or release}"
    else:
        label = f"{system} {release}".strip()
    return header_safe(f"{label}; {machine}", 128)


@functools.cache
def detect_os_label() -> str:
    text = None
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = read_regular_file(path, limit=16 * 1024, truncate=True).decode("utf-8", "replace")
            break
        except (OSError, UnreadableFileError):
            continue
    return os_label(text, *uname())


def terminal_label(env: Mapping[str, str]) -> str:
    """The terminal the server runs in, as Codex names it: TERM_PROGRAM (with its version),
    a few terminals that only set their own variable, else TERM, else `unknown`."""
    program = env.get("TERM_PROGRAM", "").strip()
    if program:
        version = env.get("TERM_PROGRAM_VERSION", "").strip()
        return header_safe(f"{program}/{version}" if version else program)
    for var, name in (
        ("WT_SESSION", "WindowsTerminal"),
        ("KITTY_WINDOW_ID", "kitty"),
        ("ALACRITTY_SOCKET", "Alacritty"),
        ("KONSOLE_VERSION", "Konsole"),
        ("VTE_VERSION", "VTE"),
    ):
        if env.get(var):
            return name
    term = env.get("TERM", "").strip()
    return header_safe(term) if term else "unknown"


def load_installation_id(codex_home: Path) -> str:
    """This installation's id, kept in CODEX_HOME so it survives restarts; created on first
    use.  Anything unreadable or malformed gets a fresh id (written when possible)."""
    path = Path(codex_home) / INSTALLATION_ID_FILE
    try:
        text = read_regular_file(path, limit=128, truncate=True).decode("ascii", "replace").strip()
        return canonical_uuid(text)
    except (OSError, UnreadableFileError, ValueError):
        pass
    new = uuid4()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError:
        return new
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(new + "\n")
    return new
