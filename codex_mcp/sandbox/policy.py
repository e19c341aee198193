"""Sandbox and approval policy values: what the model's commands may touch, and when to ask.

Pure data plus pure functions; the platform sandboxes that enforce a policy live beside this
module and never import the agent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ApprovalPolicy = Literal["untrusted", "on-failure", "on-request", "never"]
SandboxMode = Literal["read-only", "workspace-write", "danger-full-access"]

APPROVAL_POLICIES: tuple[ApprovalPolicy, ...] = ("untrusted", "on-failure", "on-request", "never")
SANDBOX_MODES: tuple[SandboxMode, ...] = ("read-only", "workspace-write", "danger-full-access")


@dataclass(frozen=True)
class SandboxPolicy:
    """A resolved sandbox policy.  `writable_roots` are extra roots beyond the session cwd.

    `readable_roots` is None when the whole filesystem may be read (every built-in mode);
    a tuple restricts reads to those trees (a client's restricted-read permission profile).
    """

    mode: SandboxMode = "read-only"
    writable_roots: tuple[str, ...] = ()
    network_access: bool = False
    exclude_tmpdir_env_var: bool = False
    exclude_slash_tmp: bool = False
    readable_roots: tuple[str, ...] | None = None

    @property
    def is_full_access(self) -> bool:
        return self.mode == "danger-full-access"

    @property
    def has_network(self) -> bool:
        return self.mode == "danger-full-access" or self.network_access

    def to_json(self) -> dict[str, object]:
        """The `sandbox_policy` JSON shape of Codex events (tag `type`, snake_case fields)."""
        if self.mode == "workspace-write":
            return {
                "type": "workspace-write",
                "writable_roots": list(self.writable_roots),
                "network_access": self.network_access,
                "exclude_tmpdir_env_var": self.exclude_tmpdir_env_var,
                "exclude_slash_tmp": self.exclude_slash_tmp,
            }
        return {"type": self.mode}


# ---------------------------------------------------------------------------------------------
# Parsing the policy shapes that clients send, and deriving the concrete writable roots.
# ---------------------------------------------------------------------------------------------

#: Top-level names inside every writable root that stay read-only (bwrap and Seatbelt enforce
#: this; Landlock cannot, see `landlock.py`).
PROTECTED_SUBPATHS: tuple[str, ...] = (".git", ".codex", ".agents")


class SandboxPolicyError(ValueError):
    """A sandbox policy document could not be understood.  Never treated as "no sandbox"."""


def file_uri_to_path(value: str) -> str:
    """`file:///a/b%20c` -> `/a/b c`; a plain absolute path is returned unchanged.

    Raises `SandboxPolicyError` for other schemes, remote hosts and relative paths.
    """
    from urllib.parse import unquote, urlsplit

    if not isinstance(value, str) or not value:
        raise SandboxPolicyError(f"expected a path or file:// URI, got {value!r}")
    if value.startswith("file:"):
        parts = urlsplit(value)
        if parts.netloc not in ("", "localhost"):
            raise SandboxPolicyError(f"file URI with a remote host is not supported: {value!r}")
        path = unquote(parts.path)
    elif "://" in value:
        raise SandboxPolicyError(f"unsupported URI scheme in {value!r}; only file:// is accepted")
    else:
        path = value
    if "\x00" in path:
        raise SandboxPolicyError("path contains a NUL byte")
    if not path.startswith("/"):
        raise SandboxPolicyError(f"path must be absolute: {value!r}")
    return path


def _get_bool(obj: dict[str, object], *names: str, default: bool = False) -> bool:
    for name in names:
        if name in obj and obj[name] is not None:
            value = obj[name]
            if not isinstance(value, bool):
                raise SandboxPolicyError(f"sandbox policy field {name!r} must be a boolean, got {value!r}")
            return value
    return default


def parse_sandbox_policy_json(obj: object) -> SandboxPolicy:
    """Parse Codex's SandboxPolicy JSON (`{"type": "read-only" | "workspace-write" | ...}`).

    Accepts the snake_case field names of the protocol and, leniently, their camelCase
    spellings.  Unknown fields are ignored; unknown types and ill-typed fields raise.
    `external-sandbox` is rejected: this server cannot tell whether an outer sandbox exists.
    """
    if isinstance(obj, str):
        # Bare mode strings (as in config.toml `sandbox_mode`) are accepted too.
        obj = {"type": obj}
    if not isinstance(obj, dict):
        raise SandboxPolicyError(f"sandbox policy must be a JSON object, got {type(obj).__name__}")
    kind = obj.get("type", obj.get("mode"))
    if kind in ("read-only", "danger-full-access"):
        return SandboxPolicy(mode=kind)
    if kind != "workspace-write":
        if kind == "external-sandbox":
            raise SandboxPolicyError(
                "sandbox policy type 'external-sandbox' is not supported by this server; "
                "send 'workspace-write', 'read-only' or 'danger-full-access'"
            )
        raise SandboxPolicyError(f"unknown sandbox policy type {kind!r}")
    roots_raw = obj.get("writable_roots", obj.get("writableRoots"))
    roots: list[str] = []
    if roots_raw is not None:
        if not isinstance(roots_raw, list):
            raise SandboxPolicyError("sandbox policy field 'writable_roots' must be a list of paths")
        for item in roots_raw:
            if not isinstance(item, str):
                raise SandboxPolicyError(f"writable root must be a string path, got {item!r}")
            roots.append(os.path.normpath(file_uri_to_path(item)))
    return SandboxPolicy(
        mode="workspace-write",
        writable_roots=tuple(dict.fromkeys(roots)),
        network_access=_get_bool(obj, "network_access", "networkAccess"),
        exclude_tmpdir_env_var=_get_bool(obj, "exclude_tmpdir_env_var", "excludeTmpdirEnvVar"),
        exclude_slash_tmp=_get_bool(obj, "exclude_slash_tmp", "excludeSlashTmp"),
    )


def _entry_target(path_obj: object, cwd: str | None) -> str:
    """Classify one permission-profile path: a special kind name (`root`, `cwd`, `slash_tmp`,
    `tmpdir`) or an absolute path."""
    if not isinstance(path_obj, dict):
        raise SandboxPolicyError(f"permission entry path must be an object, got {path_obj!r}")
    ptype = path_obj.get("type")
    if ptype == "path":
        raw = path_obj.get("path")
        if not isinstance(raw, str):
            raise SandboxPolicyError(f"permission entry of type 'path' needs a string 'path': {path_obj!r}")
        return os.path.normpath(file_uri_to_path(raw))
    if ptype == "special":
        value = path_obj.get("value")
        if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
            raise SandboxPolicyError(f"special permission path needs a 'kind': {path_obj!r}")
        kind = str(value["kind"])
        subpath = value.get("subpath")
        if kind in ("current_working_directory", "project_roots"):
            if subpath is None or subpath == "":
                return ":cwd"
            if not isinstance(subpath, str) or subpath.startswith("/") or ".." in subpath.split("/"):
                raise SandboxPolicyError(f"invalid project subpath {subpath!r}")
            if cwd is None:
                raise SandboxPolicyError("a project subpath entry needs the sandbox cwd to be known")
            return os.path.normpath(os.path.join(cwd, subpath))
        if kind in ("root", "slash_tmp", "tmpdir"):
            return ":" + kind
        raise SandboxPolicyError(f"unsupported special path kind {kind!r} in permission profile")
    raise SandboxPolicyError(f"unsupported permission path type {ptype!r}")


def parse_permission_profile(obj: object, cwd: str | None = None) -> SandboxPolicy:
    """Map codex-cli 0.147's `permissionProfile` (`_meta["codex/sandbox-state-meta"]`) to a policy.

    * `{"type": "disabled"}` -> danger-full-access.
    * `{"type": "managed", "file_system": {"type": "restricted", "entries": [...]}, "network": ...}`:
      `write` entries for the cwd / `slash_tmp` / `tmpdir` / explicit paths become a
      workspace-write policy; only `read` entries give read-only.  `read` entries below a
      writable root (`.git`, ...) are honoured by the fixed protected-subpath rule.
    * A profile whose writes do not include the cwd is narrowed to read-only (this policy
      model always makes the cwd writable under workspace-write; narrowing is the safe side).
    * Anything this model cannot enforce (deny/none entries, globs, unknown kinds) raises.

    `cwd` (the `sandboxCwd`, path or file URI) lets an explicit `path` entry equal to it count as
    the cwd.
    """
    if not isinstance(obj, dict):
        raise SandboxPolicyError(f"permission profile must be a JSON object, got {type(obj).__name__}")
    cwd_path = os.path.normpath(file_uri_to_path(cwd)) if cwd is not None else None
    ptype = obj.get("type")
    if ptype == "disabled":
        return SandboxPolicy(mode="danger-full-access")
    if ptype != "managed":
        raise SandboxPolicyError(f"unknown permission profile type {ptype!r}")
    network = obj.get("network", "restricted")
    if network not in ("restricted", "enabled"):
        raise SandboxPolicyError(f"unknown permission profile network value {network!r}")
    network_on = network == "enabled"
    fs = obj.get("file_system")
    if not isinstance(fs, dict):
        raise SandboxPolicyError("permission profile needs a 'file_system' object")
    fs_type = fs.get("type")
    if fs_type == "unrestricted":
        if network_on:
            return SandboxPolicy(mode="danger-full-access")
        return SandboxPolicy(mode="workspace-write", writable_roots=("/",))
    if fs_type != "restricted":
        raise SandboxPolicyError(f"unknown file_system type {fs_type!r}")
    entries = fs.get("entries")
    if not isinstance(entries, list):
        raise SandboxPolicyError("restricted file_system needs an 'entries' list")

    write_cwd = write_tmp = write_tmpdir = write_root = False
    roots: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise SandboxPolicyError(f"permission entry must be an object, got {entry!r}")
        access = entry.get("access")
        if access == "read":
            continue  # reads are allowed everywhere by every backend; nothing to narrow
        if access != "write":
            raise SandboxPolicyError(
                f"permission entry access {access!r} cannot be enforced by this server's sandbox"
            )
        target = _entry_target(entry.get("path"), cwd_path)
        if target == ":root":
            write_root = True
        elif target == ":cwd":
            write_cwd = True
        elif target == ":slash_tmp":
            write_tmp = True
        elif target == ":tmpdir":
            write_tmpdir = True
        elif cwd_path is not None and target == cwd_path:
            write_cwd = True
        else:
            roots.append(target)
    if write_root:
        if network_on:
            return SandboxPolicy(mode="danger-full-access")
        return SandboxPolicy(mode="workspace-write", writable_roots=("/",))
    if not write_cwd:
        return SandboxPolicy(mode="read-only", network_access=False)
    return SandboxPolicy(
        mode="workspace-write",
        writable_roots=tuple(dict.fromkeys(roots)),
        network_access=network_on,
        exclude_tmpdir_env_var=not write_tmpdir,
        exclude_slash_tmp=not write_tmp,
    )


def writable_roots_for(
    policy: SandboxPolicy, cwd: str, env: Mapping[str, str] | None = None, *, resolve: bool = True
) -> list[str]:
    """The concrete writable roots of `policy` for a command run in `cwd`.

    workspace-write: cwd + configured roots + /tmp (unless excluded) + $TMPDIR (unless excluded);
    read-only: none; danger-full-access: `/`.  With `resolve`, roots are made absolute and
    symlink-free, and roots that do not exist are dropped (a sandbox cannot bind them).
    Order is stable; duplicates and roots nested in another root are kept (harmless).
    """
    if policy.mode == "danger-full-access":
        return ["/"]
    if policy.mode == "read-only":
        return []
    environ = os.environ if env is None else env
    candidates = [cwd, *policy.writable_roots]
    if not policy.exclude_slash_tmp:
        candidates.append("/tmp")
    tmpdir = environ.get("TMPDIR")
    if not policy.exclude_tmpdir_env_var and tmpdir:
        candidates.append(tmpdir)
    out: list[str] = []
    for raw in candidates:
        path = os.path.normpath(os.path.join(cwd, raw))
        if resolve:
            path = os.path.realpath(path)
            if not os.path.exists(path):
                continue
        if path not in out:
            out.append(path)
    return out


def parse_sandbox_state(params: object) -> tuple[SandboxPolicy, str | None]:
    """(policy, cwd) from either client generation's sandbox state:

    * the `codex/sandbox-state/update` request params `{sandboxPolicy, sandboxCwd, ...}`;
    * codex-cli 0.147's `_meta["codex/sandbox-state-meta"]` `{permissionProfile, sandboxCwd, ...}`.

    `sandboxCwd` may be a path or a `file://` URI; it is returned as a path (or None).
    """
    if not isinstance(params, dict):
        raise SandboxPolicyError("sandbox state must be a JSON object")
    raw_cwd = params.get("sandboxCwd")
    if raw_cwd is not None and not isinstance(raw_cwd, str):
        raise SandboxPolicyError(f"sandboxCwd must be a string, got {raw_cwd!r}")
    cwd = os.path.normpath(file_uri_to_path(raw_cwd)) if raw_cwd else None
    if params.get("sandboxPolicy") is not None:
        return parse_sandbox_policy_json(params["sandboxPolicy"]), cwd
    if params.get("permissionProfile") is not None:
        return parse_permission_profile(params["permissionProfile"], cwd=cwd), cwd
    raise SandboxPolicyError("sandbox state has neither 'sandboxPolicy' nor 'permissionProfile'")
