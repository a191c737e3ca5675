"""The Changes pane with Pilot over the real runtime and real git: a shell session works on a
repository's worktree, the pane shows what changed and acts on it (merge, discard, comment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_tui.app import AgentTuiApp
from agent_tui.cli import build_app, build_parser
from agent_tui.widgets.changes_pane import MINUS, ChangesPane
from tests.tui.conftest import SIZE, idle, make_app, ready, wait_until
from tests.tui.servers import ServeProcess
from tests.workspaces.conftest import git, head, make_repo, status


def pane(app: AgentTuiApp) -> ChangesPane:
    return app.changes_pane


def listed(app: AgentTuiApp) -> dict[str, str]:
    """What the file list shows, by path: the drawn line of each option."""
    file_list = pane(app).file_list
    return {row[0]: file_list.content(i).plain for i, row in enumerate(file_list.rows)}


def diff_text(app: AgentTuiApp) -> str:
    return "\n".join(line.text for line in pane(app).diff_lines)


def settled(app: AgentTuiApp) -> bool:
    return idle(app) and not pane(app).busy


def notices(app: AgentTuiApp) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


async def start_session(pilot: Any, repo: Path, command: str, name: str = "fix") -> AgentTuiApp:
    """A shell session on ``repo``'s worktree that ran ``command``, with the pane open."""
    app = await ready(pilot)
    await app.create_session({"architecture": "shell", "name": name, "workspace": {"project": str(repo)}})
    await wait_until(pilot, lambda: app.current is not None, what="the session")
    app.composer.load_text(command)
    app.composer.focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: idle(app) and app.current.state.changes is not None, timeout=60,
                     what="the command and its change set")
    await pilot.press("f5")
    return app


async def select_file(pilot: Any, app: AgentTuiApp, path: str) -> None:
    pane(app).file_list.cursor = pane(app).paths.index(path)
    await wait_until(pilot, lambda: not pane(app).busy and pane(app).diff_lines
                     and pane(app).diff_lines[0].path == path, what=f"the diff of {path}")


async def test_the_pane_shows_files_counts_and_diff_and_merges_squashed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    before = head(repo)
    async with make_app(tmp_path).run_test(size=SIZE, notifications=True) as pilot:
        app = await start_session(pilot, repo, "sed -i 's/v1/v2/' src/app.py && printf 'x\\ny\\n' > notes.txt "
                                               "&& head -c 3000 /dev/urandom > blob.bin")
        assert pane(app).shown and not app.conversation.display and app.focused is pane(app).file_list
        rows = await wait_until(pilot, lambda: len(listed(app)) == 3 and listed(app), what="three files")
        assert rows["src/app.py"].split() == ["M", "+1", f"{MINUS}1", "src/app.py"]
        assert rows["notes.txt"].split() == ["A", "+2", f"{MINUS}0", "notes.txt"]
        assert rows["blob.bin"].split() == ["A", "binary", "blob.bin"]
        title = str(app.query_one("#changes-title").render())
        assert "agent-tui/fix → main" in title and f"3 files +3 {MINUS}1" in title

        await select_file(pilot, app, "src/app.py")
        assert "-print('v1')" in diff_text(app) and "+print('v2')" in diff_text(app)
        assert "notes.txt" not in diff_text(app)
        await select_file(pilot, app, "blob.bin")
        assert "binary" in diff_text(app)
        await pilot.press("y")
        assert app.clipboard == str(Path(app.current.summary.workspace.path) / "blob.bin")

        # Merge from the pane: squash (the first choice) into the prefilled target.
        await pilot.press("m")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "MergeScreen")
        assert app.screen.query_one("#into").value == "main"
        await pilot.click("#merge")
        await wait_until(pilot, lambda: any(t == "Merge" for t, _ in notices(app)), timeout=30, what="the merge")
        assert head(repo, "main~1") == before  # one new commit on the target
        assert git(repo, "log", "-1", "--format=%s", "main").startswith("fix (agent-tui session, squashed)")
        assert git(repo, "diff", "--stat", "main~1", "main").count("|") == 3
        assert (repo / "src/app.py").read_text() == "print('v2')\n"  # checked out and clean: it moved
        assert status(repo) == ""
        # The change set is empty again and the pane says what happened (from the reduced state).
        await wait_until(pilot, lambda: settled(app) and not listed(app), what="an empty change set")
        assert "Merged into main (squash)" in str(app.query_one("#changes-banner").render())
        await pilot.press("f5")
        assert not pane(app).shown and app.conversation.display


async def test_a_conflicting_merge_lists_the_files_and_a_dirty_target_is_named(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    async with make_app(tmp_path).run_test(size=SIZE, notifications=True) as pilot:
        app = await start_session(pilot, repo, "echo agent >> README.md")
        await wait_until(pilot, lambda: settled(app) and "README.md" in listed(app))
        # Meanwhile the user changes the same line on main.
        (repo / "README.md").write_text("hello from the user\n")
        git(repo, "commit", "-qam", "user edit")
        user_head = head(repo)
        await pilot.press("m")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "MergeScreen")
        await pilot.click("#merge")
        await wait_until(pilot, lambda: any(t == "Merge refused: conflicts" for t, _ in notices(app)), timeout=30)
        message = next(m for t, m in notices(app) if t == "Merge refused: conflicts")
        assert "Nothing was changed" in message and "README.md" in message
        assert head(repo) == user_head and status(repo) == ""
        await wait_until(pilot, lambda: "conflicts in README.md" in str(app.query_one("#changes-banner").render()))
        assert app.query_one("#changes-banner").has_class("-error")

        # The target checked out with local changes: refused, and the reason is the title.
        (repo / "src/app.py").write_text("print('local')\n")
        await pilot.press("m")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "MergeScreen")
        await pilot.click("#merge")
        await wait_until(pilot, lambda: any(t == "Target branch has local changes" for t, _ in notices(app)),
                         timeout=30)
        assert head(repo) == user_head and (repo / "src/app.py").read_text() == "print('local')\n"


async def test_discard_one_file_then_all(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    async with make_app(tmp_path).run_test(size=SIZE, notifications=True) as pilot:
        app = await start_session(pilot, repo, "echo more >> README.md && sed -i 's/v1/v3/' src/app.py && echo n > new.txt")
        await wait_until(pilot, lambda: settled(app) and len(listed(app)) == 3)
        worktree = Path(app.current.summary.workspace.path)
        await select_file(pilot, app, "src/app.py")
        await pilot.press("d")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await wait_until(pilot, lambda: settled(app) and set(listed(app)) == {"README.md", "new.txt"}, timeout=30)
        assert (worktree / "src/app.py").read_text() == "print('v1')\n"
        await pilot.press("D")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await wait_until(pilot, lambda: settled(app) and not listed(app), timeout=30)
        assert (worktree / "README.md").read_text() == "hello\n" and not (worktree / "new.txt").exists()
        assert status(repo) == ""


async def test_a_comment_on_a_diff_line_goes_to_the_agent_quoting_file_and_line(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"src/app.py": "a = 1\nb = 2\nc = 3\n"})
    async with make_app(tmp_path).run_test(size=SIZE, notifications=True) as pilot:
        app = await start_session(pilot, repo, "sed -i 's/b = 2/b = 20/' src/app.py")
        await wait_until(pilot, lambda: settled(app) and "src/app.py" in listed(app))
        await select_file(pilot, app, "src/app.py")
        diff = pane(app).diff_view
        diff.focus()
        row = next(i for i, line in enumerate(pane(app).diff_lines) if line.text == "+b = 20")
        diff.cursor = row
        await pilot.press("r")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "CommentScreen")
        await pilot.press(*"use a constant")
        await pilot.press("enter")
        model = app.current

        def sent() -> str:
            users = [b for b in model.state.blocks if b.get("type") == "user_message"]
            return users[-1]["content"] if len(users) == 2 else ""

        message = await wait_until(pilot, sent, timeout=30, what="the comment as a message")
        assert message.startswith("Review comment on src/app.py line 2:")
        assert "+b = 20" in message and message.endswith("use a constant")


async def test_over_connect_the_pane_uses_the_http_routes(tmp_path: Path) -> None:
    import aiohttp

    repo = make_repo(tmp_path / "project")
    before = head(repo)
    server = ServeProcess(tmp_path)
    url = await server.start()
    try:
        app = build_app(build_parser().parse_args(["--connect", url, "--no-bell"]))
        app._cursor_blink = False
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await start_session(pilot, repo, "sed -i 's/v1/v2/' src/app.py && echo n > new.txt", name="remote fix")
            rows = await wait_until(pilot, lambda: settled(app) and len(listed(app)) == 2 and listed(app))
            assert rows["src/app.py"].split() == ["M", "+1", f"{MINUS}1", "src/app.py"]
            await select_file(pilot, app, "src/app.py")
            assert "+print('v2')" in diff_text(app)
            await pilot.press("e")
            await wait_until(pilot, lambda: any("not available over --connect" in m for _, m in notices(app)))
            await pilot.press("m")
            await wait_until(pilot, lambda: type(app.screen).__name__ == "MergeScreen")
            await pilot.press("down", "enter")  # the second strategy: merge (here a fast-forward)
            assert app.screen.strategy == "merge"
            await pilot.click("#merge")
            await wait_until(pilot, lambda: any(t == "Merge" for t, _ in notices(app)), timeout=30)
            assert head(repo, "main~1") == before
            # A fast-forward to the session's own commit (a squash would be a new "… squashed" one).
            assert git(repo, "log", "-1", "--format=%s", "main").startswith("agent-tui: changes of session")
            await wait_until(pilot, lambda: settled(app) and not listed(app))
            sid = app.current.session_id
        # What the pane showed is what the server says.
        async with aiohttp.ClientSession(url, headers=server.headers) as http:
            async with http.get(f"/sessions/{sid}/changes") as response:
                assert (await response.json())["files"] == []
    finally:
        await server.stop()


async def test_live_while_the_agent_works_and_a_storm_does_not_refetch_the_diff(tmp_path: Path) -> None:
    """File events update the list during the query; the selected file's diff is fetched again when
    an event names it, not for events about other files."""
    repo = make_repo(tmp_path / "project")
    wait_for = "while [ ! -e {0} ]; do sleep 0.02; done; rm {0}"
    command = (f"echo a > live.txt && {wait_for.format('go1')} && echo b >> live.txt && {wait_for.format('go2')} "
               f"&& for i in $(seq 200); do echo $i > storm$i.txt; done && {wait_for.format('go3')}")
    async with make_app(tmp_path).run_test(size=SIZE, notifications=True) as pilot:
        app = await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "live", "workspace": {"project": str(repo)}})
        model = await wait_until(pilot, lambda: app.current)
        await pilot.press("f5")
        app.composer.load_text(command)
        app.composer.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: "live.txt" in listed(app), timeout=60, what="the file event on screen")
        assert model.state.active_query is not None  # still running: this came from file:created
        worktree = Path(model.summary.workspace.path)
        fetches: list[str | None] = []
        get_diff = app.client.get_diff

        async def counted(session_id: str, path: str | None = None, context: int = 3) -> str:
            fetches.append(path)
            return await get_diff(session_id, path, context)

        app.client.get_diff = counted  # type: ignore[method-assign]
        await select_file(pilot, app, "live.txt")
        assert "+a" in diff_text(app)
        (worktree / "go1").touch()
        await wait_until(pilot, lambda: "+b" in diff_text(app), what="the diff to follow the file while running")
        assert model.state.active_query is not None
        before = len(fetches)
        (worktree / "go2").touch()
        await wait_until(pilot, lambda: len(listed(app)) == 201 and not pane(app).busy, timeout=30,
                         what="the storm of 200 files listed")
        assert fetches[before:] == []  # 200 events about other files: the diff was not fetched again
        assert pane(app).selected_path == "live.txt"
        (worktree / "go3").touch()
        await wait_until(pilot, lambda: settled(app) and listed(app)["live.txt"].split()[1] == "+2", timeout=60)


_EDITOR_APP = """
import asyncio, inspect, sys
from pathlib import Path
from agent_tui.app import AgentTuiApp
from runtime import AgentRuntime, MemoryStore, RuntimeConfig

tmp, repo = sys.argv[1:3]


class App(AgentTuiApp):
    CSS_PATH = AgentTuiApp.CSS_PATH and str(Path(inspect.getfile(AgentTuiApp)).parent / "app.tcss")

    async def on_ready(self) -> None:
        self.run_worker(self._prepare())

    async def _prepare(self) -> None:
        while not self.ready:
            await asyncio.sleep(0.05)
        await self.create_session({"architecture": "shell", "name": "ed", "workspace": {"project": repo}})
        await self.client.send_message(self.current.session_id, "echo edited > note.txt")


runtime = AgentRuntime(RuntimeConfig(persistence=MemoryStore(), data_dir=tmp + "/sandboxes", config_dir=tmp + "/config"))
sys.exit(App(runtime, bell=False, cursor_blink=False).run() or 0)
"""


def test_e_opens_the_file_in_the_editor_with_the_app_suspended(tmp_path: Path) -> None:
    """In a real terminal (App.suspend needs one): $EDITOR gets the file's path in the worktree."""
    import os
    import sys

    import pexpect

    from tests.tui.servers import child_env

    repo = make_repo(tmp_path / "project")
    marker = tmp_path / "editor-ran"
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\necho "$1" > {marker}\necho EDITOR-RAN\n')
    editor.chmod(0o755)
    (tmp_path / "home").mkdir()
    env = {**child_env(tmp_path / "home"), "TERM": "xterm-256color", "EDITOR": str(editor),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("VISUAL", None)
    script = tmp_path / "editor_app.py"  # a file: Textual finds the app's CSS relative to its class's source
    script.write_text(_EDITOR_APP)
    child = pexpect.spawn(sys.executable, [str(script), str(tmp_path), str(repo)], env=env, cwd=str(tmp_path),
                          dimensions=(40, 120), encoding="utf-8", codec_errors="replace", timeout=60)
    try:
        child.expect("shell · local")  # the session exists and is selected
        child.send("\x1b[15~")  # f5
        child.expect("1 file")  # the pane's title, once the change set arrived
        child.send("e")
        child.expect("EDITOR-RAN")
        child.expect("Changes")  # the app drew itself again after the editor
        # Keys sent while Textual restarts its input thread may be dropped: ask until the app
        # answers (the command palette opens), then close it and quit.
        for _ in range(20):
            child.sendcontrol("p")
            if child.expect(["Search for commands", pexpect.TIMEOUT], timeout=3) == 0:
                break
        child.send("\x1b")
        child.sendcontrol("q")
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close()
    assert child.exitstatus == 0
    opened = Path(marker.read_text().strip())
    assert opened.name == "note.txt" and opened.read_text() == "edited\n"
    assert tmp_path / "sandboxes" in opened.parents and repo not in opened.parents
    assert os.path.exists(opened)


async def test_commit_asks_for_a_message_and_the_branch_gets_the_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    async with make_app(tmp_path).run_test(size=SIZE, notifications=True) as pilot:
        app = await start_session(pilot, repo, "echo more >> README.md")
        await wait_until(pilot, lambda: settled(app) and "README.md" in listed(app))
        branch = app.current.summary.workspace.branch
        await pilot.press("c")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "CommitScreen")
        await pilot.press("enter")  # empty: refused in the dialog, which stays
        assert "needs a message" in str(app.screen.query_one(".problem").render())
        await pilot.press(*"Add more", "enter")
        await wait_until(pilot, lambda: any(t == "Commit" for t, _ in notices(app)), timeout=30)
        assert git(repo, "log", "-1", "--format=%s", branch).strip() == "Add more"
        assert head(repo, "main") == head(repo, f"{branch}~1")  # on the session branch only
        await wait_until(pilot, lambda: "Committed" in str(app.query_one("#changes-banner").render()))
        # Nothing left to commit: the refusal is shown, not lost.
        await pilot.press("c")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "CommitScreen")
        await pilot.press(*"again", "enter")
        await wait_until(pilot, lambda: any(t == "Commit failed" for t, _ in notices(app)), timeout=30)


async def test_row_list_draws_only_the_visible_rows() -> None:
    """10,000 rows: only what is on screen is turned into text; keys and clicks move the cursor."""
    from textual.app import App
    from textual.content import Content

    from agent_tui.widgets.row_list import RowList

    rendered: list[int] = []
    events: list[tuple[str, int]] = []

    def render_row(row: int) -> Content:
        rendered.append(row)
        return Content(f"row {row} " + "x" * 200)

    class Rows(App[None]):
        def compose(self):  # noqa: ANN202
            yield RowList(render_row)

        def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
            events.append(("highlighted", event.index))

        def on_row_list_selected(self, event: RowList.Selected) -> None:
            events.append(("selected", event.index))

    app = Rows()
    async with app.run_test(size=(60, 20)) as pilot:
        rows = app.query_one(RowList)
        rows.set_rows(list(range(10_000)), width=220)
        rows.focus()
        await pilot.pause()
        assert rows.count == 10_000 and 0 < len(set(rendered)) <= 20
        await pilot.press("end")
        await pilot.pause()
        assert rows.cursor == 9_999 and rows.scroll_offset.y > 9_900
        assert len(set(rendered)) <= 40  # the first screen and the last one
        await pilot.press("home", "down", "down")
        await pilot.click(RowList, offset=(2, 5))
        await pilot.click(RowList, offset=(2, 5))
        assert events[-3:] == [("highlighted", 2), ("highlighted", 5), ("selected", 5)]
        await pilot.press("enter")
        assert events[-1] == ("selected", 5)
        assert "row 5 xx" in rows.render_line(5).text


async def test_a_session_without_a_workspace_says_there_is_nothing_to_review(tmp_path: Path) -> None:
    async with make_app(tmp_path).run_test(size=SIZE, notifications=True) as pilot:
        app = await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "plain"})
        await wait_until(pilot, lambda: app.current is not None)
        await pilot.press("f5")
        await wait_until(pilot, lambda: "nothing to review" in str(app.query_one("#changes-empty").render()))
        assert pane(app).paths == []
        await pilot.press("m")
        assert app.screen is app.screen_stack[0]  # no merge dialog for a session without a worktree
        await wait_until(pilot, lambda: any("no worktree to review" in m for _, m in notices(app)))
