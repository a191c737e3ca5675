"""What the TUI remembers between runs (the theme), in ``<config dir>/tui.json``.

Written whole through a temporary file (a crash never leaves half a file); a missing or broken
file means the defaults, and a broken one is logged.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_NAME = "tui.json"


def load(config_dir: Path | None) -> dict[str, Any]:
    if config_dir is None:
        return {}
    path = config_dir / FILE_NAME
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("TUI settings %s ignored: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def save(config_dir: Path | None, **changes: Any) -> None:
    """Merge ``changes`` into the file; failures are logged, never raised (a theme is not worth a crash)."""
    if config_dir is None:
        return
    data = {**load(config_dir), **changes}
    try:
        config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=config_dir, prefix=".tui-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
            json.dump(data, handle, indent=2)
        os.replace(tmp, config_dir / FILE_NAME)
    except OSError as exc:
        log.warning("TUI settings not saved in %s: %s", config_dir, exc)
