"""The fake ``modal`` module cannot drift from the installed SDK.

Every SDK callable the adapter uses is listed in ``SURFACE`` with its fake twin; their signatures
(parameter names, kinds and defaults) must be identical, the remote ones must be async (``.aio``)
in both, and a scan of the adapter's source makes sure nothing it calls is missing from the list.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from runtime.primitives import modal as adapter
from tests.fakes import fake_modal as fake

# The real SDK is imported inside the tests only, so collecting this file does not import modal
# into the test process (other tests may check that nothing imports it).
REAL_CLASSES = {
    "App": "modal:App",
    "Client": "modal:Client",
    "Secret": "modal:Secret",
    "Image": "modal:Image",
    "Sandbox": "modal:Sandbox",
    "SandboxFilesystem": "modal.sandbox.sandbox:SandboxFilesystem",
    "ContainerProcess": "modal.container_process:ContainerProcess",
    "StreamReader": "modal.io_streams:StreamReader",
    "StreamWriter": "modal.io_streams:StreamWriter",
}

SURFACE = [
    "App.lookup",
    "Client.from_credentials",
    "Secret.from_dict",
    "Image.from_registry",
    "Image.debian_slim",
    "Image.apt_install",
    "Image.run_commands",
    "Image.env",
    "Image.build",
    "Sandbox.create",
    "Sandbox.from_id",
    "Sandbox.from_name",
    "Sandbox.list",
    "Sandbox.exec",
    "Sandbox.poll",
    "Sandbox.terminate",
    "Sandbox.get_tags",
    "Sandbox.detach",
    "SandboxFilesystem.read_bytes",
    "SandboxFilesystem.write_bytes",
    "SandboxFilesystem.make_directory",
    "SandboxFilesystem.remove",
    "SandboxFilesystem.list_files",
    "ContainerProcess.wait",
    "ContainerProcess.poll",
    "StreamReader.read",
    "StreamReader.__aiter__",
    "StreamWriter.write",
    "StreamWriter.write_eof",
    "StreamWriter.drain",
]

PROPERTIES = [
    ("Sandbox", ("object_id", "filesystem", "returncode")),
    ("App", ("app_id",)),
    ("ContainerProcess", ("stdout", "stderr", "stdin", "returncode")),
]


def real_class(name: str) -> type:
    module, attribute = REAL_CLASSES[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def pair(name: str) -> tuple[Any, Any]:
    cls, attribute = name.split(".")
    return getattr(real_class(cls), attribute), getattr(getattr(fake, cls), attribute)


def _default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.name, value.value)
    return value


def shape(obj: Any) -> list[tuple[str, Any, Any]]:
    """Parameters as (name, kind, default); a leading self/cls is dropped (bound or not)."""
    function = obj.aio if hasattr(obj, "aio") else obj
    parameters = list(inspect.signature(function).parameters.values())
    if parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    return [(p.name, p.kind, _default(p.default)) for p in parameters]


@pytest.mark.parametrize("name", SURFACE)
def test_fake_signature_matches_the_installed_sdk(name: str) -> None:
    real, twin = pair(name)
    assert shape(twin) == shape(real), f"fake {name} drifted from the installed modal"


@pytest.mark.parametrize("name", SURFACE)
def test_remote_calls_are_async_in_both(name: str) -> None:
    real, twin = pair(name)
    assert hasattr(real, "aio") == hasattr(twin, "aio"), name
    if hasattr(twin, "aio"):
        assert inspect.iscoroutinefunction(twin.aio) or inspect.isasyncgenfunction(twin.aio), name
        # The fake's blocking form refuses to run, as a blocking call on the event loop must never happen.
        assert type(twin).__call__ is fake._WithAio.__call__


@pytest.mark.parametrize(("cls", "names"), PROPERTIES)
def test_properties_exist_in_both(cls: str, names: tuple[str, ...]) -> None:
    real, twin = real_class(cls), getattr(fake, cls)
    for name in names:
        assert isinstance(inspect.getattr_static(real, name), property), f"{real.__name__}.{name}"
        assert isinstance(inspect.getattr_static(twin, name), property), f"fake {twin.__name__}.{name}"


def test_fake_exceptions_exist_with_the_same_hierarchy() -> None:
    import modal.exception

    fakes = vars(fake.exception)
    for name, cls in fakes.items():
        real = getattr(modal.exception, name, None)
        assert isinstance(real, type) and issubclass(real, Exception), f"modal.exception.{name} is gone"
        for other_name, other in fakes.items():
            if issubclass(cls, other):
                assert issubclass(real, getattr(modal.exception, other_name)), f"{name} < {other_name}"


def test_stream_type_matches() -> None:
    from modal.stream_type import StreamType

    assert {m.name: m.value for m in StreamType} == {m.name: m.value for m in fake.StreamType}


def test_everything_the_adapter_calls_is_covered() -> None:
    source = Path(adapter.__file__).read_text()
    # modal.<Class>.<call> on the module ...
    for cls, attr in re.findall(r"\bmodal\.([A-Z]\w*)\.(\w+)", source):
        assert f"{cls}.{attr}" in SURFACE, f"adapter calls modal.{cls}.{attr}: add it to SURFACE"
    for name in re.findall(r"(?:modal|errors)\.exception\.(\w+)|\berrors\.(Sandbox\w+)", source):
        for part in name:
            if part:
                assert part in vars(fake.exception), f"adapter uses exception {part}"
    # ... and every .aio method it calls on an object (sandbox, filesystem, process, stream).
    methods = {n.rsplit(".", 1)[1] for n in SURFACE}
    for method in re.findall(r"\.(\w+)\.aio\(", source):
        assert method in methods, f"adapter calls .{method}.aio(): add it to SURFACE"
    for method in re.findall(r"\.stdin\.(\w+)\(", source):
        assert method in methods, f"adapter calls stdin.{method}()"


def test_fake_version_is_the_pinned_sdk() -> None:
    import modal

    assert modal.__version__.startswith("1.6.")
    assert fake.__version__.split(".")[:2] == modal.__version__.split(".")[:2]
