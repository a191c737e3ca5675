"""The primitive registry: built-ins, third parties through the ``agent_tui.primitives`` entry-point
group (a real installed distribution's metadata on ``sys.path``), and broken plugins as errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from runtime.primitives import registry
from runtime.primitives.kind import Capabilities, PrimitiveKind
from runtime.primitives.local import LocalPrimitive
from tests.entry_points import installer
from tests.primitives.fake import FakeKind


class LocalClash(FakeKind):
    name: ClassVar[str] = "local"


class AttachMissing(FakeKind):
    """Declares reattach, but its primitive class has no ``attach``."""

    name: ClassVar[str] = "no-attach"
    capabilities: ClassVar[Capabilities] = Capabilities(reattach=True)
    primitive_class: ClassVar[type | None] = LocalPrimitive


class SweepMissing(FakeKind):
    name: ClassVar[str] = "no-sweep"
    capabilities: ClassVar[Capabilities] = Capabilities(orphan_sweep=True)


class CreateMissing(PrimitiveKind):
    name: ClassVar[str] = "no-create"


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    yield from installer(tmp_path, monkeypatch, registry.ENTRY_POINT_GROUP, registry.reload)


def test_builtins_come_first_with_their_capabilities() -> None:
    assert registry.names()[:2] == ["local", "modal"]
    assert registry.capabilities("local").on_host and registry.capabilities("local").isolation
    assert not registry.capabilities("local").reattach
    assert registry.capabilities("modal").reattach and registry.capabilities("modal").file_sync
    assert registry.DEFAULT_PRIMITIVE in registry.names()
    with pytest.raises(registry.UnknownPrimitive, match="unknown primitive 'docker'") as caught:
        registry.get("docker")
    assert caught.value.code == "INVALID_REQUEST"


def test_a_plugin_is_found_through_its_entry_point(install: object) -> None:
    from agent_tui.primitive_choices import PRIMITIVE_CHOICES
    from runtime.wire import CreateSessionRequest

    assert "fake" not in registry.names()
    install("fake = tests.primitives.fake:FakeKind")  # type: ignore[operator]
    assert registry.names() == ["local", "modal", "fake"]
    assert isinstance(registry.get("fake"), FakeKind)
    # Every place that offered a fixed list now offers it: the command lines and the wire schema.
    assert "fake" in PRIMITIVE_CHOICES and list(PRIMITIVE_CHOICES) == ["local", "modal", "fake"]
    request = CreateSessionRequest.model_validate({"architecture": "shell", "primitive": "fake"})
    assert request.primitive == "fake"
    schema = CreateSessionRequest.model_json_schema(by_alias=True)["properties"]["primitive"]
    assert {"enum": ["local", "modal", "fake"], "type": "string"} in schema["anyOf"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("fake = tests.primitives.fake:NoSuchThing", "cannot load entry point 'fake'"),
        ("fake = tests.primitives.no_such_module:FakeKind", "cannot load entry point 'fake'"),
        ("local = tests.primitives.test_registry:LocalClash", "'local' .* is already registered"),
        ("other = tests.primitives.fake:FakeKind", "registers 'fake': the entry point's name must be"),
        ("no-attach = tests.primitives.test_registry:AttachMissing", "declares 'reattach' but its primitive has no attach"),
        ("no-sweep = tests.primitives.test_registry:SweepMissing", "declares 'orphan_sweep' but its kind has no sweep_orphans"),
        ("no-create = tests.primitives.test_registry:CreateMissing", "'no-create' .* has no create"),
        ("odd = builtins:object", "is not a PrimitiveKind"),
    ],
)
def test_a_broken_plugin_is_an_error_every_time_it_is_looked_up(install: object, line: str, says: str) -> None:
    with pytest.raises(registry.PrimitivePluginError, match=says):
        install(line)  # type: ignore[operator]
    with pytest.raises(registry.PrimitivePluginError, match=says):  # not half-ignored afterwards
        registry.get("local")


def test_registered_is_scoped() -> None:
    with registry.registered(FakeKind()):
        assert "fake" in registry.names()
        with pytest.raises(registry.PrimitivePluginError, match="already registered"):
            registry.register(FakeKind())
    assert "fake" not in registry.names()


def test_the_registry_does_not_import_modal() -> None:
    import subprocess

    code = (
        "import sys; from runtime.primitives import registry; registry.names(); registry.capabilities('modal'); "
        "assert 'runtime.primitives.modal' not in sys.modules and 'modal' not in sys.modules; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_the_command_lines_name_a_broken_plugin_instead_of_a_traceback(install: object) -> None:
    from agent_tui.cli import main
    from runtime.server.serve import build_parser

    with pytest.raises(registry.PrimitivePluginError):
        install("fake = tests.primitives.fake:NoSuchThing")  # type: ignore[operator]
    with pytest.raises(SystemExit, match="agent-tui: cannot load entry point 'fake'"):
        main(["--primitive", "local", "--version"])
    with pytest.raises(SystemExit, match="agent-tui serve: cannot load entry point 'fake'"):
        build_parser()
