"""Permission profiles: `default_permissions` and `[permissions.<name>]` in config.toml.

Codex's newer way to say what commands may do, as a named profile instead of
`sandbox_mode` + `[sandbox_workspace_write]`:

    default_permissions = "project"          # or ":read-only", ":workspace", ":danger-full-access"

    [permissions.project]
    extends = ":workspace"                   # the built-in it starts from (default ":read-only")
    [permissions.project.workspace_roots]
    "/srv/shared" = true                     # another directory commands may write
    [permissions.project.filesystem]
    ":tmpdir" = "read"                       # keep $TMPDIR read-only ("write" is the default)
    ":slash_tmp" = "read"
    "/var/cache/build" = "write"
    [permissions.project.network]
    enabled = true

The profile becomes the same `SandboxPolicy` the older keys produce, so it is bounded by the
person's call ceiling and enforced by the same sandbox.  As in Codex, the older keys win when
both are present (`sandbox_mode` anywhere in the config, or a `sandbox` argument).  Rules this
server cannot enforce (denied paths or globs, read restrictions, domain allowlists) are refused
with an error naming them: a profile is never run looser than it was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codex_mcp.agent.config.checks import Reader
from codex_mcp.sandbox.policy import SandboxMode, SandboxPolicy

BUILTIN_PROFILES: dict[str, SandboxMode] = {
    ":read-only": "read-only",
    ":workspace": "workspace-write",
    ":danger-full-access": "danger-full-access",
}
ACCESS = ("read", "write")
UNSUPPORTED = (
    "is a rule this server cannot enforce (it supports `read` / `write` on paths, "
    "`:tmpdir` and `:slash_tmp`); the profile is refused rather than run looser than written"
)


def _absolute(raw: str, cwd: Path) -> str:
    path = Path(raw).expanduser()
    return str(path if path.is_absolute() else cwd / path)


def profile_policy(r: Reader, cwd: Path) -> SandboxPolicy | None:
    """The sandbox policy of the selected permission profile; None when none is selected.

    Raises `ConfigError` for an unknown profile, a wrong type, or a rule it cannot enforce."""
    name = r.string(["default_permissions"], None)
    if name is None:
        return None
    if name in BUILTIN_PROFILES:
        return SandboxPolicy(mode=BUILTIN_PROFILES[name])
    profiles = r.table(["permissions"]) or {}
    if name not in profiles:
        known = ", ".join(sorted([*BUILTIN_PROFILES, *profiles]))
        r.fail(["default_permissions"], "unknown permission profile `{name}` for `{key}` (known: {known})",
               name=name, known=known)  # fmt: skip
    base = ["permissions", name]
    r.table(base)
    extends = r.string([*base, "extends"], ":read-only")
    if extends not in BUILTIN_PROFILES:
        r.fail([*base, "extends"], "`{key}` must be one of {known}", known=", ".join(BUILTIN_PROFILES))
    mode = BUILTIN_PROFILES[extends]
    roots: list[str] = []
    for root, on in (r.table([*base, "workspace_roots"]) or {}).items():
        if not isinstance(on, bool):
            r.type_error([*base, "workspace_roots", root], "a boolean", on)
        if on:
            roots.append(_absolute(root, cwd))
    no_tmpdir = no_slash_tmp = False
    for target, access in (r.table([*base, "filesystem"]) or {}).items():
        where = [*base, "filesystem", target]
        if not isinstance(access, str) or access not in ACCESS:
            r.fail(where, "`{key}` = {value!r} " + UNSUPPORTED, value=access)
        if target == ":tmpdir":
            no_tmpdir = access == "read"
        elif target == ":slash_tmp":
            no_slash_tmp = access == "read"
        elif target.startswith(":") or any(c in target for c in "*?["):
            r.fail(where, "`{key}` " + UNSUPPORTED)
        elif access == "write":
            roots.append(_absolute(target, cwd))
    network = _network(r, [*base, "network"])
    if mode == "read-only" and (roots or network):
        r.fail([*base, "extends"], "the profile grants writes or network, so `{key}` must be `:workspace`")
    if mode != "workspace-write":
        return SandboxPolicy(mode=mode)
    return SandboxPolicy(
        mode=mode,
        writable_roots=tuple(dict.fromkeys(roots)),
        network_access=network,
        exclude_tmpdir_env_var=no_tmpdir,
        exclude_slash_tmp=no_slash_tmp,
    )


def _network(r: Reader, path: list[str]) -> bool:
    table: Mapping[str, Any] | None = r.table(path)
    if not table:
        return False
    for key in table:
        if key != "enabled":
            r.fail([*path, key], "`{key}` " + UNSUPPORTED)
    return bool(r.boolean([*path, "enabled"], False))
