"""The new-session dialog on a project (SPEC §10), the session rows' branch and ``+N -M``, and
deleting a session with unmerged work: Pilot over the real runtime and real git repositories."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from textual.widgets import Input, Label, OptionList, RadioSet

from agent_tui.cli import build_app, build_parser, project_source
from agent_tui.projects import ProjectSource
from agent_tui.screens.confirm import ConfirmScreen
from agent_tui.screens.new_session import NewSessionScreen
from agent_tui.session_model import SessionModel
from agent_tui.widgets.session_row import MINUS, workspace_totals
from runtime import AgentRuntime, MemoryStore
from tests.helpers import collect_until, make_config, query_end
from tests.tui.conftest import SIZE, idle, make_app, ready, wait_until
from tests.tui.servers import ServeProcess
from tests.workspaces.conftest import git, make_repo


async def open_dialog(pilot: Any) -> NewSessionScreen:
    app = pilot.app
    await ready(pilot)
    await pilot.press("ctrl+n")
    screen = await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen) and app.screen)
    await wait_until(pilot, lambda: screen.loaded, what="the dialog to list architectures")
    return screen


async def pick_shell(pilot: Any, screen: NewSessionScreen) -> None:
    options = screen.query_one("#architecture", OptionList)
    while options.get_option_at_index(options.highlighted).id != "shell":
        await pilot.press("down")


def row_text(app: Any, session_id: str) -> str:
    return str(app.session_list.rows[session_id].render())


def error_text(screen: NewSessionScreen) -> str:
    error = screen.query_one("#error", Label)
    return str(error.render()) if error.has_class("-shown") and error.display else ""


async def run(pilot: Any, command: str) -> None:
    app = pilot.app
    app.composer.load_text(command)
    app.composer.focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.current.state.blocks and idle(app), timeout=30, what=command)


async def test_enter_on_an_architecture_creates_a_session_on_the_repository_around_the_start_folder(
        tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    git(repo, "checkout", "-q", "-b", "feature")
    # Started in a sub-folder: the default is the repository's top, on its current branch.
    app = make_app(tmp_path, project=ProjectSource(start_dir=str(repo / "src")))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dialog(pilot)
        assert screen.query_one("#project", Input).value == str(repo)
        assert screen.query_one("#base-ref", Input).placeholder == "HEAD (feature)"
        assert screen.query_one("#branch", Input).placeholder.startswith("agent-tui/")
        await pick_shell(pilot, screen)
        await pilot.press("enter")  # the defaults: worktree of the repo at HEAD, branch from the name
        model = await wait_until(pilot, lambda: app.current, what="the session to be created")
        workspace = model.summary.workspace
        assert workspace is not None and workspace.mode == "worktree"
        assert workspace.project == str(repo) and workspace.target == "feature"
        branch = workspace.branch
        assert branch and branch.startswith("agent-tui/")
        assert git(repo, "branch", "--list", branch).strip()
        await wait_until(pilot, lambda: f"⎇ {branch}" in row_text(app, model.session_id), what="the branch in the row")

        # A shell command changes a file and adds one: the row shows the lines, as events arrive.
        await run(pilot, "printf 'a\\nb\\n' > new.txt && printf 'bye\\n' > README.md")
        expected = f"+3 {MINUS}1"
        await wait_until(pilot, lambda: expected in row_text(app, model.session_id), what=expected)
        assert app.session_list.rows[model.session_id].has_class("-workspace")
        assert git(repo, "status", "--porcelain") == ""  # the user's checkout is untouched


async def test_not_a_repository_and_a_bad_branch_are_shown_in_the_dialog_which_keeps_what_was_typed(
        tmp_path: Path) -> None:
    plain = tmp_path / "plain folder"
    plain.mkdir()
    repo = make_repo(tmp_path / "project")
    app = make_app(tmp_path)  # no default project (not started in a repository)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dialog(pilot)
        project = screen.query_one("#project", Input)
        assert project.value == ""
        await pick_shell(pilot, screen)
        screen.query_one("#name", Input).value = "keep me"
        project.value = str(plain)
        await pilot.press("enter")
        await wait_until(pilot, lambda: "NOT_A_GIT_REPOSITORY" in error_text(screen), what="the refusal")
        assert str(plain) in error_text(screen)
        assert app.screen is screen and screen.focused is project  # still open, on the field it is about
        assert screen.query_one("#name", Input).value == "keep me"
        assert app.current is None

        # Typing clears the error; a branch git refuses is shown the same way.
        project.value = str(repo)
        await wait_until(pilot, lambda: error_text(screen) == "", what="the error to go")
        branch = screen.query_one("#branch", Input)
        branch.value = "two words"
        screen.action_create()
        await wait_until(pilot, lambda: "invalid branch name" in error_text(screen), what="the branch refusal")
        assert screen.focused is branch and app.screen is screen
        branch.value = "agent/ok"
        screen.action_create()
        model = await wait_until(pilot, lambda: app.current, what="the session to be created")
        assert model.name == "keep me" and model.summary.workspace.branch == "agent/ok"


async def test_in_place_mode_has_no_branch_fields(tmp_path: Path) -> None:
    folder = tmp_path / "scratch"
    folder.mkdir()
    app = make_app(tmp_path, project=ProjectSource(explicit=str(folder)))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dialog(pilot)
        await pick_shell(pilot, screen)
        screen.query_one("#mode", RadioSet).query("RadioButton").last().value = True
        await pilot.pause()
        assert screen.query_one("#branch", Input).disabled and screen.query_one("#base-ref", Input).disabled
        screen.action_create()
        model = await wait_until(pilot, lambda: app.current, what="the session to be created")
        assert model.summary.workspace.mode == "in-place"
        await wait_until(pilot, lambda: "⎇ in place" in row_text(app, model.session_id))


async def test_agent_tui_path_with_spaces_and_non_ascii_letters(tmp_path: Path, monkeypatch: Any) -> None:
    repo = make_repo(tmp_path / "my prøject — ünïcode")
    monkeypatch.chdir(tmp_path)  # PATH relative to where agent-tui starts
    args = build_parser().parse_args(["--db", str(tmp_path / "db.sqlite"), "--data-dir", str(tmp_path / "data"),
                                      "--no-bell", repo.name])
    assert project_source(args) == ProjectSource(explicit=str(repo), start_dir=str(tmp_path), local=True)
    app = build_app(args)
    app._cursor_blink = False
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dialog(pilot)
        assert screen.query_one("#project", Input).value == str(repo)
        assert screen.query_one("#base-ref", Input).placeholder == "HEAD (main)"
        await pick_shell(pilot, screen)
        await pilot.press("enter")
        model = await wait_until(pilot, lambda: app.current, what="the session to be created")
        assert model.summary.workspace.project == os.path.realpath(repo)
        await run(pilot, "echo more >> 'src/app.py'")
        await wait_until(pilot, lambda: f"+1 {MINUS}0" in row_text(app, model.session_id))


async def test_deleting_a_session_with_unmerged_work_says_the_branch_is_kept(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    app = make_app(tmp_path, project=ProjectSource(explicit=str(repo)))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_dialog(pilot)
        await pick_shell(pilot, screen)
        await pilot.press("enter")
        model = await wait_until(pilot, lambda: app.current, what="the session to be created")
        branch = model.summary.workspace.branch
        await run(pilot, "echo work > work.txt")
        await wait_until(pilot, lambda: f"+1 {MINUS}0" in row_text(app, model.session_id))
        app.action_delete_session()
        confirm = await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert "UNMERGED" in confirm.question and branch in confirm.question and confirm.yes == "Delete, keep branch"
        await pilot.press("y")
        await wait_until(pilot, lambda: model.session_id not in app.session_list.rows, what="the row to go")
        await wait_until(pilot, lambda: any(f"Branch {branch} was kept" in n.message for n in app._notifications))
        assert "work.txt" in git(repo, "show", "--stat", branch)  # committed onto the kept branch


async def test_over_connect_the_project_is_a_path_on_the_server(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    server = ServeProcess(tmp_path)
    url = await server.start()
    try:
        app = build_app(build_parser().parse_args(["--connect", url, "--no-bell", str(tmp_path)]))
        app._cursor_blink = False
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_dialog(pilot)
            assert "server's machine" in str(screen.query_one("#project-hint", Label).render())
            assert screen.query_one("#project", Input).value == str(tmp_path)  # a loopback server: as given
            await pick_shell(pilot, screen)
            await pilot.press("enter")
            await wait_until(pilot, lambda: "NOT_A_GIT_REPOSITORY" in error_text(screen), what="the remote refusal")
            screen.query_one("#project", Input).value = str(repo)
            await pilot.press("ctrl+s")
            model = await wait_until(pilot, lambda: app.current, what="the session to be created")
            await run(pilot, "echo x >> README.md")
            await wait_until(pilot, lambda: f"+1 {MINUS}0" in row_text(app, model.session_id))
            async with aiohttp.ClientSession(url, headers=server.headers) as http:
                async with http.get(f"/sessions/{model.session_id}") as response:
                    summary = await response.json()
            assert summary["workspace"]["additions"] == 1 and summary["workspace"]["changedFiles"] == 1
    finally:
        assert await server.stop() == 0


async def test_a_row_whose_log_is_not_replayed_yet_shows_the_summarys_counts(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    runtime = AgentRuntime(make_config(tmp_path, persistence=MemoryStore()))
    await runtime.start()
    try:
        summary = await runtime.create_session({"architecture": "shell", "workspace": {"project": str(repo)}})
        assert summary.workspace is not None and summary.workspace.changed_files is None  # nothing changed yet
        message_id, _ = await runtime.send_message(summary.session_id, "printf 'x\\ny\\n' >> README.md && rm src/app.py")
        await collect_until(runtime, summary.session_id, query_end(message_id), timeout=60)
        summary = await runtime.get_summary(summary.session_id)
        assert (summary.workspace.changed_files, summary.workspace.additions, summary.workspace.deletions) == (2, 2, 1)
        model = SessionModel(summary)
        assert not model.loaded  # the app has not replayed its log: the row reads the summary
        assert workspace_totals(model) == (2, 2, 1)
    finally:
        await runtime.shutdown()


def test_path_on_the_command_line(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    from agent_tui import cli

    def no_app(args: Any) -> Any:
        raise AssertionError(f"started the app with PATH {args.project!r}")

    monkeypatch.setattr(cli, "build_app", no_app)
    monkeypatch.setattr("runtime.logfile.setup_log_file", lambda *a, **k: None)  # never the real HOME's log
    # A local PATH must be a folder here; a server's PATH is its business (passed as typed).
    with pytest.raises(SystemExit) as exited:
        cli.main(["--db", str(tmp_path / "db"), str(tmp_path / "no such folder")])
    assert exited.value.code == 2 and "no such folder" in capsys.readouterr().err
    remote = build_parser().parse_args(["--connect", "http://build-box:8787", "srv/repo"])
    assert project_source(remote) == ProjectSource(explicit="srv/repo", start_dir=None, local=False)
    loopback = build_parser().parse_args(["--connect", "http://[::1]:8787", str(tmp_path)])
    assert project_source(loopback).local and project_source(loopback).explicit == str(tmp_path)
