"""``python -m agent_tui``: the same as the ``agent-tui`` command (``agent-tui web`` runs tabs this way)."""

from agent_tui.cli import main

raise SystemExit(main())
