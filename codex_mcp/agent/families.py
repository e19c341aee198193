"""The model family catalogue: what each model was trained to expect from its harness.

A model is trained against one contract (the shell tool it calls, whether apply_patch is a
freeform tool, a JSON function or a shell heredoc, which request fields it accepts, how big
its window is).  Offering it another contract makes it call tools that do not exist or
send fields its endpoint rejects, so the contract is data here, in one table, and every
builder (tools, request fields, instructions) reads it from the resolved `ModelFamily`.

`resolve_family(slug, overrides)` is pure: the catalogue entry for the slug (longest
prefix that ends at a word boundary, so `gpt-5.5-mini` is gpt-5.5 but `gpt-5.7` is not
gpt-5), then the person's config on top.  A slug the catalogue does not know, and a family
whose native contract this server does not implement, come back with a warning the caller
shows to the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

ShellKind = Literal["unified_exec", "shell_command", "shell", "local_shell", "none"]
"""`unified_exec`: `exec_command` + `write_stdin`; `shell_command`: one command string run by
the login shell; `shell`: an argv array; `local_shell`: the Responses built-in."""
ApplyPatchKind = Literal["freeform", "function", "none"]
"""`none`: no tool; the model writes `apply_patch` heredocs through its shell tool."""
InstructionsKind = Literal["frontier", "codex", "compact", "classic"]
WebSearchMode = Literal["disabled", "cached", "live"]
WebSearchContent = Literal["text", "text_and_image"]
TruncationMode = Literal["bytes", "tokens"]

DEFAULT_MODEL = "gpt-5.5"
"""The slug used when the config names none: the newest family whose whole contract this
server implements (the reference's default, the gpt-5.6 family, speaks "code mode")."""

CONTEXT_WINDOW_272K = 272_000
EFFECTIVE_WINDOW_PERCENT = 95
"""Share of the context window reported as usable: the rest is headroom for the
instructions, tool specs and the model's own output."""

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra")
REASONING_SUMMARIES = ("auto", "concise", "detailed", "none")
VERBOSITIES = ("low", "medium", "high")
WEB_SEARCH_MODES: tuple[WebSearchMode, ...] = ("disabled", "cached", "live")


@dataclass(frozen=True)
class FamilySpec:
    """One catalogue entry: the contract a family of slugs was trained on."""

    name: str
    context_window: int | None = CONTEXT_WINDOW_272K
    reasoning: bool = True
    """Whether `reasoning` (and the encrypted reasoning include) is sent at all."""
    default_effort: str | None = None
    default_summary: str | None = "auto"
    """None or "none": no `summary` key unless the config asks for one."""
    verbosity: bool = False
    """Whether the endpoint accepts `text.verbosity` for this family."""
    default_verbosity: str | None = None
    parallel_tool_calls: bool = False
    shell: ShellKind = "unified_exec"
    apply_patch: ApplyPatchKind = "freeform"
    image_input: bool = True
    image_detail_original: bool = False
    web_search_content: WebSearchContent = "text"
    instructions: InstructionsKind = "frontier"
    truncation: tuple[TruncationMode, int] = ("tokens", 10_000)
    """How tool output is cut for this family (the exec output framing reads it)."""
    code_mode: bool = False
    """Trained on the reference's "code mode" contract, which this server does not implement."""


def _gpt5x(name: str, **kw: Any) -> FamilySpec:
    """The current frontier contract (gpt-5.4/5.5 as Codex 0.147 sends it)."""
    base: dict[str, Any] = {
        "default_effort": "medium",
        "default_summary": "none",
        "verbosity": True,
        "default_verbosity": "low",
        "parallel_tool_calls": True,
        "image_detail_original": True,
        "web_search_content": "text_and_image",
    }
    base.update(kw)
    return FamilySpec(name, **base)


def _codex(name: str, **kw: Any) -> FamilySpec:
    """The codex-tuned contract of gpt-5-codex .. gpt-5.1-codex-max: shell_command, freeform
    apply_patch, no verbosity (those endpoints reject anything but the default)."""
    base: dict[str, Any] = {
        "default_effort": "medium",
        "shell": "shell_command",
        "instructions": "codex",
    }
    base.update(kw)
    return FamilySpec(name, **base)


def _classic(name: str, **kw: Any) -> FamilySpec:
    """Models trained before the freeform tool: an argv `shell` tool, apply_patch written as a
    shell heredoc (the instructions explain the format), one call at a time."""
    base: dict[str, Any] = {
        "default_effort": "medium",
        "shell": "shell",
        "apply_patch": "none",
        "instructions": "classic",
        "truncation": ("bytes", 10_000),
    }
    base.update(kw)
    return FamilySpec(name, **base)


CATALOGUE: tuple[FamilySpec, ...] = (
    # The reference's default family: trained on "code mode" (tools inside an input item,
    # a JavaScript `exec` tool).  Served here with the gpt-5.5 contract and a warning.
    _gpt5x("gpt-5.6-sol", default_effort="low", code_mode=True),
    _gpt5x("gpt-5.6-terra", code_mode=True),
    _gpt5x("gpt-5.6-luna", code_mode=True),
    _gpt5x("gpt-5.6", code_mode=True),
    _gpt5x("gpt-5.5"),
    _gpt5x("gpt-5.4"),
    _gpt5x("gpt-5.4-mini", default_verbosity="medium", instructions="compact"),
    _gpt5x("gpt-5.3-codex", default_summary="auto", instructions="codex"),
    _gpt5x(
        "gpt-5.2",
        default_summary="auto",
        image_detail_original=False,
        web_search_content="text",
        truncation=("bytes", 10_000),
    ),
    _codex("gpt-5.2-codex", shell="unified_exec", parallel_tool_calls=True),
    _codex("gpt-5.1-codex-max"),
    _codex("gpt-5.1-codex-mini", instructions="compact"),
    _codex("gpt-5.1-codex"),
    FamilySpec(
        "gpt-5.1",
        default_effort="medium",
        verbosity=True,
        default_verbosity="low",
        parallel_tool_calls=True,
        shell="shell_command",
        truncation=("bytes", 10_000),
    ),
    _codex("gpt-5-codex-mini", instructions="compact"),
    _codex("gpt-5-codex"),
    # gpt-5 (and -mini, -nano, dated snapshots): accepts verbosity, sends none by default.
    _classic("gpt-5", verbosity=True),
    _classic("o3", context_window=200_000),
    _classic("o4-mini", context_window=200_000),
    _classic("codex-mini-latest", context_window=200_000, shell="local_shell"),
    _classic("gpt-4.1", context_window=1_047_576, reasoning=False, default_effort=None),
    _classic("gpt-4o", context_window=128_000, reasoning=False, default_effort=None),
    # Open-weight models, usually behind a Chat Completions endpoint: JSON tools only.
    _classic(
        "gpt-oss",
        context_window=96_000,
        reasoning=False,
        default_effort=None,
        apply_patch="function",
        image_input=False,
    ),
)

ALIASES: Mapping[str, str] = {"openai/gpt-oss": "gpt-oss"}

FALLBACK = FamilySpec(
    "fallback",
    default_summary="auto",
    instructions="classic",
    truncation=("bytes", 10_000),
)
"""What a slug outside the catalogue gets: the reference's fallback contract (unified exec,
reasoning summaries, one call at a time) with one difference: the freeform apply_patch tool
is offered too.  Every model able to call tools can use it, and one we know nothing about
is less likely to get a shell heredoc right than a tool whose grammar the request states."""

_BOUNDARIES = ("-", ":", "@", "_")


def _matches(slug: str, prefix: str) -> bool:
    return slug == prefix or (slug.startswith(prefix) and slug[len(prefix)] in _BOUNDARIES)


def find_spec(slug: str) -> FamilySpec | None:
    """The catalogue entry for `slug`: the longest name that is the slug or a prefix of it
    ending at a separator (`gpt-5.5-mini` -> gpt-5.5, `gpt-5.56` -> none)."""
    wanted = slug.strip().lower()
    for alias, target in ALIASES.items():
        if _matches(wanted, alias):
            wanted = target + wanted[len(alias) :]
    best: FamilySpec | None = None
    for spec in CATALOGUE:
        if _matches(wanted, spec.name) and (best is None or len(spec.name) > len(best.name)):
            best = spec
    return best


# --- overrides ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyOverrides:
    """The person's config that changes a family's contract; None means "not set"."""

    context_window: int | None = None
    auto_compact_token_limit: int | None = None
    supports_reasoning_summaries: bool | None = None
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    verbosity: str | None = None
    unified_exec: bool | None = None
    shell_tool: bool | None = None
    view_image: bool | None = None
    apply_patch_freeform: bool | None = None
    web_search: WebSearchMode | None = None


def _table(tree: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = tree.get(key)
    return value if isinstance(value, Mapping) else {}


def _typed(tree: Mapping[str, Any], path: str, kind: type | tuple[type, ...], warnings: list[str]) -> Any:
    """The value at dotted `path` when it has `kind` (bools never count as ints)."""
    *tables, key = path.split(".")
    node: Mapping[str, Any] = tree
    for name in tables:
        node = _table(node, name)
    if key not in node:
        return None
    value = node[key]
    bad_bool = isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
    if not isinstance(value, kind) or bad_bool:
        warnings.append(f"`{path}` = {value!r} has the wrong type and was ignored")
        return None
    return value


def _choice(tree: Mapping[str, Any], path: str, allowed: tuple[str, ...], warnings: list[str]) -> str | None:
    value = _typed(tree, path, str, warnings)
    if value is not None and value not in allowed:
        warnings.append(f"`{path}` = {value!r} is not one of {', '.join(allowed)}; it was ignored")
        return None
    return value  # type: ignore[no-any-return]


def web_search_mode(tree: Mapping[str, Any], warnings: list[str]) -> WebSearchMode | None:
    """The configured web search mode, from the current key or its older spellings.

    `web_search = "live" | "cached" | "disabled"` wins; then `[features] web_search_request`
    (true: live) and `web_search_cached` (true: cached); then `[tools] web_search` (true:
    live, false: disabled: an explicit "no" is honoured, unlike the reference, which ignores
    that key since it deprecated it).
    """
    mode = _choice(tree, "web_search", WEB_SEARCH_MODES, warnings)
    if mode is not None:
        return mode  # type: ignore[return-value]
    if _typed(tree, "features.web_search_request", bool, warnings):
        return "live"
    if _typed(tree, "features.web_search_cached", bool, warnings):
        return "cached"
    legacy = _typed(tree, "tools.web_search", bool, warnings)
    if legacy is not None:
        return "live" if legacy else "disabled"
    return None


def family_overrides(tree: Mapping[str, Any]) -> tuple[FamilyOverrides, list[str]]:
    """The overrides in a resolved config tree (profile already overlaid), and a warning for
    each value that was ignored because of its type or value."""
    warnings: list[str] = []
    positive = (int,)

    def count(path: str) -> int | None:
        value = _typed(tree, path, positive, warnings)
        if value is not None and value <= 0:
            warnings.append(f"`{path}` must be a positive number of tokens; {value} was ignored")
            return None
        return value  # type: ignore[no-any-return]

    effort = _typed(tree, "model_reasoning_effort", str, warnings)
    overrides = FamilyOverrides(
        context_window=count("model_context_window"),
        auto_compact_token_limit=count("model_auto_compact_token_limit"),
        supports_reasoning_summaries=_typed(tree, "model_supports_reasoning_summaries", bool, warnings),
        reasoning_effort=effort,
        reasoning_summary=_choice(tree, "model_reasoning_summary", REASONING_SUMMARIES, warnings),
        verbosity=_choice(tree, "model_verbosity", VERBOSITIES, warnings),
        unified_exec=_typed(tree, "features.unified_exec", bool, warnings),
        shell_tool=_typed(tree, "features.shell_tool", bool, warnings),
        view_image=_first_bool(tree, ("features.view_image", "tools.view_image"), warnings),
        apply_patch_freeform=_first_bool(
            tree, ("features.apply_patch_freeform", "include_apply_patch_tool"), warnings
        ),
        web_search=web_search_mode(tree, warnings),
    )
    return overrides, warnings


def _first_bool(tree: Mapping[str, Any], paths: tuple[str, ...], warnings: list[str]) -> bool | None:
    for path in paths:
        value = _typed(tree, path, bool, warnings)
        if value is not None:
            return bool(value)
    return None


# --- the resolved family -------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFamily:
    """A slug's contract after the config: what every request builder reads."""

    slug: str
    spec: FamilySpec
    known: bool
    context_window: int | None
    auto_compact_token_limit: int | None
    reasoning: bool
    reasoning_effort: str | None
    reasoning_summary: str | None
    """None: no `summary` key ("none" configured, or the family sends none by default)."""
    verbosity: str | None
    parallel_tool_calls: bool
    shell: ShellKind
    apply_patch: ApplyPatchKind
    view_image: bool
    image_detail_original: bool
    web_search: WebSearchMode
    web_search_content: WebSearchContent
    instructions: InstructionsKind
    truncation: tuple[TruncationMode, int]
    warnings: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def effective_context_window(self) -> int | None:
        """The window reported to clients (`task_started`, `token_count`): 95% of the raw one."""
        if self.context_window is None:
            return None
        return self.context_window * EFFECTIVE_WINDOW_PERCENT // 100

    @property
    def compact_token_limit(self) -> int | None:
        """Tokens after which history is compacted: configured, or 90% of the raw window."""
        if self.auto_compact_token_limit is not None:
            return self.auto_compact_token_limit
        return None if self.context_window is None else self.context_window * 9 // 10

    @property
    def needs_apply_patch_instructions(self) -> bool:
        """No apply_patch tool: the instructions must teach the heredoc form."""
        return self.apply_patch == "none"


def unknown_model_warning(slug: str) -> str:
    return (
        f"The model `{slug}` is not in this server's model catalogue, so it gets a generic "
        "contract (exec_command, the apply_patch tool, reasoning summaries, a 272k window). "
        "If it expects something else, set the model_* options in config.toml."
    )


def code_mode_warning(slug: str) -> str:
    return (
        f'The model `{slug}` was trained on Codex\'s "code mode" tool contract, which this '
        "server does not implement; it gets the classic tools of gpt-5.5 instead and may use "
        f"them less well. Choose `{DEFAULT_MODEL}` for the contract this server implements fully."
    )


def resolve_family(slug: str, overrides: FamilyOverrides | None = None) -> ModelFamily:
    """The contract for `slug` with the config applied on top (pure)."""
    o = overrides or FamilyOverrides()
    found = find_spec(slug)
    spec = found if found is not None else replace(FALLBACK, name=slug)
    warnings: list[str] = []
    if found is None:
        warnings.append(unknown_model_warning(slug))
    elif spec.code_mode:
        warnings.append(code_mode_warning(slug))

    reasoning = spec.reasoning if o.supports_reasoning_summaries is None else o.supports_reasoning_summaries
    effort = o.reasoning_effort if o.reasoning_effort is not None else spec.default_effort
    summary = o.reasoning_summary if o.reasoning_summary is not None else spec.default_summary
    if summary == "none":
        summary = None
    verbosity = None
    if spec.verbosity:
        verbosity = o.verbosity if o.verbosity is not None else spec.default_verbosity

    shell: ShellKind = spec.shell
    if o.shell_tool is False:
        shell = "none"
    elif o.unified_exec is True:
        shell = "unified_exec"
    elif o.unified_exec is False and shell == "unified_exec":
        shell = "shell_command"

    apply_patch: ApplyPatchKind = spec.apply_patch
    if o.apply_patch_freeform is True and apply_patch == "none":
        apply_patch = "freeform"
    elif o.apply_patch_freeform is False and apply_patch == "freeform":
        apply_patch = "function"

    return ModelFamily(
        slug=slug,
        spec=spec,
        known=found is not None,
        context_window=o.context_window if o.context_window is not None else spec.context_window,
        auto_compact_token_limit=o.auto_compact_token_limit,
        reasoning=reasoning,
        reasoning_effort=effort if reasoning else None,
        reasoning_summary=summary if reasoning else None,
        verbosity=verbosity,
        parallel_tool_calls=spec.parallel_tool_calls,
        shell=shell,
        apply_patch=apply_patch,
        view_image=spec.image_input if o.view_image is None else o.view_image and spec.image_input,
        image_detail_original=spec.image_detail_original,
        web_search=o.web_search if o.web_search is not None else "cached",
        web_search_content=spec.web_search_content,
        instructions=spec.instructions,
        truncation=spec.truncation,
        warnings=tuple(warnings),
    )
