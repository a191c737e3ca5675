"""A separate Python process running an AgentRuntime on a given database (used by the persistence tests).

python child_runtime.py dump DB DATA_DIR            -> prints {sessions, details, events} as JSON
python child_runtime.py stream DB DATA_DIR COMMAND  -> creates a shell session, sends COMMAND and
                                                       prints every event it receives as a JSON line
"""

from __future__ import annotations

import asyncio
import json
import sys

from runtime import AgentRuntime, RuntimeConfig


async def dump(db: str, data_dir: str) -> None:
    async with AgentRuntime(RuntimeConfig(db_path=db, data_dir=data_dir, config_dir=data_dir)) as rt:
        sessions = await rt.list_sessions()
        out = {"sessions": [s.wire() for s in sessions], "details": {}, "events": {}}
        for s in sessions:
            detail = await rt.get_session(s.session_id)
            out["details"][s.session_id] = detail.model_dump(mode="json", by_alias=True)
            events, _ = await rt.get_events(s.session_id)
            out["events"][s.session_id] = [e.wire() for e in events]
        print(json.dumps(out))


async def stream(db: str, data_dir: str, command: str) -> None:
    rt = AgentRuntime(RuntimeConfig(db_path=db, data_dir=data_dir, config_dir=data_dir))
    await rt.start()
    session = await rt.create_session({"architecture": "shell"})
    print(json.dumps({"sessionId": session.session_id}), flush=True)
    sub = rt.subscribe(session.session_id)
    await rt.send_message(session.session_id, command)
    async for event in sub:
        print(json.dumps(event.wire()), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        asyncio.run(dump(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(stream(sys.argv[2], sys.argv[3], sys.argv[4]))
