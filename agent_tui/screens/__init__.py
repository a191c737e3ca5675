"""agent-tui's screens."""
