"""The log file: ``agent-tui.log`` in the user's state dir, rotated, readable by the user only.

What a user cannot see in the moment (a profile file skipped, a database refused or moved aside, a
start-up failure) is recorded here; ``agent-tui --help`` names the file. Secrets never reach it:
every record passes :class:`RedactSecrets` first.
"""

from __future__ import annotations

import logging
import os
import re
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from .config import APP_NAME
from .private_paths import make_private_dir

LOG_NAME = "agent-tui.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

#: Environment variables whose values are secrets (API keys, tokens, passwords).
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
#: Secret-shaped text whatever its source: bearer headers, token query parameters, known key prefixes.
_SECRET_TEXT = re.compile(
    r"(?i)(bearer\s+)[^\s'\"]+"
    r"|([?&](?:token|key|api_key)=)[^&\s'\"]+"
    r"|\b(?:sk-ant-|sk-|ghp_|gho_|github_pat_|AIza)[A-Za-z0-9_\-]{8,}"
)
_extra_secrets: set[str] = set()
#: ``extra=FILE_ONLY``: a record for the log file only, for what the user is already shown in
#: words (serve's one-line refusal on stderr must not be doubled by its stderr log handler).
FILE_ONLY = {"file_only": True}


def _not_file_only(record: logging.LogRecord) -> bool:
    return not getattr(record, "file_only", False)


def default_log_path() -> Path:
    """``$AGENT_TUI_LOG``, else ``agent-tui.log`` in the platform's user state dir
    (Linux: ``~/.local/state/agent-tui/agent-tui.log``)."""
    env = os.environ.get("AGENT_TUI_LOG")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME)) / LOG_NAME


def add_secret(value: str | None) -> None:
    """A value that must never be written to the log (e.g. the server's token)."""
    if value and len(value) >= 6:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    secrets = set(_extra_secrets)
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_NAME.search(name):
            secrets.add(value)
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return _SECRET_TEXT.sub(lambda m: (m.group(1) or m.group(2) or "") + "[redacted]", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class PrivateRotatingFileHandler(RotatingFileHandler):
    """Every file it creates (the first and each after a rollover) is 0600 from the start."""

    def _open(self) -> Any:
        return open(  # noqa: SIM115 - the handler owns and closes the stream
            self.baseFilename,
            self.mode,
            encoding=self.encoding,
            errors=self.errors,
            opener=lambda path, flags: os.open(path, flags, 0o600),
        )


def setup_log_file(
    path: Path | None = None, *, level: int = logging.INFO, max_bytes: int = MAX_BYTES, backups: int = BACKUPS
) -> Path | None:
    """Send log records of ``level`` and above to the rotating log file; returns its path, or None
    when it cannot be written (a read-only home): the app still runs, without a log file."""
    path = path or default_log_path()
    try:
        make_private_dir(path.parent)
        handler = PrivateRotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    except OSError:
        return None
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for existing in root.handlers:
        existing.addFilter(_not_file_only)
    if root.level > level:
        # Handlers already there (serve's stderr) keep the level they were showing.
        for existing in root.handlers:
            if existing.level == logging.NOTSET:
                existing.setLevel(root.level)
        root.setLevel(level)
    root.addHandler(handler)
    return path
