"""The `shell` tool: decide (safety, approval), confine (sandbox), run, report.

The order is the security argument.  A command is first classified by the pure safety
check; anything not auto-approved waits for the user's decision; every command runs in the
platform sandbox of the session's boundary unless the person approved it explicitly; and if a
sandbox is required but cannot be set up, the command does not run at all (fail closed).  An
approved command that runs outside the sandbox is first hardened against files the sandbox
could have planted (`confine.harden_unsandboxed`).
"""

from __future__ import annotations

import base64
import shlex
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from codex_mcp.agent import events as ev
from codex_mcp.agent.apply_patch.fsops import resolve_real
from codex_mcp.agent.exec import (
    ExecOutput,
    ExecParams,
    format_exec_output_for_model,
    format_exec_output_str,
    run_exec,
)
from codex_mcp.agent.handlers.confine import (
    UnsandboxedRefused,
    command_env,
    harden_unsandboxed,
    session_boundary,
)
from codex_mcp.agent.handlers.context import HandlerContext, rejection_text
from codex_mcp.agent.handlers.patch import handle_shell_patch
from codex_mcp.agent.network import notes_text
from codex_mcp.sandbox.boundary import Boundary, BoundaryError, is_within
from codex_mcp.sandbox.safety import AskUser, AutoApprove, Reject, SafetyCheck, assess_command_safety

if TYPE_CHECKING:
    from codex_mcp.sandbox.policy import SandboxPolicy
    from codex_mcp.sandbox.select import PreparedCommand

REJECTED_BY_USER = "exec command rejected by user"
RETRY_REASON = "command failed; retry without sandbox?"


def parsed_command(argv: list[str]) -> list[dict[str, Any]]:
    script = (
        argv[2]
        if len(argv) == 3 and argv[1] in ("-lc", "-c") and Path(argv[0]).name in ("bash", "zsh", "sh")
        else None
    )
    return [{"type": "unknown", "cmd": script if script is not None else shlex.join(argv)}]


def _parse_args(args: dict[str, Any], base_cwd: Path) -> tuple[list[str], Path, int | None, bool, str | None]:
    command = args.get("command")
    if isinstance(command, str):
        command = ["bash", "-lc", command]
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        raise ValueError("`command` must be a non-empty array of strings")
    workdir = args.get("workdir")
    cwd = base_cwd if not workdir else (base_cwd / str(workdir))
    timeout = args.get("timeout_ms", args.get("timeout"))
    timeout_ms = int(timeout) if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) else None
    escalated = (
        bool(args.get("with_escalated_permissions")) or args.get("sandbox_permissions") == "require_escalated"
    )
    justification = args.get("justification")
    return command, cwd, timeout_ms, escalated, justification if isinstance(justification, str) else None


async def handle_shell(ctx: HandlerContext, call_id: str, args: dict[str, Any]) -> str:
    config = ctx.config
    try:
        argv, cwd, timeout_ms, escalated, justification = _parse_args(args, config.cwd)
    except (ValueError, TypeError) as exc:
        return f"failed to parse function arguments: {exc}"

    from codex_mcp.agent.apply_patch import extract_apply_patch

    shell_patch = extract_apply_patch(argv, cwd)
    if shell_patch is not None:
        return await handle_shell_patch(ctx, call_id, shell_patch)

    policy = config.approval_policy
    if escalated and policy != "on-request":
        return (
            f"approval policy is {policy}; reject command — you should not ask for escalated permissions "
            f"if the approval policy is {policy}"
        )
    from codex_mcp.sandbox import sandbox_available

    env = command_env(config)
    try:
        boundary = session_boundary(config, env, ctx.network)
    except BoundaryError as exc:
        return f"execution error: sandbox unavailable, the command was not run: {exc}"
    available = config.sandbox_policy.is_full_access or sandbox_available()
    ruled = await _rules_decision(config.codex_home, boundary, argv, policy, escalated or not available)
    if isinstance(ruled, str):
        return ruled
    check = ruled or assess_command_safety(
        argv, policy, config.sandbox_policy, ctx.grants.commands, escalated, available, env.get("PATH")
    )
    if isinstance(check, Reject):
        return check.reason
    sandboxed = isinstance(check, AutoApprove) and check.run_sandboxed
    if isinstance(check, AskUser):
        rejected = await _ask(ctx, call_id, argv, cwd, justification if escalated else None)
        if rejected is not None:
            return rejected
        # Only the person's explicit approval runs a command outside the sandbox, as in Codex.
        sandboxed = False

    run = _Run(ctx, call_id, argv, cwd, timeout_ms, env, boundary)
    out, setup_error = await run.start(sandboxed)
    if setup_error is not None:
        return f"execution error: {setup_error}"
    assert out is not None
    if sandboxed and policy in ("on-failure", "untrusted") and _looks_denied(config.sandbox_policy, out):
        await ctx.emit(ev.background_event(f"Execution failed: exit code {out.exit_code}"))
        rejected = await _ask(ctx, call_id, argv, cwd, RETRY_REASON)
        if rejected is not None:
            return rejected
        ctx.grants.commands.add(tuple(argv))
        await ctx.emit(ev.background_event("retrying command without sandbox"))
        out, setup_error = await run.start(sandboxed=False)
        if setup_error is not None or out is None:
            return f"retry failed: {setup_error}"
    return format_exec_output_for_model(out)


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


def _looks_denied(sandbox_policy: Any, out: ExecOutput) -> bool:
    from codex_mcp.sandbox.denial import is_likely_sandbox_denied

    return bool(is_likely_sandbox_denied(sandbox_policy, out.exit_code, out.stdout, out.stderr))


async def _ask(
    ctx: HandlerContext, call_id: str, argv: list[str], cwd: Path, reason: str | None
) -> str | None:
    """Ask the user.  None when approved, else the rejection text.  `abort` ends the turn."""
    request = ev.exec_approval_request(call_id, ctx.turn_id, argv, str(cwd), parsed_command(argv), reason)
    decision = await ctx.ask_approval(request)
    if not decision.approved:
        return rejection_text(REJECTED_BY_USER, decision.reason)
    if decision.decision == "approved_for_session":
        ctx.grants.commands.add(tuple(argv))
    return None


class _Run:
    """One command of one tool call, run sandboxed or (after approval) hardened without."""

    def __init__(
        self,
        ctx: HandlerContext,
        call_id: str,
        argv: list[str],
        cwd: Path,
        timeout_ms: int | None,
        env: dict[str, str],
        boundary: Boundary,
    ) -> None:
        self.ctx, self.call_id, self.argv, self.cwd = ctx, call_id, argv, cwd
        self.timeout_ms, self.env, self.boundary = timeout_ms, env, boundary

    async def start(self, sandboxed: bool) -> tuple[ExecOutput | None, str | None]:
        """Run; returns (output, None) or (None, why it could not run)."""
        config = self.ctx.config
        argv, cwd, env = self.argv, self.cwd, dict(self.env)
        if not await anyio.Path(cwd).is_dir():
            return None, f"the working directory {cwd} does not exist"
        run_argv = list(argv)
        pass_fds: tuple[int, ...] = ()
        prepared: PreparedCommand | None = None
        if sandboxed:
            from codex_mcp.sandbox import SandboxUnavailableError, prepare_command

            try:
                # The boundary comes from the session (its configured cwd and policy), never
                # from the directory this one command runs in.
                prepared = prepare_command(argv, self.boundary, cwd, env)
            except SandboxUnavailableError as exc:
                return None, f"sandbox unavailable, the command was not run: {exc}"
            run_argv, env, pass_fds = list(prepared.argv), dict(prepared.env), tuple(prepared.pass_fds)
        else:
            try:
                hardened = harden_unsandboxed(argv, env, str(cwd), self.boundary)
            except UnsandboxedRefused as exc:
                return None, str(exc)
            run_argv, env = hardened.argv, hardened.env
            for note in hardened.notes:
                await self.ctx.emit(ev.background_event(note))
        return await self._exec(run_argv, env, pass_fds, prepared, config.sandbox_policy)

    async def _exec(
        self,
        run_argv: list[str],
        env: dict[str, str],
        pass_fds: tuple[int, ...],
        prepared: PreparedCommand | None,
        sandbox_policy: SandboxPolicy,
    ) -> tuple[ExecOutput | None, str | None]:
        emit = self.ctx.emit
        begin = ev.exec_command_begin(
            self.call_id, self.ctx.turn_id, self.argv, str(self.cwd), parsed_command(self.argv)
        )
        await emit(begin)
        call_id = self.call_id

        async def on_output(stream: str, chunk: bytes) -> None:
            await emit(ev.exec_command_output_delta(call_id, stream, base64.b64encode(chunk).decode("ascii")))

        started = time.monotonic()
        status: str | None = None
        try:
            out = await run_exec(ExecParams(run_argv, self.cwd, env, self.timeout_ms, pass_fds), on_output)
            if prepared is not None:
                status = prepared.read_status()
        finally:
            if prepared is not None:
                prepared.close()
        notes = prepared.network_notes() if prepared is not None else []
        if notes:
            # The model hears why a host was refused, whatever the program printed about it.
            out = replace(out, aggregated_output=out.aggregated_output + notes_text(notes))
        if prepared is not None:
            from codex_mcp.sandbox import classify_result

            verdict = classify_result(
                prepared.backend,
                out.exit_code,
                out.stderr,
                stdout=out.stdout,
                policy=sandbox_policy,
                bwrap_status=status,
            )
            if verdict == "setup_error":
                return None, (
                    f"the sandbox ({prepared.backend}) could not be set up, so the command was not run: "
                    f"{out.stderr.strip()}"
                )
        end = ev.exec_command_end(
            begin,
            stdout=out.stdout,
            stderr=out.stderr,
            aggregated_output=out.aggregated_output,
            exit_code=out.exit_code,
            seconds=time.monotonic() - started,
            formatted_output=format_exec_output_str(out),
        )
        await emit(end)
        return out, None
