"""The per-project setup command (e.g. installing dependencies) run in each new worktree.

Read from ``.agent-tui.toml`` at the top of the project (as checked out in the worktree)::

    [workspace]
    setup = "npm ci"
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CONFIG_FILE = ".agent-tui.toml"
#: Longest a setup command may run before it is killed.
SETUP_TIMEOUT_S = 15 * 60
#: Output lines kept as ``log`` events (the rest is counted, not stored).
MAX_LINES = 200

Publish = Callable[[str, dict[str, Any]], Awaitable[Any]]


def setup_command(worktree: Path) -> str | None:
    path = worktree / CONFIG_FILE
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("%s is not readable TOML: %s", path, exc)
        return None
    section = data.get("workspace")
    command = section.get("setup") if isinstance(section, dict) else None
    return command if isinstance(command, str) and command.strip() else None


async def run_setup_command(primitive: Any, command: str, env: dict[str, str], publish: Publish) -> bool:
    """Run ``command`` with bash in the sandbox's ``workspace/``; returns whether it succeeded."""
    try:
        process = await primitive.exec(["bash", "-c", command], cwd="workspace", env=env)
    except Exception as exc:  # noqa: BLE001 - reported, the sandbox goes on
        await publish("log", {"level": "warn", "message": f"project setup could not start: {exc}"})
        return False
    kept = 0

    async def drain(lines: Any) -> None:
        nonlocal kept
        async for line in lines:
            if kept < MAX_LINES:
                kept += 1
                await publish("log", {"level": "info", "message": f"setup: {line.decode('utf-8', 'replace')}"})

    await process.close_stdin()
    drains = asyncio.gather(drain(process.stdout_lines()), drain(process.stderr_lines()))
    try:
        code = await asyncio.wait_for(process.wait(), SETUP_TIMEOUT_S)
    except TimeoutError:
        await process.kill()
        code = None
    with contextlib.suppress(Exception):
        await asyncio.wait_for(drains, 10)
    if code == 0:
        await publish("log", {"level": "info", "message": f"project setup finished: {command}"})
        return True
    how = f"timed out after {SETUP_TIMEOUT_S} s" if code is None else f"exit code {code}"
    await publish("log", {"level": "warn", "message": f"project setup failed ({how}): {command}"})
    return False
