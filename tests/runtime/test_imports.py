"""The runtime never imports Textual, and the local path never pays for importing Modal."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import runtime

ROOT = Path(__file__).resolve().parents[2]


def test_no_runtime_module_imports_textual_or_the_modal_sdk_eagerly() -> None:
    modules = ["runtime"] + [
        m.name
        for m in pkgutil.walk_packages(runtime.__path__, "runtime.")
        # __main__ modules run their program when imported (the server would start serving).
        if not m.name.startswith("runtime.primitives.modal") and not m.name.endswith("__main__")
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print('textual:', bad[:5])\n"
        "print('modal:', 'modal' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "textual: []" in out.stdout
    assert "modal: False" in out.stdout
    assert len(modules) > 20


def test_runner_and_converters_use_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    for folder in ("runner", "converters"):
        for path in (ROOT / "runtime" / folder).glob("*.py"):
            for line in path.read_text().splitlines():
                stripped = line.strip()
                if stripped.startswith("import ") or (
                    stripped.startswith("from ") and " import " in stripped
                ):
                    module = stripped.split()[1]
                    if module.startswith("."):
                        continue
                    assert module.split(".")[0] in allowed, f"{path.name}: {stripped}"
