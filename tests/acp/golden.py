"""Golden ACP streams: the ACP client's lines of one query (``golden/<name>.jsonl``, recorded from
real agents against the local fakes with ``ACP_RECORD=<file>``, and from the fake ACP agent) ->
the events the converter makes of them (``golden/<name>.events.json``, committed).

``python -m tests.acp.golden`` rewrites the expected files after a deliberate mapping change;
review the diff before committing it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from runtime.runner.converters.acp import AcpConverter

FOLDER = Path(__file__).resolve().parent / "golden"
MESSAGE_ID = "msg-golden"


def architecture_of(name: str) -> str:
    return {"gemini": "acp-gemini", "claude": "acp-claude", "codex": "acp-codex"}.get(name.split("_", 1)[0], "acp")


def convert(name: str) -> dict[str, Any]:
    """The events (without timestamps) and the query's failure for one recorded stream."""
    converter = AcpConverter({"messageId": MESSAGE_ID, "architecture": architecture_of(name),
                              "baseWorkspacePath": "/sandbox/workspace"})
    events: list[dict[str, Any]] = []
    for line in (FOLDER / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
        events.extend(converter.feed(line))
    closing, failure = converter.finish(0)
    events.extend(closing)
    for event in events:
        event.pop("timestamp", None)
    return {"events": events, "failure": failure}


def names() -> list[str]:
    return sorted(path.stem for path in FOLDER.glob("*.jsonl"))


def expected_path(name: str) -> Path:
    return FOLDER / f"{name}.events.json"


def main() -> int:
    for name in names():
        expected_path(name).write_text(json.dumps(convert(name), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {expected_path(name).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
