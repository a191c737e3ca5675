"""The reducer folds ``workspace:changes`` and ``file:*`` into one change set (SPEC §10)."""

from __future__ import annotations

from runtime import SessionEvent, reduce_events
from runtime.models import WorkspaceChanges


def events(*items: tuple[str, dict]) -> list[SessionEvent]:
    return [
        SessionEvent(seq=i + 1, type=kind, payload=payload, timestamp="2026-01-01T00:00:00.000Z")
        for i, (kind, payload) in enumerate(items)
    ]


def files(state) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f["path"]: f["status"] for f in state.changes["files"]}


def test_live_file_events_update_the_last_change_set() -> None:
    state = reduce_events(
        events(
            ("workspace:changes", {"baseCommit": "b" * 40, "head": "b" * 40, "files": [
                {"path": "a.py", "status": "modified", "additions": 2, "deletions": 1},
                {"path": "gone.py", "status": "deleted", "additions": 0, "deletions": 3},
            ]}),
            ("file:created", {"path": "new.py", "size": 3}),
            ("file:modified", {"path": "a.py", "size": 9}),
            ("file:created", {"path": "gone.py", "size": 1}),  # re-created: modified against the base
            ("file:created", {"path": "tmp.py", "size": 1}),
            ("file:deleted", {"path": "tmp.py"}),  # added then deleted: no change at all
            ("file:deleted", {"path": "b.py"}),
        )
    )
    assert files(state) == {"a.py": "modified", "gone.py": "modified", "new.py": "added", "b.py": "deleted"}
    assert state.changes["files"][0]["additions"] == 2  # counts stay until the next listing
    WorkspaceChanges.model_validate(state.changes)


def test_a_new_listing_replaces_everything_and_replay_equals_live() -> None:
    log = events(
        ("file:created", {"path": "x", "size": 1}),
        ("workspace:changes", {"baseCommit": "c" * 40, "head": "d" * 40, "files": []}),
        ("file:modified", {"path": "y", "size": 1}),
        ("file:bogus", {"path": "z"}),
        ("file:created", {"path": 5}),
    )
    state = reduce_events(log)
    assert state.changes["baseCommit"] == "c" * 40 and files(state) == {"y": "modified"}
    live = reduce_events(log[:2])
    reduce_events(log[2:], live)
    assert live.changes == state.changes
