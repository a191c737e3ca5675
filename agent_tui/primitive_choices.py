"""``--primitive`` choices for the command lines: the primitive registry's names, read only when
argparse checks a value or prints help (``import runtime`` costs ~0.5 s; ``agent-tui --version``
and a plain start must not pay it before they need the runtime)."""

from __future__ import annotations

from collections.abc import Iterator


class PrimitiveChoices:
    def _names(self) -> list[str]:
        from runtime.primitives.registry import PrimitivePluginError, names

        try:
            return names()
        except PrimitivePluginError as exc:  # a broken plugin: say which, not a traceback
            raise SystemExit(f"agent-tui: {exc.message}") from exc

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


PRIMITIVE_CHOICES = PrimitiveChoices()
