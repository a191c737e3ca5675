"""Profile files (issue 20 items 4 and 5): `env` adds to the default list, the shipped examples
load, and a broken file is named with the reason (runtime.profile_errors(), the log, the TUI)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from runtime import AgentRuntime
from runtime.architectures import ARCHITECTURES
from runtime.architectures.base import LaunchContext
from runtime.profiles import DEFAULT_PROFILE
from tests.helpers import make_config

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "profiles"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "config" / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


async def test_a_profiles_env_adds_to_the_default_list(tmp_path: Path) -> None:
    _write(tmp_path, "asker.toml", 'permissionMode = "ask"\n')
    _write(tmp_path, "extra.toml", 'env = ["GITHUB_TOKEN", "ANTHROPIC_API_KEY"]\n')
    host_env = {"ANTHROPIC_API_KEY": "sk-ant-test", "GITHUB_TOKEN": "ghp-test", "UNLISTED": "x"}
    async with AgentRuntime(make_config(tmp_path, host_env=host_env)) as runtime:
        assert runtime.profile_errors() == {}
        asker, extra = runtime.profiles.get("asker"), runtime.profiles.get("extra")
        assert asker.env == DEFAULT_PROFILE.env
        assert extra.env == [*DEFAULT_PROFILE.env, "GITHUB_TOKEN"]  # no duplicates, defaults first
        for profile, expected in ((asker, {"ANTHROPIC_API_KEY": "sk-ant-test"}),
                                  (extra, {"ANTHROPIC_API_KEY": "sk-ant-test", "GITHUB_TOKEN": "ghp-test"})):
            ctx = LaunchContext(session_id="ses-1", message_id="msg-1", prompt="hi", session_dir=str(tmp_path),
                                profile=profile, session_options={}, resume=False, host_env=host_env,
                                config=runtime.config)
            launch = ARCHITECTURES["claude-code"].launch(ctx)
            assert launch is not None
            assert {k: v for k, v in launch.env.items() if k in host_env} == expected


async def test_the_shipped_example_profiles_load_one_per_agent(tmp_path: Path) -> None:
    folder = tmp_path / "config" / "profiles"
    shutil.copytree(EXAMPLES, folder)
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        assert runtime.profile_errors() == {}
        ids = {p.id for p in await runtime.list_profiles()}
    assert {p.stem for p in EXAMPLES.glob("*.toml")} == set(ARCHITECTURES) and ids == {"default", *ARCHITECTURES}
    documented = (EXAMPLES.parent / "profiles.md").read_text()
    for field in ("id", "name", "description", "systemPrompt", "model", "permissionMode", "allowedTools",
                  "env", "files", "mcpServers"):
        assert f"| `{field}` |" in documented, field


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("name = [unterminated\n", "line 1"),
        ('env = "ANTHROPIC_API_KEY"\n', "env: Input should be a valid list"),
        ('permissionMode = "sometimes"\n', "permissionMode: Input should be"),
        (b"\xff\xfe".decode("latin-1"), "utf-8"),
    ],
    ids=["toml", "env-type", "permission-mode", "not-utf8"],
)
async def test_a_broken_profile_file_is_named_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, why: str
) -> None:
    good = _write(tmp_path, "good.toml", 'name = "Good"\n')
    broken = _write(tmp_path, "broken.toml", "")
    broken.write_bytes(text.encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="runtime.profiles"):
        async with AgentRuntime(make_config(tmp_path)) as runtime:
            errors = runtime.profile_errors()
            assert {p.id for p in await runtime.list_profiles()} == {"default", "good"}
    assert list(errors) == [str(broken)] and why in errors[str(broken)], errors
    assert "\n" not in errors[str(broken)]
    assert any(str(broken) in r.getMessage() and why in r.getMessage() for r in caplog.records), caplog.text
    assert good.exists()


async def test_the_tui_says_which_profile_file_was_ignored_and_why(tmp_path: Path) -> None:
    """The app (a Pilot run over the real runtime) shows one notification per broken file at start."""
    from tests.tui.conftest import SIZE, make_app, ready, wait_until

    broken = _write(tmp_path, "broken.toml", 'permissionMode = "sometimes"\n')
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        notes = await wait_until(pilot, lambda: [n for n in app._notifications if n.title == "Profile ignored"])
        assert len(notes) == 1 and str(broken) in notes[0].message and "permissionMode" in notes[0].message
