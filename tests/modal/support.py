"""The fake ``modal`` module as a pytest fixture, for tests/modal and the primitive contract suite."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import RuntimeConfig
from runtime.config import ModalConfig
from tests.helpers import make_config

CREDENTIALS = {"token_id": "ak-fake", "token_secret": "as-fake"}


@pytest.fixture
def fake_modal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[types.ModuleType]:
    """``modal`` replaced by tests/fakes/fake_modal.py; sandboxes are local processes whose
    session folders live under ``tmp_path/modal-root`` (the adapter's ``SANDBOX_ROOT``)."""
    from runtime.primitives import modal as adapter
    from tests.fakes import fake_modal as fake

    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE", "MODAL_CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)
    fake.reset()
    fake.install(monkeypatch)
    root = tmp_path / "modal-root"
    root.mkdir()
    monkeypatch.setattr(adapter, "SANDBOX_ROOT", str(root))
    adapter.reset_caches()
    try:
        yield fake
    finally:
        fake.reset()
        adapter.reset_caches()


def modal_config(tmp_path: Path, **overrides: object) -> RuntimeConfig:
    """A runtime config on the modal primitive, with (fake) credentials."""
    values: dict[str, object] = {"primitive": "modal", "modal": ModalConfig(**CREDENTIALS)}
    values.update(overrides)
    return make_config(tmp_path, **values)
