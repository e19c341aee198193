"""Whether and how a command of the model may run: rules, safety, the person's approval.

Every shell tool (`shell`, `shell_command`, `exec_command`) passes its argv through
`clear_command` before anything runs, so they share one security argument:

1. an escalation request (`sandbox_permissions: require_escalated`) is only possible under
   `on-request`;
2. the session's boundary and the command's environment are computed (the boundary from the
   session's configured cwd and policy, never from the directory one command runs in; a
   boundary that cannot be kept runs nothing);
3. the exec-policy rules decide first (`forbidden` rejects, `prompt` asks, `allow` spares the
   question but keeps the sandbox, and only when the model could not have written the rules);
4. then the person's grants for the session (an identical command, or a command prefix they
   approved), then the safety check of the approval policy;
5. anything left to ask goes to the person, with the model's justification and, when the
   model proposed one, a command prefix they may approve for later commands too.  An
   unanswered, dismissed or refused question denies that one command.

Only the person's explicit approval (now or for the session) runs a command outside the
sandbox; the caller then hardens it with `confine.harden_unsandboxed`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread

from codex_mcp.agent import events as ev
from codex_mcp.agent.apply_patch.fsops import resolve_real
from codex_mcp.agent.handlers.confine import command_env, session_boundary
from codex_mcp.agent.handlers.context import HandlerContext, rejection_text
from codex_mcp.sandbox.boundary import Boundary, BoundaryError, is_within
from codex_mcp.sandbox.rules import PrefixRule, RuleSet
from codex_mcp.sandbox.safety import AskUser, AutoApprove, Reject, SafetyCheck, assess_command_safety

__all__ = [
    "RETRY_REASON",
    "Cleared",
    "Refused",
    "ask_person",
    "clear_command",
    "escalation_refusal",
    "parsed_command",
    "proposed_amendment",
    "rules_writable_by_sandbox",
]

RETRY_REASON = "command failed; retry without sandbox?"
MAX_PREFIX_WORDS = 16
MAX_PREFIX_WORD_CHARS = 256

# A prefix starting with one of these would let any program run: the shell wrappers (whose
# scripts the rules look into only when they are simple) and the programs that run another.
# fmt: off
_RUNS_ANYTHING = frozenset([
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "csh", "tcsh", "busybox", "env", "sudo", "su",
    "doas", "pkexec", "runuser", "setpriv", "xargs", "nohup", "timeout", "nice", "ionice", "setsid",
    "stdbuf", "time", "exec", "eval", "command", "builtin", "chroot", "unshare", "nsenter", "flock",
    "watch", "strace", "ltrace", "gdb", "script", "expect", "parallel", "find",
])
# Interpreters: a prefix must name more than the interpreter and not its inline-code flag.
_INTERPRETERS = frozenset([
    "python", "python2", "python3", "pypy", "pypy3", "node", "nodejs", "deno", "bun", "perl", "ruby",
    "php", "lua", "luajit", "Rscript", "java", "jshell", "osascript", "pwsh", "powershell", "awk",
    "gawk", "mawk", "sed", "tclsh", "wish",
])
# fmt: on
_INLINE_FLAGS = frozenset(["-c", "-e", "-E", "-p", "-r", "--eval", "--print", "--command", "-", "-i"])


@dataclass(frozen=True)
class Cleared:
    """The command may run: in the sandbox of `boundary` (`sandboxed`), or outside it because
    the person approved (`asked`: they were asked for this very command)."""

    sandboxed: bool
    boundary: Boundary
    env: dict[str, str]
    asked: bool = False


@dataclass(frozen=True)
class Refused:
    """The command does not run; `message` is for the model.  `by_user` when the person (or
    the host on their behalf) said no, `reason` then why the host decided for them."""

    message: str
    by_user: bool = False
    reason: str | None = None


def parsed_command(argv: Sequence[str]) -> list[dict[str, Any]]:
    script = (
        argv[2]
        if len(argv) == 3 and argv[1] in ("-lc", "-c") and Path(argv[0]).name in ("bash", "zsh", "sh", "dash")
        else None
    )
    return [{"type": "unknown", "cmd": script if script is not None else shlex.join(argv)}]


def escalation_refusal(policy: str) -> str:
    return (
        f"approval policy is {policy}; reject command — you should not ask for escalated permissions "
        f"if the approval policy is {policy}"
    )


async def clear_command(
    ctx: HandlerContext,
    call_id: str,
    argv: list[str],
    cwd: Path,
    *,
    escalated: bool,
    justification: str | None,
    prefix_rule: Sequence[str] | None = None,
) -> Cleared | Refused:
    """Decide whether `argv` runs and where (see the module docstring for the order)."""
    config = ctx.config
    policy = config.approval_policy
    if escalated and policy != "on-request":
        return Refused(escalation_refusal(policy))
    from codex_mcp.sandbox import sandbox_available

    env = command_env(config)
    try:
        boundary = session_boundary(config, env)
    except BoundaryError as exc:
        return Refused(f"execution error: sandbox unavailable, the command was not run: {exc}")
    available = config.sandbox_policy.is_full_access or sandbox_available()
    ruled = await _rules_decision(config.codex_home, boundary, argv, policy, escalated or not available)
    if isinstance(ruled, str):
        return Refused(ruled)
    check = ruled
    if check is None and prefix_granted(ctx.grants.prefixes, argv):
        check = AutoApprove(run_sandboxed=False)  # the person approved this prefix for the session
    if check is None:
        check = assess_command_safety(
            argv, policy, config.sandbox_policy, ctx.grants.commands, escalated, available, env.get("PATH")
        )
    if isinstance(check, Reject):
        return Refused(check.reason)
    if isinstance(check, AskUser):
        amendment = proposed_amendment(prefix_rule, argv)
        refused = await ask_person(
            ctx, call_id, argv, cwd, justification if escalated else None, amendment=amendment
        )
        if refused is not None:
            return refused
        # Only the person's explicit approval runs a command outside the sandbox, as in Codex.
        return Cleared(sandboxed=False, boundary=boundary, env=env, asked=True)
    sandboxed = isinstance(check, AutoApprove) and check.run_sandboxed
    return Cleared(sandboxed=sandboxed, boundary=boundary, env=env)


async def ask_person(
    ctx: HandlerContext,
    call_id: str,
    argv: list[str],
    cwd: Path,
    reason: str | None,
    *,
    amendment: list[str] | None = None,
) -> Refused | None:
    """Ask the person; None when approved, else the refusal.  An `abort` ends the turn (the
    cancellation lands in `ask_approval`).  An approval for the session remembers the exact
    argv; an approval of the proposed amendment remembers the prefix."""
    request = ev.exec_approval_request(
        call_id, ctx.turn_id, argv, str(cwd), parsed_command(argv), reason, proposed_amendment=amendment
    )
    decision = await ctx.ask_approval(request)
    if not decision.approved:
        return Refused(
            rejection_text("exec command rejected by user", decision.reason),
            by_user=True,
            reason=decision.reason,
        )
    if decision.decision == "approved_for_session":
        ctx.grants.commands.add(tuple(argv))
    if decision.amendment and amendment:
        ctx.grants.prefixes.add(tuple(amendment))
    return None


# ---- command prefixes the model proposes (`prefix_rule`) ------------------------------------


def _as_rule(prefix: Sequence[str]) -> RuleSet:
    pattern = tuple((word,) for word in prefix)
    return RuleSet((PrefixRule(pattern, "allow", None, "approved for this session"),))


def prefix_granted(prefixes: set[tuple[str, ...]], argv: Sequence[str]) -> bool:
    """Whether the approved prefixes cover `argv` as `allow` rules would: every command of a
    simple script must start with one of them; any other script counts as the argv it is."""
    if not prefixes:
        return False
    rules = RuleSet(tuple(rule for prefix in prefixes for rule in _as_rule(prefix).rules))
    match = rules.evaluate(argv)
    return match is not None and match.decision == "allow"


def proposed_amendment(prefix_rule: Sequence[str] | None, argv: Sequence[str]) -> list[str] | None:
    """The model's `prefix_rule`, when it may be put to the person: a few plain words that
    cover this very command, and not a prefix that would let anything run (a shell, a
    program that runs another, an interpreter with nothing after it or with inline code).
    None otherwise: the question is then about this command alone."""
    if not prefix_rule or len(prefix_rule) > MAX_PREFIX_WORDS:
        return None
    words = list(prefix_rule)
    for word in words:
        if not word or len(word) > MAX_PREFIX_WORD_CHARS or any(c in word for c in "\0\n\r"):
            return None
    program = Path(words[0]).name
    if program in _RUNS_ANYTHING:
        return None
    interpreter = program in _INTERPRETERS or program.startswith(("python", "pypy", "node", "ruby", "perl"))
    if interpreter and (len(words) == 1 or words[1] in _INLINE_FLAGS or words[1:] == ["-m"]):
        return None
    if not prefix_granted({tuple(words)}, argv):
        return None
    return words


# ---- the rules files ----------------------------------------------------------------------


async def _rules_decision(
    codex_home: Path, boundary: Boundary, argv: list[str], policy: str, ask_instead_of_allow: bool
) -> SafetyCheck | str | None:
    """What `$CODEX_HOME/rules` say, before the approval policy: a check, a rejection text
    for the model, or None when the policy decides.

    `forbidden` rejects and `prompt` always asks (and cannot, under `never`), as in Codex.
    `allow` only spares the question: the command still runs in the sandbox.  It is ignored
    (the policy decides) for an escalation request or when no sandbox is available, and when
    the rules directory lies where the sandbox can write, since the model could have written
    it: such rules may only make things stricter.
    """
    from codex_mcp.sandbox.rules import (
        PROMPT_UNDER_NEVER_REASON,
        RulesError,
        forbidden_reason,
        rules_for_home,
    )

    try:
        rules = await anyio.to_thread.run_sync(rules_for_home, codex_home)
        match = rules.evaluate(argv)
    except RulesError as exc:
        return f"execution error: the rules in {codex_home / 'rules'} cannot be read, so nothing runs: {exc}"
    if match is None:
        return None
    if match.decision == "forbidden":
        return forbidden_reason(argv, match)
    if match.decision == "prompt":
        return PROMPT_UNDER_NEVER_REASON if policy == "never" else AskUser()
    if ask_instead_of_allow or rules_writable_by_sandbox(codex_home, boundary):
        return None
    return AutoApprove(run_sandboxed=not boundary.is_full_access)


def rules_writable_by_sandbox(codex_home: Path, boundary: Boundary) -> bool:
    """Whether the rules directory lies inside a writable root of the session (whatever
    carve-out the backend may or may not enforce there)."""
    if boundary.is_full_access:
        return False
    try:
        real = resolve_real(str(codex_home / "rules"))
    except (OSError, ValueError):
        return True
    return any(is_within(real, root) for root in boundary.writable_roots)
