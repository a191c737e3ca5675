"""The command line, ``--serve`` (a Socket.IO client drives the app's runtime) and ``--connect``
(the app attached to an ``agent-tui serve`` process), including the server going away and back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from agent_tui.cli import build_app, build_parser, main
from agent_tui.widgets.tool_card import ToolCard
from runtime.server import token_file
from tests.tui.conftest import SIZE, idle, ready, wait_until
from tests.tui.servers import ServeProcess


def outputs(app: Any) -> list[str]:
    return [str(c.result.get("output", "")).strip() for c in app.conversation.query(ToolCard) if c.result]


def test_serve_subcommand_never_imports_textual() -> None:
    code = ("import sys\nfrom agent_tui import cli\ntry:\n    cli.main(['serve', '--help'])\n"
            "except SystemExit:\n    pass\nprint('TEXTUAL' if 'textual' in sys.modules else 'NO-TEXTUAL')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "agent-tui serve" in result.stdout
    assert result.stdout.strip().endswith("NO-TEXTUAL")


def test_the_app_path_imports_neither_server_nor_modal() -> None:
    code = ("import sys\nfrom agent_tui.cli import build_app, build_parser\n"
            "app = build_app(build_parser().parse_args(['--db', sys.argv[1]]))\n"
            "print(sorted(m for m in ('modal', 'aiohttp', 'socketio') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, "/tmp/agent-tui-unused.db"], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.parametrize("argv", [["--serve", "not-a-port"], ["--serve", "99999"], ["--primitive", "cloud"],
                                  ["--connect", "http://x", "--db", "y.db"]])
def test_bad_arguments_exit_2_with_a_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "agent-tui: error:" in capsys.readouterr().err


def test_serve_arguments_set_the_token_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No token given: the server generates one on start (every bind) and writes the token file.
    app = build_app(build_parser().parse_args(["--serve", "127.0.0.1:0", "--db", str(tmp_path / "a.db")]))
    assert app.client.config.token is None and not app.client.config.no_auth and app.client.config.write_token_file
    app = build_app(build_parser().parse_args(["--serve", "127.0.0.1:0", "--no-auth", "--db", str(tmp_path / "a.db")]))
    assert app.client.config.no_auth and not app.client.config.write_token_file
    (tmp_path / "tok").write_text("from-file\n")
    app = build_app(build_parser().parse_args(["--serve", "127.0.0.1:0", "--token-file", str(tmp_path / "tok"),
                                               "--db", str(tmp_path / "a.db")]))
    assert app.client.config.token == "from-file"
    for argv in (["--serve", "0.0.0.0:0", "--no-auth"], ["--no-auth"], ["--serve", "0", "--no-auth", "--token", "t"],
                 ["--connect", "http://127.0.0.1:1", "--token", "t", "--token-file", str(tmp_path / "tok")],
                 ["--serve", "0", "--token-file", str(tmp_path / "missing")]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2, argv
    err = capsys.readouterr().err
    assert "--no-auth is only allowed on a loopback bind" in err and "cannot read token file" in err
    app = build_app(build_parser().parse_args(["--serve", "[::1]:9000", "--token", "t", "--db", str(tmp_path / "a.db")]))
    assert (app.client.config.websocket_host, app.client.config.websocket_port, app.client.config.token) == \
        ("::1", 9000, "t")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("agent-tui ")


async def test_serve_a_socketio_client_drives_the_runtime_and_the_tui_shows_it(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--serve", "127.0.0.1:0", "--db", str(tmp_path / "app.db"), "--no-bell"])
    app = build_app(args)
    app._cursor_blink = False
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        server = app.client.server
        assert server is not None and server.port > 0
        header = app.query_one("#header")
        assert f"serving {server.url}" in header.right and "0 clients" in header.right
        assert server.token and f"token {server.token}" in header.right  # shown once, where it started
        assert token_file.read_for(server.url) == server.token  # a local --connect finds it
        client = socketio.AsyncClient()
        await client.connect(server.url, transports=["websocket"], auth={"token": server.token})
        try:
            await wait_until(pilot, lambda: "1 client" in (app._update_header() or header.right))
            ack = await client.call("session:create", {"architecture": "shell", "name": "from-socket"})
            assert ack["success"], ack
            session_id = ack["session"]["sessionId"]
            model = await wait_until(pilot, lambda: app.models.get(session_id), what="the session in the list")
            assert model.name == "from-socket"
            await app.select_session(session_id)
            ack = await client.call("session:message", {"sessionId": session_id, "content": "echo via-socket"})
            assert ack["success"], ack
            await wait_until(pilot, lambda: idle(app) and outputs(app) == ["via-socket"], what="the socket's message")
        finally:
            await client.disconnect()
    assert not token_file.token_path(server.port).exists()  # removed on a clean exit


async def test_no_auth_is_shown_in_the_header(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--serve", "127.0.0.1:0", "--no-auth", "--db", str(tmp_path / "app.db")])
    app = build_app(args)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.client.server.token is None
        assert "NO AUTH" in app.query_one("#header").right


async def test_connect_shows_a_served_session_live_and_sends_through_the_server(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path)
    url = await server.start()
    try:
        async with aiohttp.ClientSession(url, headers=server.headers) as http:
            async with http.post("/sessions", json={"architecture": "shell", "name": "shared"}) as response:
                session_id = (await response.json())["sessionId"]
            async with http.post(f"/sessions/{session_id}/messages", json={"content": "echo before"}) as response:
                assert response.status == 202
            app = build_app(build_parser().parse_args(["--connect", url, "--no-bell"]))
            app._cursor_blink = False
            async with app.run_test(size=SIZE) as pilot:
                await ready(pilot)
                model = await wait_until(pilot, lambda: app.current, what="the remote session")
                assert (model.session_id, model.name) == (session_id, "shared")
                await wait_until(pilot, lambda: idle(app) and outputs(app) == ["before"], what="the replayed history")
                # Live: another client sends; this app shows it as it happens.
                async with http.post(f"/sessions/{session_id}/messages", json={"content": "echo live"}) as response:
                    assert response.status == 202
                await wait_until(pilot, lambda: idle(app) and outputs(app) == ["before", "live"])
                # And the app sends through the server.
                app.composer.load_text("echo from-tui")
                app.composer.focus()
                await pilot.press("enter")
                await wait_until(pilot, lambda: idle(app) and outputs(app) == ["before", "live", "from-tui"])
                assert "remote · " + url in app.query_one("#header").left
    finally:
        assert await server.stop() == 0


async def test_connect_survives_the_server_going_away_and_resumes_from_its_last_seq(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path)
    url = await server.start()
    try:
        app = build_app(build_parser().parse_args(["--connect", url, "--no-bell"]))
        app._cursor_blink = False
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await ready(pilot)
            await app.create_session({"architecture": "shell", "name": "resilient"})
            model = await wait_until(pilot, lambda: app.current)
            app.composer.load_text("echo one")
            await pilot.press("enter")
            await wait_until(pilot, lambda: idle(app) and outputs(app) == ["one"])

            assert await server.stop() == 0
            await wait_until(pilot, lambda: not app.connected, what="the disconnect to be noticed")
            assert any(n.title == "Connection lost" for n in app._notifications)
            assert "DISCONNECTED" in app.query_one("#header").left
            app.composer.load_text("echo while-down")
            await pilot.press("enter")
            await wait_until(pilot, lambda: any(n.title == "Not sent" for n in app._notifications))
            assert app.is_running and app.composer.text == "echo while-down"  # given back, not lost

            await server.start()  # same port, same database
            await wait_until(pilot, lambda: app.connected, timeout=20, what="the reconnect")
            assert any(n.title == "Reconnected" for n in app._notifications)
            seen = model.state.last_seq
            await pilot.press("enter")  # the message kept in the composer, sent now
            await wait_until(pilot, lambda: idle(app) and outputs(app) == ["one", "while-down"], timeout=20)
            ids = [b["id"] for b in model.state.blocks]
            assert len(ids) == len(set(ids))
            async with aiohttp.ClientSession(url, headers=server.headers) as http, http.get(f"/sessions/{model.session_id}") as response:
                detail = await response.json()
            assert [b["id"] for b in detail["blocks"]] == ids  # nothing missed, nothing twice
            assert model.state.last_seq > seen
    finally:
        await server.stop()


async def test_connect_with_a_wrong_token_says_so_and_the_right_one_works(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path, extra=("--token", "s3cret"))
    url = await server.start()
    try:
        app = build_app(build_parser().parse_args(["--connect", url, "--token", "wrong", "--no-bell"]))
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_until(pilot, lambda: any(n.title == "Cannot start" for n in app._notifications))
            message = next(n.message for n in app._notifications if n.title == "Cannot start")
            assert "refused the token" in message and "--token" in message
            assert app.is_running and not app.ready
        app = build_app(build_parser().parse_args(["--connect", url, "--token", "s3cret", "--no-bell"]))
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await app.create_session({"architecture": "shell", "name": "authed"})
            await wait_until(pilot, lambda: app.current and app.current.name == "authed")
    finally:
        await server.stop()


async def test_serve_on_a_taken_port_exits_1_with_the_reason(tmp_path: Path,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        app = build_app(build_parser().parse_args(["--serve", f"127.0.0.1:{port}", "--db", str(tmp_path / "a.db")]))
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.return_code == 1, what="the app to give up")
        assert app.return_code == 1
        assert "agent-tui: cannot start:" in capfd.readouterr().err
    finally:
        taken.close()
