"""`update_plan`: the model's checklist, relayed to the client as `plan_update`.

A plan is "a few short steps"; the caps (`MAX_PLAN_STEPS`, `MAX_PLAN_STEP_CHARS`,
`MAX_PLAN_EXPLANATION_CHARS`) are far above that and keep one call from becoming an event
of hundreds of MiB that every client has to take in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codex_mcp.agent import events as ev
from codex_mcp.agent.handlers.context import HandlerContext
from codex_mcp.agent.limits import MAX_PLAN_EXPLANATION_CHARS, MAX_PLAN_STEP_CHARS, MAX_PLAN_STEPS

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import PlanStep, PlanUpdate

STATUSES = ("pending", "in_progress", "completed")


def validate_plan(args: dict[str, Any]) -> PlanUpdate:
    """The `plan_update` payload for valid arguments; ValueError naming the problem otherwise."""
    plan = args.get("plan")
    if not isinstance(plan, list):
        raise ValueError("`plan` must be an array of {step, status} objects")
    if len(plan) > MAX_PLAN_STEPS:
        raise ValueError(f"`plan` has {len(plan)} steps; at most {MAX_PLAN_STEPS} are accepted")
    steps: list[PlanStep] = []
    for index, entry in enumerate(plan):
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), str):
            raise ValueError(f"plan[{index}] needs a string `step`")
        if len(entry["step"]) > MAX_PLAN_STEP_CHARS:
            raise ValueError(
                f"plan[{index}].step is {len(entry['step'])} characters; at most "
                f"{MAX_PLAN_STEP_CHARS} are accepted"
            )
        if entry.get("status") not in STATUSES:
            raise ValueError(f"plan[{index}].status must be one of {', '.join(STATUSES)}")
        steps.append({"step": entry["step"], "status": entry["status"]})
    explanation = args.get("explanation")
    if not isinstance(explanation, str):
        return ev.plan_update(steps)
    if len(explanation) > MAX_PLAN_EXPLANATION_CHARS:
        raise ValueError(
            f"`explanation` is {len(explanation)} characters; at most "
            f"{MAX_PLAN_EXPLANATION_CHARS} are accepted"
        )
    return ev.plan_update(steps, explanation)


async def handle_update_plan(ctx: HandlerContext, args: dict[str, Any]) -> str:
    try:
        payload = validate_plan(args)
    except ValueError as exc:
        return f"failed to parse function arguments: {exc}"
    await ctx.emit(payload)
    return "Plan updated"
