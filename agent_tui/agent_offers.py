"""What the agent of a session advertised (ACP: slash commands, modes, models; the reducer keeps
them in ``state.agent_offers``) and the "Switch mode" / "Switch model" pickers.

A pick is stored as a session option (``acpMode`` / ``acpModel``, through ``update_options``, so
any client can switch): the next query's ACP client calls ``session/set_mode`` /
``session/set_model`` before the prompt, and the agent's ``metadata:update {mode}`` / ``{model}``
confirms it."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.command import SimpleCommand

from runtime.architectures.acp import MODE_OPTION, MODEL_OPTION

from .session_model import SessionModel

OPTION_FOR = {"mode": MODE_OPTION, "model": MODEL_OPTION}


def offered(model: SessionModel | None, key: str) -> list[dict[str, Any]]:
    """``commands``, ``modes`` or ``models`` of the session's agent (entries without an id or
    name dropped)."""
    if model is None:
        return []
    value = model.state.agent_offers.get(key)
    field = "name" if key == "commands" else "id"
    return [e for e in value if isinstance(e, dict) and isinstance(e.get(field), str)] if isinstance(value, list) else []


def current(model: SessionModel, what: str) -> str | None:
    """The mode/model the agent says it is in (``model`` is the session's ``metadata.model``)."""
    value = model.state.model if what == "model" else model.state.agent_offers.get("mode")
    return value if isinstance(value, str) else None


def picker(app: Any, model: SessionModel, what: str) -> None:
    """The palette listing the agent's modes (``what="mode"``) or models; a pick is sent as the
    session option."""
    now = current(model, what)
    commands = []
    for choice in offered(model, f"{what}s"):
        mark = " (current)" if choice["id"] == now else ""
        help_text = str(choice.get("description") or choice["id"])
        commands.append(SimpleCommand(f"{choice.get('name') or choice['id']}{mark}",
                                      partial(app.call_later, pick, app, model.session_id, what, choice["id"]),
                                      help_text))
    app.search_commands(commands, placeholder=f"Switch the agent's {what}…")


async def pick(app: Any, session_id: str, what: str, choice: str) -> None:
    try:
        await app.client.update_options(session_id, {OPTION_FOR[what]: choice})
    except Exception as exc:  # noqa: BLE001 - a remote error is shown, not raised into the app
        app.notify(f"Could not switch the {what}: {exc}", severity="error")
        return
    app.notify(f"The agent's {what} becomes {choice} with the next message.", timeout=3)
