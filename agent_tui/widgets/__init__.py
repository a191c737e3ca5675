"""agent-tui's widgets, one per module."""
