"""One-shot commands: the `shell` tool (an argv), and the runner `shell_command` shares.

The order is the security argument.  A command is first cleared by `command_gate` (rules,
safety, the person's approval); every command runs in the platform sandbox of the session's
boundary unless the person approved it explicitly; and if a sandbox is required but cannot
be set up, the command does not run at all (fail closed).  An approved command that runs
outside the sandbox is first hardened against files the sandbox could have planted
(`confine.harden_unsandboxed`).  Not offered to current models any more (they get
`exec_command` or `shell_command`), but still served: a model trained on it may call it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from codex_mcp.agent import events as ev
from codex_mcp.agent.exec import (
    ExecOutput,
    ExecParams,
    format_exec_output_for_model,
    format_exec_output_str,
    run_exec,
)
from codex_mcp.agent.handlers.command_gate import (
    RETRY_REASON,
    Cleared,
    Refused,
    ask_person,
    clear_command,
    parsed_command,
)
from codex_mcp.agent.handlers.confine import UnsandboxedRefused, harden_unsandboxed
from codex_mcp.agent.handlers.context import HandlerContext
from codex_mcp.agent.handlers.patch import handle_shell_patch
from codex_mcp.agent.network import notes_text
from codex_mcp.sandbox.boundary import Boundary

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import ExecCommandBegin, ExecCommandEnd
    from codex_mcp.sandbox.policy import SandboxPolicy
    from codex_mcp.sandbox.select import PreparedCommand

REJECTED_BY_USER = "exec command rejected by user"


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

    cleared = await clear_command(ctx, call_id, argv, cwd, escalated=escalated, justification=justification)
    if isinstance(cleared, Refused):
        return cleared.message
    out, error = await run_one_shot(ctx, call_id, argv, cwd, timeout_ms, cleared)
    if error is not None or out is None:
        return error or "execution error"
    return format_exec_output_for_model(out)


async def run_one_shot(
    ctx: HandlerContext,
    call_id: str,
    argv: list[str],
    cwd: Path,
    timeout_ms: int | None,
    cleared: Cleared,
    *,
    shown: ShowExec | None = None,
) -> tuple[ExecOutput | None, str | None]:
    """Run a cleared one-shot command; when the sandbox seems to have denied it under a
    policy that allows it, ask to retry without the sandbox.  (output, None) or (None, the
    text for the model)."""
    policy = ctx.config.approval_policy
    run = _Run(ctx, call_id, argv, cwd, timeout_ms, cleared.env, cleared.boundary, shown)
    out, setup_error = await run.start(cleared.sandboxed)
    if setup_error is not None:
        return None, f"execution error: {setup_error}"
    assert out is not None
    if (
        cleared.sandboxed
        and policy in ("on-failure", "untrusted")
        and _looks_denied(ctx.config.sandbox_policy, out)
    ):
        await ctx.emit(ev.background_event(f"Execution failed: exit code {out.exit_code}"))
        refused = await ask_person(ctx, call_id, argv, cwd, RETRY_REASON)
        if refused is not None:
            return None, refused.message
        ctx.grants.commands.add(tuple(argv))
        await ctx.emit(ev.background_event("retrying command without sandbox"))
        out, setup_error = await run.start(sandboxed=False)
        if setup_error is not None or out is None:
            return None, f"retry failed: {setup_error}"
    return out, None


def _looks_denied(sandbox_policy: Any, out: ExecOutput) -> bool:
    from codex_mcp.sandbox.denial import is_likely_sandbox_denied

    return bool(is_likely_sandbox_denied(sandbox_policy, out.exit_code, out.stdout, out.stderr))


@dataclass(frozen=True)
class ShowExec:
    """How a one-shot command of the current tools (`shell_command`) is reported: the 0.147
    events (`source: agent`, no process id) and the end event's `formatted_output`.  Without
    it, the `shell` tool's events and output."""

    format_output: Callable[[ExecOutput], str]


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
        shown: ShowExec | None = None,
    ) -> None:
        self.ctx, self.call_id, self.argv, self.cwd = ctx, call_id, argv, cwd
        self.timeout_ms, self.env, self.boundary, self.shown = timeout_ms, env, boundary, shown

    async def start(self, sandboxed: bool) -> tuple[ExecOutput | None, str | None]:
        """Run; returns (output, None) or (None, why it could not run)."""
        argv, cwd, env = self.argv, self.cwd, dict(self.env)
        if not await anyio.Path(cwd).is_dir():
            return None, f"the working directory {cwd} does not exist"
        from codex_mcp.agent.exec.budget import ProcessLimitError

        try:
            # A one-shot command counts against the server's process budget while it runs,
            # like a session's process: threads cannot add up past the server's limit.
            slot = self.ctx.sessions.take_slot() if self.ctx.sessions is not None else None
        except ProcessLimitError as exc:
            return None, str(exc)
        try:
            return await self._start(argv, cwd, env, sandboxed)
        finally:
            if slot is not None:
                slot.release()

    async def _start(
        self, argv: list[str], cwd: Path, env: dict[str, str], sandboxed: bool
    ) -> tuple[ExecOutput | None, str | None]:
        config = self.ctx.config
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

    def _begin(self) -> ExecCommandBegin:
        parsed = parsed_command(self.argv)
        if self.shown is None:
            return ev.exec_command_begin(self.call_id, self.ctx.turn_id, self.argv, str(self.cwd), parsed)
        return ev.session_exec_begin(
            call_id=self.call_id, turn_id=self.ctx.turn_id, process_id=None, command=self.argv, cwd=self.cwd,
            parsed_cmd=parsed, started_at_ms=int(time.time() * 1000), source=ev.SOURCE_AGENT,
        )  # fmt: skip

    def _end(self, begin: ExecCommandBegin, out: ExecOutput, seconds: float) -> ExecCommandEnd:
        if self.shown is None:
            return ev.exec_command_end(
                begin, stdout=out.stdout, stderr=out.stderr, aggregated_output=out.aggregated_output,
                exit_code=out.exit_code, seconds=seconds, formatted_output=format_exec_output_str(out),
            )  # fmt: skip
        return ev.session_exec_end(
            call_id=self.call_id, turn_id=self.ctx.turn_id, process_id=None, command=self.argv, cwd=self.cwd,
            parsed_cmd=begin["parsed_cmd"], stdout=out.stdout, stderr=out.stderr,
            aggregated_output=out.aggregated_output, formatted_output=self.shown.format_output(out),
            exit_code=out.exit_code, duration_s=seconds, source=ev.SOURCE_AGENT,
        )  # fmt: skip

    async def _exec(
        self,
        run_argv: list[str],
        env: dict[str, str],
        pass_fds: tuple[int, ...],
        prepared: PreparedCommand | None,
        sandbox_policy: SandboxPolicy,
    ) -> tuple[ExecOutput | None, str | None]:
        emit = self.ctx.emit
        begin = self._begin()
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
        await emit(self._end(begin, out, time.monotonic() - started))
        return out, None
