"""`[codex_mcp] exec_session_max_lifetime_sec`: the hard limit on one process session's life."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_mcp.agent.config import ConfigError, load_config
from codex_mcp.agent.config.model import DEFAULT_EXEC_SESSION_MAX_LIFETIME_SEC


def load(home: Path, toml: str) -> float:
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(toml, encoding="utf-8")
    return load_config(home, cwd=home).server.exec_session_max_lifetime_sec


def test_default_is_one_hour(tmp_path: Path) -> None:
    assert load(tmp_path, "") == DEFAULT_EXEC_SESSION_MAX_LIFETIME_SEC == 3600
    assert load(tmp_path, "[codex_mcp]\nturn_timeout_sec = 60\n") == 3600


@pytest.mark.parametrize(("value", "expected"), [("90", 90.0), ("0.5", 0.5), ("86400", 86400.0)])
def test_positive_numbers(tmp_path: Path, value: str, expected: float) -> None:
    assert load(tmp_path, f"[codex_mcp]\nexec_session_max_lifetime_sec = {value}\n") == expected


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", '"1h"', "true"])
def test_other_values_are_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"[codex_mcp]\nexec_session_max_lifetime_sec = {value}\n")
    assert info.value.key == "codex_mcp.exec_session_max_lifetime_sec"
