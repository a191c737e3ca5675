"""Every app action with its key, in one place: the App's bindings, the F1 help and the command
palette are built from this table. Users override keys in ``<config dir>/keymap.toml``
(``action_id = "key[,key]"``), applied through Textual's keymap support."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActionSpec:
    id: str  # binding id (what keymap.toml names) and App action name
    key: str  # Textual key string(s); "" for actions bound on a widget
    description: str
    display: str  # how help shows the key
    show: bool = True  # in the footer
    in_palette: bool = True
    #: Run before the focused widget sees the key: what is typed right after it then goes
    #: where the action leads (the new-session dialog), not to the widget that had the focus.
    priority: bool = False


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("new_session", "ctrl+n", "New session", "ctrl+n", priority=True),
    ActionSpec("send", "", "Send the message (queued while a query runs)", "enter", show=False, in_palette=False),
    ActionSpec("interrupt", "escape", "Interrupt the running query", "esc"),
    ActionSpec("terminate", "ctrl+t", "Terminate the session's sandbox", "ctrl+t", show=False),
    ActionSpec("rename_session", "f4", "Rename the session", "f4", show=False),
    ActionSpec("delete_session", "f8", "Delete the session (asks first)", "f8", show=False),
    ActionSpec("next_session", "ctrl+down,alt+down", "Next session", "ctrl+↓", show=False),
    ActionSpec("previous_session", "ctrl+up,alt+up", "Previous session", "ctrl+↑", show=False),
    ActionSpec("focus_permission", "ctrl+r", "Move to the pending permission request (then y / a / n)", "ctrl+r"),
    ActionSpec("next_needs_input", "ctrl+g", "Go to the next session that needs input", "ctrl+g"),
    ActionSpec("permission_keys", "", "On a focused request: allow once / allow always / deny", "y / a / n",
               show=False, in_palette=False),
    ActionSpec("search", "ctrl+f", "Search in the conversation", "/ or ctrl+f"),
    ActionSpec("search_next", "f3", "Next match", "n or f3", show=False),
    ActionSpec("search_previous", "shift+f3", "Previous match", "N or shift+f3", show=False),
    ActionSpec("toggle_card", "", "Expand/collapse the focused tool card", "enter/space", show=False),
    ActionSpec("copy_block", "", "Copy the focused block (OSC 52)", "c", show=False),
    ActionSpec("toggle_changes", "f5", "Show/hide the Changes pane (diff, commit, merge, discard)", "f5",
               show=False),
    ActionSpec("toggle_logs", "ctrl+l", "Show/hide log events", "ctrl+l", show=False),
    ActionSpec("cycle_theme", "f2", "Switch theme", "f2", show=False),
    ActionSpec("focus_conversation", "", "Move to the conversation", "up (empty composer), shift+tab",
               show=False),
    ActionSpec("focus_composer", "", "Move to the composer", "i", show=False),
    ActionSpec("focus_sessions", "", "Move to the session list", "tab", show=False),
    ActionSpec("copy_connect_command", "", "Copy the command that attaches another terminal here",
               "palette", show=False),
    ActionSpec("help", "f1", "Help (this screen)", "f1"),
    ActionSpec("command_palette", "", "All commands", "ctrl+p", show=False, in_palette=False),
    ActionSpec("quit", "", "Quit", "ctrl+q", show=False, in_palette=False),
)


def app_bindings() -> list[Binding]:
    return [Binding(a.key, a.id, _FOOTER.get(a.id, a.description), key_display=_footer_key(a),
                    show=a.show, id=a.id, priority=a.priority)
            for a in ACTIONS if a.key]


def _footer_key(action: ActionSpec) -> str:
    """The footer shows a key this binding really has: search is "/" only in the conversation
    (whose own binding shows it there); the app-wide key is ctrl+f."""
    first = action.display.split(" or ")[0]
    if first in action.key.split(",") or not first.isascii():
        return first
    return action.key.split(",")[0].replace("escape", "esc")


#: Short labels for the footer (help and the palette use the full descriptions).
_FOOTER = {"new_session": "New", "interrupt": "Interrupt", "search": "Search", "help": "Help",
           "terminate": "Terminate", "rename_session": "Rename", "delete_session": "Delete", "toggle_logs": "Logs", "cycle_theme": "Theme",
           "focus_permission": "Answer", "toggle_changes": "Changes", "next_needs_input": "Needs input"}


def load_keymap(config_dir: Path | None) -> tuple[dict[str, str], list[str]]:
    """``keymap.toml`` overrides and what was wrong in it (each problem also logged); never fatal:
    a line that cannot be used is skipped, the others apply."""
    if config_dir is None:
        return {}, []
    path = config_dir / "keymap.toml"
    if not path.is_file():
        return {}, []
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems = [f"{path} ignored: {exc}"]
    else:
        known = {a.id for a in ACTIONS}
        problems = []
        overrides: dict[str, str] = {}
        for key, value in data.items():
            if key not in known:
                problems.append(f"{path}: unknown action {key!r}; known: {', '.join(sorted(known))}")
            elif not isinstance(value, str) or not value.strip():
                problems.append(f"{path}: {key} must be a key string such as \"ctrl+o\", not {value!r}")
            else:
                overrides[key] = value
        for problem in problems:
            log.warning("keymap: %s", problem)
        return overrides, problems
    log.warning("keymap: %s", problems[0])
    return {}, problems
