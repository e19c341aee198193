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

#: Top-level names inside every writable root that stay read-only (see `boundary.py`: bwrap and
#: the Landlock container re-bind them read-only, Seatbelt excludes them).
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

    Accepts the snake_case field names and type names of the protocol and, leniently, the
    camelCase spellings of the app-server protocol.  A restricted read access
    (`access` / `read_only_access`) becomes `readable_roots`, never "read everything".
    Other unknown fields are ignored; unknown types and ill-typed fields raise.
    `external-sandbox` is rejected: this server cannot tell whether an outer sandbox exists.
    """
    if isinstance(obj, str):
        # Bare mode strings (as in config.toml `sandbox_mode`) are accepted too.
        obj = {"type": obj}
    if not isinstance(obj, dict):
        raise SandboxPolicyError(f"sandbox policy must be a JSON object, got {type(obj).__name__}")
    kind = obj.get("type", obj.get("mode"))
    kind = _POLICY_TYPE_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    if kind == "external-sandbox":
        raise SandboxPolicyError(
            "sandbox policy type 'external-sandbox' is not supported by this server; "
            "send 'workspace-write', 'read-only' or 'danger-full-access'"
        )
    if kind not in SANDBOX_MODES:
        raise SandboxPolicyError(f"unknown sandbox policy type {kind!r}")
    if kind == "danger-full-access":
        return SandboxPolicy(mode="danger-full-access")
    readable = _read_access(obj)
    if kind == "read-only":
        return SandboxPolicy(mode="read-only", readable_roots=readable)
    roots_raw = obj.get("writable_roots", obj.get("writableRoots"))
    roots: list[str] = []
    if roots_raw is not None:
        if not isinstance(roots_raw, list):
            raise SandboxPolicyError("sandbox policy field 'writable_roots' must be a list of paths")
        for item in roots_raw:
            if not isinstance(item, str):
                raise SandboxPolicyError(f"writable root must be a string path, got {item!r}")
            roots.append(os.path.normpath(file_uri_to_path(item)))
    writable = tuple(dict.fromkeys(roots))
    return SandboxPolicy(
        mode="workspace-write",
        writable_roots=writable,
        network_access=_get_bool(obj, "network_access", "networkAccess"),
        exclude_tmpdir_env_var=_get_bool(obj, "exclude_tmpdir_env_var", "excludeTmpdirEnvVar"),
        exclude_slash_tmp=_get_bool(obj, "exclude_slash_tmp", "excludeSlashTmp"),
        readable_roots=None if readable is None else tuple(dict.fromkeys((*readable, *writable))),
    )


#: The camelCase type names of the app-server protocol, as the kebab-case ones.
_POLICY_TYPE_ALIASES = {
    "readOnly": "read-only",
    "workspaceWrite": "workspace-write",
    "dangerFullAccess": "danger-full-access",
    "externalSandbox": "external-sandbox",
}

#: What "platform defaults" (`include_platform_defaults`, the `minimal` special path) make
#: readable on Linux: the trees programs need to start (binaries, libraries, the dynamic
#: loader's and the system's configuration).
PLATFORM_READ_ROOTS: tuple[str, ...] = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
)


def _read_access(obj: dict[str, object]) -> tuple[str, ...] | None:
    """The readable roots a policy's read-access field restricts reads to (None: everything).

    Accepts the field as `access` (read-only), `read_only_access` / `readOnlyAccess`
    (workspace-write), with `{"type": "full-access" | "restricted", "readable_roots": [...],
    "include_platform_defaults": bool}` in snake_case or camelCase.  What cannot be read
    exactly raises: a restriction is never silently dropped.
    """
    fields = [name for name in ("access", "read_only_access", "readOnlyAccess") if obj.get(name) is not None]
    if not fields:
        return None
    if len(fields) > 1:
        raise SandboxPolicyError(f"sandbox policy has more than one read-access field: {', '.join(fields)}")
    access = obj[fields[0]]
    if not isinstance(access, dict):
        raise SandboxPolicyError(f"sandbox policy field {fields[0]!r} must be an object, got {access!r}")
    kind = access.get("type")
    if kind in ("full-access", "fullAccess", "full_access"):
        return None
    if kind != "restricted":
        raise SandboxPolicyError(f"unknown read access type {kind!r} in {fields[0]!r}")
    raw_roots = access.get("readable_roots", access.get("readableRoots", []))
    if not isinstance(raw_roots, list):
        raise SandboxPolicyError("restricted read access needs 'readable_roots' as a list of paths")
    roots: list[str] = []
    for item in raw_roots:
        if not isinstance(item, str):
            raise SandboxPolicyError(f"readable root must be a string path, got {item!r}")
        roots.append(os.path.normpath(file_uri_to_path(item)))
    if _get_bool(access, "include_platform_defaults", "includePlatformDefaults"):
        roots.extend(PLATFORM_READ_ROOTS)
    return tuple(dict.fromkeys(roots))


def with_writes_readable(
    policy: SandboxPolicy, cwd: str, env: Mapping[str, str] | None = None
) -> SandboxPolicy:
    """`policy` with every root it may write also in its readable roots (when reads are
    restricted): writing a place one cannot read is never what a client means."""
    if policy.readable_roots is None:
        return policy
    from dataclasses import replace

    writes = writable_roots_for(policy, cwd, env, resolve=False)
    return replace(policy, readable_roots=tuple(dict.fromkeys((*policy.readable_roots, *writes))))


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
        if kind in ("root", "slash_tmp", "tmpdir", "minimal"):
            return ":" + kind
        raise SandboxPolicyError(f"unsupported special path kind {kind!r} in permission profile")
    raise SandboxPolicyError(f"unsupported permission path type {ptype!r}")


def parse_permission_profile(
    obj: object, cwd: str | None = None, env: Mapping[str, str] | None = None
) -> SandboxPolicy:
    """Map codex-cli 0.147's `permissionProfile` (`_meta["codex/sandbox-state-meta"]`) to a policy.

    * `{"type": "disabled"}` -> danger-full-access.
    * `{"type": "managed", "file_system": {"type": "restricted", "entries": [...]}, "network": ...}`:
      `write` entries for the cwd / `slash_tmp` / `tmpdir` / explicit paths become a
      workspace-write policy; only `read` entries give read-only.
    * Reads: a `read` entry for the filesystem root means "read everything"
      (`readable_roots` None); otherwise reads are restricted to the paths the `read`
      entries name (`minimal` = `PLATFORM_READ_ROOTS`) plus every written root.
    * A `read` entry inside a written root keeps that path read-only: honoured when it is a
      protected name directly under the root (`.git`, `.codex`, `.agents`, which every
      backend keeps read-only), refused otherwise.
    * A profile whose writes do not include the cwd is narrowed to read-only (this policy
      model always makes the cwd writable under workspace-write; narrowing is the safe side).
    * Anything this model cannot enforce (deny/none entries, globs, unknown kinds) raises.

    `cwd` (the `sandboxCwd`, path or file URI) resolves project paths and lets an explicit
    `path` entry equal to it count as the cwd; `env` supplies `TMPDIR` (default: ours).
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

    environ = os.environ if env is None else env
    tmpdir = environ.get("TMPDIR") or None
    specials: dict[str, str | None] = {
        ":slash_tmp": "/tmp",
        ":tmpdir": tmpdir,
        ":cwd": cwd_path,
        ":root": "/",
    }
    writes: list[str] = []
    reads: list[str] = []
    read_all = False
    for entry in entries:
        if not isinstance(entry, dict):
            raise SandboxPolicyError(f"permission entry must be an object, got {entry!r}")
        access = entry.get("access")
        if access not in ("read", "write"):
            raise SandboxPolicyError(
                f"permission entry access {access!r} cannot be enforced by this server's sandbox"
            )
        target = _entry_target(entry.get("path"), cwd_path)
        if access == "read":
            if target == ":root":
                read_all = True
            elif target == ":minimal":
                reads.extend(PLATFORM_READ_ROOTS)
            elif target.startswith(":"):
                resolved = specials.get(target)
                if resolved is None:
                    if target == ":cwd":
                        raise SandboxPolicyError("a read entry for the cwd needs the sandbox cwd to be known")
                    continue  # $TMPDIR unset: nothing to read there
                reads.append(resolved)
            else:
                reads.append(target)
            continue
        if target == ":minimal":
            raise SandboxPolicyError("the 'minimal' special path can only be read, not written")
        writes.append(target)

    write_cwd = ":cwd" in writes or (cwd_path is not None and cwd_path in writes)
    write_root = ":root" in writes
    write_paths: list[str] = []
    for w in writes:
        resolved = specials.get(w) if w.startswith(":") else w
        if resolved is not None:
            write_paths.append(resolved)
    _check_read_carve_outs(reads, write_paths)
    extra_roots = tuple(dict.fromkeys(w for w in writes if not w.startswith(":") and w != cwd_path))
    readable: tuple[str, ...] | None = None
    if not read_all and "/" not in reads and "/" not in write_paths:
        readable = tuple(dict.fromkeys([*reads, *write_paths]))
    if write_root:
        if network_on and readable is None:
            return SandboxPolicy(mode="danger-full-access")
        return SandboxPolicy(
            mode="workspace-write", writable_roots=("/",), network_access=network_on, readable_roots=readable
        )
    if not write_cwd:
        return SandboxPolicy(mode="read-only", network_access=False, readable_roots=readable)
    return SandboxPolicy(
        mode="workspace-write",
        writable_roots=extra_roots,
        network_access=network_on,
        exclude_tmpdir_env_var=":tmpdir" not in writes,
        exclude_slash_tmp=":slash_tmp" not in writes,
        readable_roots=readable,
    )


def _check_read_carve_outs(reads: list[str], write_roots: list[str]) -> None:
    """Refuse a read-only path inside a written root unless every backend keeps it read-only
    anyway (a protected name directly under that root)."""
    roots = set(write_roots)
    for read in reads:
        if read in roots:
            continue  # written there too: the write wins
        containing = [r for r in roots if r == "/" or read.startswith(r.rstrip("/") + "/")]
        if not containing:
            continue
        if os.path.basename(read) in PROTECTED_SUBPATHS and os.path.dirname(read) in roots:
            continue
        raise SandboxPolicyError(
            f"the permission profile keeps {read} read-only inside the writable root "
            f"{max(containing, key=len)}; this server's sandbox can only keep "
            f"{', '.join(PROTECTED_SUBPATHS)} read-only directly under a writable root"
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
