"""What the Gemini CLI tests (and benches) need of the agent, described once in
``tests/conformance/agents.py`` (``GEMINI``): the pinned CLI, the model, the host variables that
point it at the fake Gemini API."""

from __future__ import annotations

from typing import Any

from tests.conformance.agents import GEMINI, GEMINI_KEY, GEMINI_MODEL

GEMINI_BIN = GEMINI.bin
#: A fixed model: with the default ("auto") the CLI first asks a router model which to use.
MODEL = GEMINI_MODEL
API_KEY = GEMINI_KEY


def gemini_host_env(fake: Any, **extra: str) -> dict[str, str]:
    """The host environment the default profile's ``env`` names are read from."""
    return GEMINI.host_env(fake, **extra)
