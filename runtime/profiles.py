"""Agent profiles (SPEC §8): TOML files in ``<config dir>/profiles/<id>.toml`` plus a built-in default."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import ProfileNotFound
from .models import AgentProfile, ProfileInfo

log = logging.getLogger(__name__)

DEFAULT_PROFILE = AgentProfile(
    id="default",
    name="Default",
    description="No system prompt; the agent's own defaults; no tool prompts (the sandbox is the boundary).",
    env=[
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "GEMINI_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
    ],
)

_TOML_KEYS = {
    "systemPrompt": "system_prompt",
    "system_prompt": "system_prompt",
    "allowedTools": "allowed_tools",
    "allowed_tools": "allowed_tools",
    "mcpServers": "mcp_servers",
    "mcp_servers": "mcp_servers",
    "permissionMode": "permission_mode",
    "permission_mode": "permission_mode",
}


def parse_profile(data: dict[str, Any], fallback_id: str) -> AgentProfile:
    fields = {_TOML_KEYS.get(k, k): v for k, v in data.items()}
    fields.setdefault("id", fallback_id)
    fields.setdefault("name", fields["id"])
    return with_default_env(AgentProfile.model_validate(fields))


def with_default_env(profile: AgentProfile) -> AgentProfile:
    """A profile's ``env`` adds to the default list, it does not replace it: a profile that only
    sets ``permissionMode = "ask"`` must still pass the model API key (or the CLI says "Not
    logged in")."""
    merged = list(dict.fromkeys([*DEFAULT_PROFILE.env, *profile.env]))
    return profile if merged == profile.env else profile.model_copy(update={"env": merged})


def describe_error(exc: Exception) -> str:
    """One line saying what is wrong in a profile file, in the file's own terms."""
    if isinstance(exc, ValidationError):
        reverse = {v: k for k, v in _TOML_KEYS.items() if k != v}
        problems = []
        for error in exc.errors():
            where = ".".join(str(reverse.get(str(p), p)) for p in error["loc"]) or "(file)"
            problems.append(f"{where}: {error['msg']}")
        return "; ".join(problems)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc).replace("\n", " ")


class ProfileRegistry:
    """Profiles from the built-in default, the config dir and the store (later ones win)."""

    def __init__(self, config_dir: Path | None) -> None:
        self.config_dir = config_dir
        self._profiles: dict[str, AgentProfile] = {}
        self.errors: dict[str, str] = {}

    def load(self, stored: list[AgentProfile] | None = None) -> None:
        profiles = {"default": DEFAULT_PROFILE}
        for profile in stored or []:
            profiles[profile.id] = with_default_env(profile)
        self.errors.clear()
        folder = self.config_dir / "profiles" if self.config_dir else None
        if folder and folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                try:
                    profile = parse_profile(tomllib.loads(path.read_text("utf-8")), path.stem)
                except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValidationError) as exc:
                    # One broken file must not hide the others; it is reported (log file, and a
                    # notice in the TUI through AgentRuntime.profile_errors()), not fatal.
                    self.errors[str(path)] = describe_error(exc)
                    log.warning("profile file %s ignored: %s", path, self.errors[str(path)])
                    continue
                profiles[profile.id] = profile
        self._profiles = profiles

    def get(self, profile_id: str) -> AgentProfile:
        profile = self._profiles.get(profile_id)
        if profile is None:
            raise ProfileNotFound(f"agent profile {profile_id!r} not found")
        return profile

    def infos(self) -> list[ProfileInfo]:
        return [p.info() for p in self._profiles.values()]
