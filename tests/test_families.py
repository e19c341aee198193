"""The model family catalogue and the config on top of it (pure functions).

The numbers for the slugs Codex 0.147 knows (gpt-5.5, gpt-5.4, gpt-5.4-mini, gpt-5.2, and
its fallback for unknown slugs) are what it sends, measured on the wire; the older
families get the contract they were trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codex_mcp.agent.config import CallOverrides, load_config
from codex_mcp.agent.config.ceiling import CallCeiling, CallRefused, check_call_config
from codex_mcp.agent.families import (
    CATALOGUE,
    DEFAULT_MODEL,
    FamilyOverrides,
    family_overrides,
    find_spec,
    resolve_family,
)


@pytest.mark.parametrize(
    ("slug", "family"),
    [
        ("gpt-5.5", "gpt-5.5"),
        ("gpt-5.5-mini", "gpt-5.5"),
        ("gpt-5.5-2026-04-01", "gpt-5.5"),
        ("gpt-5.4", "gpt-5.4"),
        ("gpt-5.4-mini", "gpt-5.4-mini"),
        ("gpt-5.3-codex", "gpt-5.3-codex"),
        ("gpt-5.3-codex-spark", "gpt-5.3-codex"),
        ("gpt-5.2", "gpt-5.2"),
        ("gpt-5.2-codex", "gpt-5.2-codex"),
        ("gpt-5.1", "gpt-5.1"),
        ("gpt-5.1-codex", "gpt-5.1-codex"),
        ("gpt-5.1-codex-max", "gpt-5.1-codex-max"),
        ("gpt-5.1-codex-mini", "gpt-5.1-codex-mini"),
        ("gpt-5-codex", "gpt-5-codex"),
        ("gpt-5-codex-mini", "gpt-5-codex-mini"),
        ("gpt-5", "gpt-5"),
        ("gpt-5-mini", "gpt-5"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("o3", "o3"),
        ("o3-pro", "o3"),
        ("o4-mini", "o4-mini"),
        ("codex-mini-latest", "codex-mini-latest"),
        ("gpt-4.1", "gpt-4.1"),
        ("gpt-4.1-mini", "gpt-4.1"),
        ("gpt-4o", "gpt-4o"),
        ("gpt-oss-120b", "gpt-oss"),
        ("gpt-oss:20b", "gpt-oss"),
        ("openai/gpt-oss-20b", "gpt-oss"),
        ("GPT-5.5", "gpt-5.5"),
        ("gpt-5.6-sol", "gpt-5.6-sol"),
        ("gpt-5.6-terra", "gpt-5.6-terra"),
        ("gpt-5.6-luna", "gpt-5.6-luna"),
        ("gpt-5.6-nova", "gpt-5.6"),
    ],
)
def test_slugs_find_their_family_by_the_longest_prefix_at_a_separator(slug: str, family: str) -> None:
    spec = find_spec(slug)
    assert spec is not None and spec.name == family


@pytest.mark.parametrize("slug", ["mock-model", "gpt-5.7", "gpt-5.56", "gpt-50", "o30", "o4", "codex", ""])
def test_a_prefix_without_a_separator_is_another_model(slug: str) -> None:
    """`gpt-5.7` must not be served gpt-5's 2025 contract just because it starts with `gpt-5`."""
    assert find_spec(slug) is None
    family = resolve_family(slug)
    assert not family.known and len(family.warnings) == 1
    assert f"`{slug}`" in family.warnings[0] and "catalogue" in family.warnings[0]


def test_catalogue_names_are_unique_and_lowercase() -> None:
    names = [spec.name for spec in CATALOGUE]
    assert len(names) == len(set(names)) and all(n == n.lower() for n in names)


@pytest.mark.parametrize(
    ("slug", "effort", "summary", "verbosity", "parallel", "shell", "patch", "detail"),
    [
        # Measured from codex 0.147 on the wire.
        ("gpt-5.5", "medium", None, "low", True, "unified_exec", "freeform", True),
        ("gpt-5.4", "medium", None, "low", True, "unified_exec", "freeform", True),
        ("gpt-5.4-mini", "medium", None, "medium", True, "unified_exec", "freeform", True),
        ("gpt-5.2", "medium", "auto", "low", True, "unified_exec", "freeform", False),
        # The fallback, plus the apply_patch tool (see families.FALLBACK).
        ("mock-model", None, "auto", None, False, "unified_exec", "freeform", False),
        # The contracts these families were trained on.
        ("gpt-5.3-codex", "medium", "auto", "low", True, "unified_exec", "freeform", True),
        ("gpt-5.2-codex", "medium", "auto", None, True, "unified_exec", "freeform", False),
        ("gpt-5.1-codex-max", "medium", "auto", None, False, "shell_command", "freeform", False),
        ("gpt-5.1-codex", "medium", "auto", None, False, "shell_command", "freeform", False),
        ("gpt-5.1", "medium", "auto", "low", True, "shell_command", "freeform", False),
        ("gpt-5-codex", "medium", "auto", None, False, "shell_command", "freeform", False),
        ("gpt-5", "medium", "auto", None, False, "shell", "none", False),
        ("o3", "medium", "auto", None, False, "shell", "none", False),
        ("o4-mini", "medium", "auto", None, False, "shell", "none", False),
        ("codex-mini-latest", "medium", "auto", None, False, "local_shell", "none", False),
        ("gpt-4.1", None, None, None, False, "shell", "none", False),
        ("gpt-4o", None, None, None, False, "shell", "none", False),
        ("gpt-oss-120b", None, None, None, False, "shell", "function", False),
    ],
)
def test_each_family_gets_its_contract(
    slug: str,
    effort: str | None,
    summary: str | None,
    verbosity: str | None,
    parallel: bool,
    shell: str,
    patch: str,
    detail: bool,
) -> None:
    f = resolve_family(slug)
    assert (f.reasoning_effort, f.reasoning_summary, f.verbosity) == (effort, summary, verbosity)
    assert (f.parallel_tool_calls, f.shell, f.apply_patch, f.image_detail_original) == (
        parallel,
        shell,
        patch,
        detail,
    )


@pytest.mark.parametrize(
    ("slug", "window", "reported"),
    [
        ("gpt-5.5", 272_000, 258_400),
        ("mock-model", 272_000, 258_400),
        ("o3", 200_000, 190_000),
        ("gpt-4.1", 1_047_576, 995_197),
        ("gpt-4o", 128_000, 121_600),
        ("gpt-oss-20b", 96_000, 91_200),
    ],
)
def test_the_reported_window_is_95_percent_of_the_raw_one(slug: str, window: int, reported: int) -> None:
    """Codex 0.147 reports 258400 for gpt-5.5 and for unknown slugs: 95% of 272000."""
    f = resolve_family(slug)
    assert (f.context_window, f.effective_context_window) == (window, reported)
    assert f.compact_token_limit == window * 9 // 10


def test_configured_window_and_compaction_limit_apply_on_top() -> None:
    f = resolve_family("gpt-5.5", FamilyOverrides(context_window=100_000, auto_compact_token_limit=5_000))
    assert (f.context_window, f.effective_context_window, f.compact_token_limit) == (100_000, 95_000, 5_000)


def test_reasoning_and_text_settings_from_config() -> None:
    f = resolve_family("gpt-5.5", FamilyOverrides(reasoning_effort="high", reasoning_summary="detailed"))
    assert (f.reasoning_effort, f.reasoning_summary) == ("high", "detailed")
    f = resolve_family("gpt-5.2", FamilyOverrides(reasoning_summary="none"))
    assert (f.reasoning_effort, f.reasoning_summary) == ("medium", None)
    assert resolve_family("gpt-5.5", FamilyOverrides(verbosity="high")).verbosity == "high"
    # Families whose endpoint rejects verbosity never get it, configured or not.
    assert resolve_family("mock-model", FamilyOverrides(verbosity="high")).verbosity is None
    assert resolve_family("gpt-5-codex", FamilyOverrides(verbosity="high")).verbosity is None
    assert resolve_family("mock-model", FamilyOverrides(reasoning_effort="high")).reasoning_effort == "high"


def test_reasoning_support_can_be_switched_off_and_on() -> None:
    """For a custom endpoint that rejects `reasoning` (or a non-reasoning model behind an
    unknown slug): nothing reasoning-related is sent once it is switched off."""
    no_reasoning = FamilyOverrides(supports_reasoning_summaries=False, reasoning_effort="high")
    off = resolve_family("mock-model", no_reasoning)
    assert (off.reasoning, off.reasoning_effort, off.reasoning_summary) == (False, None, None)
    on = resolve_family("gpt-4.1", FamilyOverrides(supports_reasoning_summaries=True))
    assert on.reasoning and on.reasoning_summary == "auto"


@pytest.mark.parametrize(
    ("slug", "overrides", "shell"),
    [
        ("gpt-5.5", FamilyOverrides(unified_exec=False), "shell_command"),
        ("mock-model", FamilyOverrides(unified_exec=False), "shell_command"),
        ("gpt-5-codex", FamilyOverrides(unified_exec=True), "unified_exec"),
        ("o3", FamilyOverrides(unified_exec=True), "unified_exec"),
        ("o3", FamilyOverrides(unified_exec=False), "shell"),
        ("codex-mini-latest", FamilyOverrides(unified_exec=False), "local_shell"),
        ("gpt-5.5", FamilyOverrides(shell_tool=False, unified_exec=True), "none"),
    ],
)
def test_shell_features(slug: str, overrides: FamilyOverrides, shell: str) -> None:
    assert resolve_family(slug, overrides).shell == shell


def test_image_and_patch_features() -> None:
    assert not resolve_family("gpt-5.5", FamilyOverrides(view_image=False)).view_image
    assert not resolve_family("gpt-oss-20b", FamilyOverrides(view_image=True)).view_image  # text-only
    assert resolve_family("o3", FamilyOverrides(apply_patch_freeform=True)).apply_patch == "freeform"
    assert resolve_family("gpt-5.5", FamilyOverrides(apply_patch_freeform=False)).apply_patch == "function"
    assert resolve_family("o3").needs_apply_patch_instructions
    assert not resolve_family("gpt-5.5").needs_apply_patch_instructions


def test_code_mode_families_get_the_classic_contract_and_a_warning() -> None:
    f = resolve_family("gpt-5.6-sol")
    assert f.known and f.shell == "unified_exec" and f.apply_patch == "freeform"
    assert f.reasoning_effort == "low" and f.reasoning_summary is None and f.verbosity == "low"
    assert len(f.warnings) == 1 and "code mode" in f.warnings[0] and DEFAULT_MODEL in f.warnings[0]
    assert resolve_family("gpt-5.6-terra").reasoning_effort == "medium"


def test_the_default_model_is_fully_implemented() -> None:
    f = resolve_family(DEFAULT_MODEL)
    assert f.known and not f.spec.code_mode and f.warnings == ()


def tree(**top: Any) -> dict[str, Any]:
    return dict(top)


def test_overrides_are_read_from_the_config_tree() -> None:
    overrides, warnings = family_overrides(
        tree(
            model_context_window=100_000,
            model_auto_compact_token_limit=80_000,
            model_supports_reasoning_summaries=False,
            model_reasoning_effort="xhigh",
            model_reasoning_summary="concise",
            model_verbosity="medium",
            features={"unified_exec": False, "shell_tool": True, "view_image": False},
            web_search="live",
            model_max_output_tokens=777,
        )
    )
    assert warnings == []
    assert overrides == FamilyOverrides(
        context_window=100_000,
        auto_compact_token_limit=80_000,
        supports_reasoning_summaries=False,
        reasoning_effort="xhigh",
        reasoning_summary="concise",
        verbosity="medium",
        unified_exec=False,
        shell_tool=True,
        view_image=False,
        web_search="live",
    )
    assert family_overrides({}) == (FamilyOverrides(), [])


@pytest.mark.parametrize(
    ("config", "mode"),
    [
        (tree(web_search="cached"), "cached"),
        (tree(web_search="disabled", features={"web_search_request": True}), "disabled"),
        (tree(features={"web_search_request": True}), "live"),
        (tree(features={"web_search_request": False}), None),
        (tree(features={"web_search_cached": True}), "cached"),
        (tree(tools={"web_search": True}), "live"),
        (tree(tools={"web_search": False}), "disabled"),
        (tree(), None),
    ],
)
def test_web_search_mode_and_its_older_spellings(config: dict[str, Any], mode: str | None) -> None:
    overrides, warnings = family_overrides(config)
    assert overrides.web_search == mode and warnings == []
    assert resolve_family("gpt-5.5", overrides).web_search == (mode or "cached")


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (tree(model_context_window="big"), "model_context_window"),
        (tree(model_context_window=True), "model_context_window"),
        (tree(model_context_window=-5), "positive"),
        (tree(model_verbosity="loud"), "model_verbosity"),
        (tree(model_reasoning_summary=3), "model_reasoning_summary"),
        (tree(web_search="sometimes"), "web_search"),
        (tree(features={"unified_exec": "yes"}), "features.unified_exec"),
        (tree(tools={"web_search": "on"}), "tools.web_search"),
    ],
)
def test_ill_typed_values_are_ignored_with_a_warning(config: dict[str, Any], fragment: str) -> None:
    overrides, warnings = family_overrides(config)
    assert overrides == FamilyOverrides()
    assert len(warnings) == 1 and fragment in warnings[0]


def test_a_non_table_features_key_is_ignored() -> None:
    overrides, _ = family_overrides(tree(features="all"))
    assert overrides.unified_exec is None


def test_the_loader_keeps_the_overrides_a_config_sets(tmp_path: Path) -> None:
    """Profiles and call overrides reach the family as they reach every other setting, and a
    value the config leaves unset stays unset (the family default applies)."""
    (tmp_path / "config.toml").write_text(
        'model = "gpt-5.5"\nweb_search = "live"\nprofile = "p"\n'
        "[features]\nunified_exec = false\n"
        '[profiles.p]\nmodel_verbosity = "high"\n'
    )
    cfg = load_config(tmp_path, cwd=tmp_path, env={}, call_config={"model_reasoning_effort": "high"})
    assert cfg.family_overrides == FamilyOverrides(
        reasoning_effort="high", verbosity="high", unified_exec=False, web_search="live"
    )
    assert cfg.config_warnings == ()
    family = resolve_family(cfg.model, cfg.family_overrides)
    assert (family.shell, family.verbosity, family.reasoning_summary) == ("shell_command", "high", None)
    (tmp_path / "config.toml").write_text('web_search = "everywhere"\n')
    warned = load_config(tmp_path, cwd=tmp_path, env={}, typed=CallOverrides(model="o3"))
    assert warned.family_overrides.web_search is None and "web_search" in warned.config_warnings[0]


@pytest.mark.parametrize(
    "config",
    [{"web_search": "live"}, {"features": {"unified_exec": True}}, {"tools": {"web_search": True}}],
)
def test_a_call_cannot_change_the_tool_contract(config: dict[str, Any]) -> None:
    """A calling model (or an injection steering it) must not switch on live web search."""
    with pytest.raises(CallRefused) as info:
        check_call_config(config, CallCeiling())
    assert "call_config_keys" in str(info.value)
