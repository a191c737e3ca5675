"""``python -m runtime.server``: the same as ``agent-tui serve``."""

from .serve import main

raise SystemExit(main())
