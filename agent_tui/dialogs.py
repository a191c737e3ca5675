"""The app's questions: new session, rename, delete (confirmed) and quit (asked only when quitting
would stop something). Each pushes its screen and, once answered, calls the client and says how it
went; the session list follows from the runtime's notices, not from the answers here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .formatting import error_message
from .projects import ProjectGuess
from .session_model import SessionModel


class SessionDialogs:
    def __init__(self, app: Any) -> None:
        #: The AgentTuiApp (``Any``: importing its class here would be an import cycle).
        self.app = app
        self._project_guess: ProjectGuess | None = None

    # ------------------------------------------------------------------ quit

    async def quit(self) -> None:
        from .screens.confirm import ConfirmScreen

        app = self.app
        reasons = self._quit_would_stop()
        if reasons and not isinstance(app.screen, ConfirmScreen):
            # ctrl+q again on the question quits: the answer is clear.
            question = f"Quit agent-tui?\n{' and '.join(reasons)}: quitting stops {'them' if len(reasons) > 1 else 'it'}."
            app.push_screen(ConfirmScreen(question, yes="Quit"),
                            lambda yes: app.call_later(self._quit_now) if yes else None)
            return
        await self._quit_now()

    async def _quit_now(self) -> None:
        await self.app._shutdown_client()
        self.app.exit(0)

    def _quit_would_stop(self) -> list[str]:
        """What quitting this process would cut short (nothing for a remote client: the server runs on)."""
        app = self.app
        if app.mode == "remote":
            return []
        reasons = []
        running = sum(1 for m in app.models.values() if m.running_since_ms() is not None)
        if running:
            reasons.append(f"{running} quer{'ies are' if running > 1 else 'y is'} running")
        clients = getattr(getattr(app.client, "server", None), "client_count", 0)
        if clients:
            reasons.append(f"{clients} client{'s are' if clients > 1 else ' is'} attached")
        return reasons

    # ------------------------------------------------------------------ rename and delete

    def _ask_about_current(self, screen: Callable[[SessionModel], Any], act: Callable[[str, Any], None]) -> None:
        """Show a dialog about the selected session; ``act(session_id, answer)`` if it was answered
        (the session is the one the dialog was opened for, whatever is selected by then)."""
        model = self.app.current
        if model is None:
            return
        session_id = model.session_id
        self.app.push_screen(screen(model), lambda answer: act(session_id, answer) if answer else None)

    def rename_session(self) -> None:
        from .screens.rename import RenameScreen

        self._ask_about_current(lambda model: RenameScreen(model.name), self._rename)

    def _rename(self, session_id: str, name: str) -> None:
        # The list follows from the runtime's "updated" notice (as for a rename by another client).
        async def rename() -> None:
            try:
                await self.app.client.rename_session(session_id, name)
            except Exception as exc:  # noqa: BLE001
                self.app.notify(error_message(exc), title="Rename failed", severity="error")

        self.app.run_worker(rename(), name="_rename", group="rename", exit_on_error=False)

    def delete_session(self) -> None:
        from .screens.confirm import ConfirmScreen, delete_question

        self._ask_about_current(
            lambda model: ConfirmScreen(*delete_question(model)),
            lambda session_id, _yes: self._delete(session_id),
        )

    def _delete(self, session_id: str) -> None:
        async def delete() -> None:
            app = self.app
            try:
                kept = await app.client.delete_session(session_id)
            except Exception as exc:  # noqa: BLE001
                app.notify(error_message(exc), title="Delete failed", severity="error")
                return
            if isinstance(kept, dict) and kept.get("branchKept"):
                app.notify(f"Branch {kept.get('branch')} was kept: it holds unmerged work.",
                           title="Session deleted", markup=False)

        self.app.run_worker(delete(), name="_delete", group="delete", exit_on_error=False)

    # ------------------------------------------------------------------ new session

    def new_session(self) -> None:
        from .screens.new_session import NewSessionScreen

        app = self.app
        if isinstance(app.screen, NewSessionScreen):
            return
        # Pushed at once, filled when the runtime answers: keys typed right after ctrl+n go to
        # the dialog (it replays them once filled), not to the screen underneath.
        app.push_screen(NewSessionScreen(loader=self._new_session_choices, project_loader=self._guess_project,
                                         creator=self._create_from_dialog, remote=app.mode == "remote"),
                        self._new_session_created)

    async def _guess_project(self) -> ProjectGuess:
        # Asked of git once per app (off the UI thread: an asyncio subprocess), then remembered.
        if self._project_guess is None:
            source = self.app.project_source
            self._project_guess = await source.guess() if source is not None else ProjectGuess()
        return self._project_guess

    async def _new_session_choices(self) -> tuple[list[Any], list[Any], str]:
        for _ in range(200):  # pressed during start-up: wait for the runtime (up to 10 s)
            if self.app.ready:
                break
            await asyncio.sleep(0.05)
        client = self.app.client
        architectures = await client.list_architectures()
        profiles = await client.list_profiles()
        primitive = getattr(getattr(client, "config", None), "primitive", "local")
        return architectures, profiles, primitive

    async def _create_from_dialog(self, args: dict[str, Any]) -> Any:
        # Refusals propagate: the dialog shows them and stays open.
        return await self.app.client.create_session(args)

    def _new_session_created(self, summary: Any) -> None:
        if summary is not None:
            self.app.run_worker(self.app._show_created(summary), group="new-session", exit_on_error=False)
