"""Whether a session's process that has already exited ever ran.

A process session whose program could not be started, or whose sandbox could not be set
up, exits at once; the model must get the start error (in the reference's framing), not an
exit code as if its command had run and failed.
"""

from __future__ import annotations

import anyio

from codex_mcp.agent.exec.process import describe_os_error
from codex_mcp.agent.exec.session import ProcessSession
from codex_mcp.agent.exec.unified_api import CreateProcessError
from codex_mcp.sandbox.classify import is_setup_error
from codex_mcp.sandbox.launcher import LAUNCHER_EXIT_CODE, LAUNCHER_MARKER

__all__ = ["never_ran"]

BWRAP_STATUS_WAIT_S = 5.0


async def never_ran(session: ProcessSession) -> CreateProcessError | None:
    """The error for an exited `session` whose command never ran: the program could not be
    started, or its sandbox could not be set up; None when the command ran."""
    handle = session.started.handle
    if handle.spawn_error is not None:
        why = describe_os_error(handle.spawn_error)
        return CreateProcessError(f"Failed to create unified exec process: {why}")
    prepared = session.started.prepared
    if prepared is None or session.exit_code not in (1, LAUNCHER_EXIT_CODE):
        return None
    backend = prepared.backend
    text = session.transcript_text()
    lines = text.replace("\r", "").splitlines()
    if not any(line.startswith(("bwrap: ", LAUNCHER_MARKER)) for line in lines):
        return None
    if backend == "bwrap":  # its status says whether the command itself ran
        with anyio.move_on_after(BWRAP_STATUS_WAIT_S):
            await session.finished.wait()
        text = session.transcript_text()
    status = session.bwrap_status
    if not is_setup_error(backend, session.exit_code, text.replace("\r", ""), bwrap_status=status):
        return None
    return CreateProcessError(
        f"the sandbox ({backend}) could not be set up, so the command was not run: {text.strip()}",
        sandbox_setup=True,
    )
