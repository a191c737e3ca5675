"""``import modal`` costs ~0.3 s: the runtime and a local session must never pay it (SPEC §6)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import ROOT

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path

    import runtime
    import runtime.primitives.modal as adapter  # the adapter itself imports the SDK only when used
    from runtime import AgentRuntime, RuntimeConfig
    assert "modal" not in sys.modules, "import runtime imported modal"
    assert adapter.modal_available(RuntimeConfig())[0] is False
    assert "modal" not in sys.modules, "modal_available imported modal"

    async def main() -> None:
        tmp = Path(sys.argv[1])
        config = RuntimeConfig(db_path=tmp / "db.sqlite", data_dir=tmp / "sandboxes", config_dir=tmp / "config")
        async with AgentRuntime(config) as rt:
            session = await rt.create_session({"architecture": "shell"})
            message_id, _ = await rt.send_message(session.session_id, "echo local")
            async for event in rt.subscribe(session.session_id):
                if event.type in ("query:completed", "query:failed"):
                    assert event.type == "query:completed", event
                    break
            await rt.list_architectures()
        assert "modal" not in sys.modules, "a local session imported modal"

    asyncio.run(main())
    print("ok")
    """
)


def test_runtime_and_a_local_session_do_not_import_modal(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
