"""Scripted sessions for screenshots and snapshot tests: fixed ids, timestamps and clock.

The scenes publish ordinary events into a real ``AgentRuntime`` (memory store), so what is drawn
goes through the same reducer and widgets as a live agent; only the agent itself is scripted.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runtime.models import ArchitectureInfo, ProfileInfo
from runtime.runner.converters.tool_kinds import tool_fields

T0 = datetime(2026, 1, 15, 9, 30, 0, tzinfo=UTC)
#: The app's clock in every scene: 95 s after T0.
CLOCK_S = (T0 + timedelta(seconds=95)).timestamp()
LOCATION = "~/.local/share/agent-tui/agent-tui.db"

ARCHITECTURES = [
    ArchitectureInfo(id="claude-code", display_name="Claude Code", available=True),
    ArchitectureInfo(id="opencode", display_name="OpenCode", available=True),
    ArchitectureInfo(id="gemini-cli", display_name="Gemini CLI", available=False,
                     reason="gemini is not on PATH (or set AGENT_TUI_GEMINI_PATH)"),
    ArchitectureInfo(id="shell", display_name="Shell (no model)", available=True),
]
PROFILES = [
    ProfileInfo(id="default", name="Default", description="The agent's own defaults"),
    ProfileInfo(id="reviewer", name="Reviewer", description="Read-only code review"),
]


def clock() -> float:
    return CLOCK_S


def ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ev(event_type: str, at: float, conversation: str = "main", /, **payload: Any) -> dict[str, Any]:
    # As the runtime labels them: it publishes queries, sandbox events and the user's messages
    # itself ("server"); everything else comes from the agent ("runner"). Positional-only: a
    # payload may have a ``kind`` (a permission request's tool kind).
    server = event_type.startswith(("query:", "ee:", "permission:resolved")) or (
        event_type == "block:upsert" and payload.get("block", {}).get("type") == "user_message")
    return {"type": event_type, "payload": payload, "timestamp": ts(at), "conversationId": conversation,
            "source": "server" if server else "runner"}


def block(at: float, conversation: str = "main", **fields: Any) -> dict[str, Any]:
    return ev("block:upsert", at, conversation, block=fields)


REPLY_PROSE = """\
I found the problem: `parse_token()` accepts tokens whose signature was made with a **rotated** key,
because the key cache is never invalidated. Two changes fix it:

1. drop cached keys when the JWKS `kid` list changes;
2. reject tokens older than the key that signed them.

Here is the new cache:

"""
REPLY_CODE = '''\
```python
class KeyCache:
    """Signing keys by kid, refreshed when the issuer rotates them."""

    def __init__(self, fetch, ttl: float = 300.0) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._keys: dict[str, bytes] = {}
        self._loaded_at = 0.0

    def get(self, kid: str, now: float) -> bytes | None:
        if kid not in self._keys or now - self._loaded_at > self._ttl:
            self._keys = dict(self._fetch())
            self._loaded_at = now
        return self._keys.get(kid)
'''


def _finished_session() -> list[dict[str, Any]]:
    """A completed query: question, thinking, two tools, a reply, cost."""
    return [
        block(0, id="u1", type="user_message", content="Why do old tokens still validate after a key rotation?",
              status="complete"),
        ev("query:started", 0.1, messageId="u1", content="Why do old tokens…"),
        ev("ee:creating", 0.2, statusMessage="Creating local sandbox (0.0s)", primitive="local"),
        ev("ee:ready", 1.4, eeId="local-ses-demo-1", primitive="local"),
        block(2, id="th1", type="thinking", status="complete",
              content="The cache in auth/keys.py is filled once at start-up and never refreshed…"),
        block(3, id="t1", type="tool_use", toolName="Read", toolUseId="tu1", status="complete",
              input={"file_path": "src/auth/keys.py"}, kind="read", path="src/auth/keys.py"),
        block(3.5, id="r1", type="tool_result", toolUseId="tu1", status="complete", isError=False, durationMs=12,
              output="import time\n\n_KEYS = {}\n\ndef signing_key(kid):\n    return _KEYS.get(kid)\n"),
        block(4, id="t2", type="tool_use", toolName="Bash", toolUseId="tu2", status="complete",
              input={"command": "pytest tests/auth -q"}, kind="execute", command="pytest tests/auth -q"),
        block(9, id="r2", type="tool_result", toolUseId="tu2", status="complete", isError=False, durationMs=4870,
              output="........................                                  [100%]\n24 passed in 4.71s\n"),
        block(10, id="a1", type="assistant_text", status="complete",
              content=REPLY_PROSE + REPLY_CODE + "```\n\nAll 24 auth tests pass with the new cache."),
        ev("metadata:update", 10.5, usage={"inputTokens": 18230, "outputTokens": 1204, "totalTokens": 19434},
           costUsd=0.4213, model="claude-sonnet-4-5"),
        ev("query:completed", 11, messageId="u1", durationMs=10900),
    ]


def _streaming_session() -> list[dict[str, Any]]:
    """A query still running: a failed tool (unfolded), a passing one, a reply mid-code-fence, one queued."""
    half = REPLY_CODE.splitlines(keepends=True)
    return [
        block(20, id="u2", type="user_message", content="Fix the flaky test in tests/test_sync.py", status="complete"),
        ev("query:started", 20, messageId="u2", content="Fix the flaky test"),
        ev("ee:ready", 20.5, eeId="sb-7f3a9c", primitive="modal"),
        block(22, id="t3", type="tool_use", toolName="Bash", toolUseId="tu3", status="complete",
              input={"command": "pytest tests/test_sync.py -x -q"}, kind="execute",
              command="pytest tests/test_sync.py -x -q"),
        block(30, id="r3", type="tool_result", toolUseId="tu3", status="error", isError=True, durationMs=7812,
              exitCode=1,
              output="F\n____ test_sync_twice ____\n>       assert store.version == 2\nE       assert 3 == 2\n"
                     "1 failed in 7.64s\n"),
        block(31, id="t4", type="tool_use", toolName="Grep", toolUseId="tu4", status="complete",
              input={"pattern": "version \\+= 1", "path": "src/"}, kind="search", path="src/"),
        block(31.5, id="r4", type="tool_result", toolUseId="tu4", status="complete", isError=False, durationMs=40,
              output="src/store.py:88:        self.version += 1\nsrc/store.py:141:            self.version += 1\n"),
        block(33, id="a2", type="assistant_text", status="pending", content=""),
        ev("block:delta", 34, blockId="a2", delta=REPLY_PROSE.replace("`parse_token()`", "`Store.sync()`")),
        ev("block:delta", 36, blockId="a2", delta="".join(half[:12])),
        block(40, id="u3", type="user_message", content="Also add a regression test", status="pending", queued=True),
    ]


async def publish(runtime: Any, session_id: str, drafts: list[dict[str, Any]]) -> None:
    await runtime.bus.publish(session_id, drafts)


async def build_sessions(runtime: Any) -> dict[str, str]:
    """Five sessions in five states; returns ``{name: session_id}``."""
    ids: dict[str, str] = {}

    async def create(name: str, architecture: str, primitive: str = "local") -> str:
        summary = await runtime.create_session({"architecture": architecture, "name": name, "primitive": primitive})
        ids[name] = summary.session_id
        return summary.session_id

    sid = await create("auth-key-rotation", "claude-code")
    await publish(runtime, sid, _finished_session())
    sid = await create("flaky-sync-test", "claude-code", "modal")
    await publish(runtime, sid, _streaming_session())
    sid = await create("docs-site", "shell")
    await publish(runtime, sid, [
        block(50, id="u4", type="user_message", content="Rebuild the docs site", status="complete"),
        ev("query:started", 50, messageId="u4", content="Rebuild the docs site"),
        ev("query:failed", 52, messageId="u4", code="AGENT_FAILED",
           error="the agent process died unexpectedly (exited with code 137 without a result)"),
    ])
    sid = await create("migrate-db", "claude-code", "modal")
    await publish(runtime, sid, [
        block(60, id="u5", type="user_message", content="Write the 0042 migration", status="complete"),
        ev("query:started", 60, messageId="u5", content="Write the 0042 migration"),
        ev("ee:creating", 60.2, statusMessage="Creating modal sandbox (2.1s)", primitive="modal"),
    ])
    sid = await create("release-notes", "claude-code")
    tag = "git tag -a v2.4.0 -m 'v2.4.0'"
    await publish(runtime, sid, [
        block(70, id="u6", type="user_message", content="Draft the release notes and tag v2.4.0", status="complete"),
        ev("query:started", 70, messageId="u6", content="Draft the release notes"),
        block(75, id="t6", type="tool_use", toolName="Bash", toolUseId="tu6", status="pending",
              input={"command": tag}, **tool_fields("execute", {"command": tag})),
        ev("permission:requested", 75.1, requestId="perm-1", toolName="Bash", toolUseId="tu6",
           input={"command": tag}, title="Run git tag -a v2.4.0?", **tool_fields("execute", {"command": tag})),
    ])
    return ids


async def _permission_session(runtime: Any) -> str:
    """A session whose agent asks to edit a file: the request card with its diff."""
    summary = await runtime.create_session({"architecture": "claude-code", "name": "fix-retry-loop",
                                            "primitive": "local"})
    edit = {"file_path": "src/sync/retry.py",
            "old_string": "    for attempt in range(5):\n        delay = 2 ** attempt\n        time.sleep(delay)\n",
            "new_string": ("    for attempt in range(5):\n        delay = min(2 ** attempt, MAX_DELAY_S)\n"
                           "        time.sleep(delay + random.uniform(0, JITTER_S))\n")}
    await publish(runtime, summary.session_id, [
        block(80, id="u7", type="user_message", content="Cap the retry delay and add jitter", status="complete"),
        ev("query:started", 80, messageId="u7", content="Cap the retry delay and add jitter"),
        block(81, id="a7", type="assistant_text", status="complete",
              content="The backoff in `retry.py` grows without a bound. I'll cap it and add jitter."),
        block(82, id="t7", type="tool_use", toolName="Edit", toolUseId="tu7", status="pending", input=edit,
              **tool_fields("edit", edit)),
        ev("permission:requested", 82.1, requestId="perm-2", toolName="Edit", toolUseId="tu7", input=edit,
           title="Edit src/sync/retry.py?", **tool_fields("edit", edit)),
    ])
    return summary.session_id


async def settle(pilot: Any, app: Any, within: float = 10.0) -> None:
    """Wait until every session has caught up and the screen has drawn it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        await pilot.pause(0.02)
        models = list(app.models.values())
        # Only followed sessions replay a log; the others are their summaries (controller.py).
        caught_up = all(m.state.last_seq >= _runtime_last_seq(app, m.session_id) for m in models if m.followed)
        if app.ready and caught_up and not app.conversation.is_dirty and not app._frame_pending:
            break
    await pilot.pause(0.05)
    await pilot.wait_for_scheduled_animations()


def _runtime_last_seq(app: Any, session_id: str) -> int:
    sessions = getattr(getattr(app.client, "sessions", None), "sessions", {})
    session = sessions.get(session_id)
    return session.view.last_seq if session is not None else 0


def make_app(tmp: Path, **kwargs: Any) -> Any:
    """The real app over a real runtime (memory store), with the scenes' clock and no blinking."""
    from runtime import AgentRuntime, MemoryStore, RuntimeConfig

    from .app import AgentTuiApp

    runtime = AgentRuntime(RuntimeConfig(persistence=MemoryStore(), data_dir=tmp / "sandboxes",
                                         config_dir=tmp / "config"))
    kwargs.setdefault("location", LOCATION)
    return AgentTuiApp(runtime, clock=clock, bell=False, cursor_blink=False, **kwargs)


async def scene(pilot: Any, name: str) -> None:
    """Drive ``pilot.app`` into scene ``name``: empty, sessions, streaming, dialog, search, permission."""
    from .screens.new_session import NewSessionScreen

    app = pilot.app
    await settle(pilot, app)
    if name == "empty":
        return
    if name == "changes":  # a real repository and shell session (agent_tui/demo_changes.py)
        from .demo_changes import changes_scene

        await changes_scene(pilot, Path(app.client.config.data_dir).parent)
        return
    ids = await build_sessions(app.client)
    await settle(pilot, app)
    app.clear_notifications()  # hidden sessions finishing notify; a still picture has no use for them
    if name in ("streaming", "search"):
        await app.select_session(ids["flaky-sync-test"])
    elif name == "permission":
        ids["fix-retry-loop"] = await _permission_session(app.client)
        await settle(pilot, app)
        app.clear_notifications()
        await app.select_session(ids["fix-retry-loop"])
        await settle(pilot, app)
        app.action_focus_permission()
    else:
        await app.select_session(ids["auth-key-rotation"])
    await settle(pilot, app)
    if name == "search":
        app.action_search()
        await pilot.pause()
        app.search_bar.input.value = "version"
        await settle(pilot, app)
        # A blinking cursor is on or off depending on when the frame is taken: a flaky snapshot.
        app.search_bar.input.cursor_blink = False
    elif name == "dialog":
        app.push_screen(NewSessionScreen(ARCHITECTURES, PROFILES))
        await pilot.pause()
        app.screen.query_one("#name").value = "refactor-billing"
    app.clear_notifications()
    await settle(pilot, app)
