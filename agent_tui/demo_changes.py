"""The Changes pane scene for screenshots and snapshots: a real git repository (fixed content,
dates and identity), a real shell session on its worktree that edits files, the pane open on the
diff. Only the agent is scripted (a shell command); git, the worktree and the events are real."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

_ENV = {"GIT_AUTHOR_NAME": "Dana Dev", "GIT_AUTHOR_EMAIL": "dana@example.com", "GIT_COMMITTER_NAME": "Dana Dev",
        "GIT_COMMITTER_EMAIL": "dana@example.com", "GIT_AUTHOR_DATE": "2026-01-15T09:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-15T09:00:00Z", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

INVOICE = '''\
from decimal import Decimal


def total(lines):
    """Sum of the invoice lines, VAT included."""
    amount = sum(line.price * line.quantity for line in lines)
    return amount * Decimal("1.2")


def describe(invoice):
    return f"Invoice {invoice.number}: {total(invoice.lines)}"
'''

FILES = {
    "README.md": "# billing\n\nInvoices and their totals.\n",
    "src/billing/invoice.py": INVOICE,
    "src/billing/legacy_rates.py": "RATES = {'FR': 0.2, 'DE': 0.19}\n",
    "docs/rounding.md": "Totals are not rounded yet.\n",
}

#: What the "agent" does: a real shell command in the session's worktree.
COMMAND = r'''cat > src/billing/invoice.py <<'EOF'
from decimal import ROUND_HALF_EVEN, Decimal

VAT = Decimal("1.2")
CENT = Decimal("0.01")


def total(lines):
    """Sum of the invoice lines, VAT included, rounded to the cent (banker's rounding)."""
    amount = sum(line.price * line.quantity for line in lines)
    return (amount * VAT).quantize(CENT, rounding=ROUND_HALF_EVEN)


def describe(invoice):
    return f"Invoice {invoice.number}: {total(invoice.lines)}"
EOF
mkdir -p tests && printf 'from decimal import Decimal\n\nfrom billing.invoice import total\n\n\ndef test_rounds_half_even(line):\n    assert total([line(Decimal("0.125"), 1)]) == Decimal("0.15")\n' > tests/test_rounding.py
printf 'Totals are rounded to the cent, half to even.\n' > docs/rounding.md
rm src/billing/legacy_rates.py
head -c 2048 /dev/zero > docs/logo.png'''


def make_project(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **_ENV}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True, env=env)
    for name, content in FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(content, "utf-8")
    subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "Invoices"], cwd=path, check=True, env=env)
    return path


async def changes_scene(pilot: Any, tmp: Path) -> None:
    """A session that changed four files and added a binary one; the pane shows invoice.py's diff."""
    from .demo import settle

    app = pilot.app
    project = make_project(tmp / "billing")
    await app.create_session({"architecture": "shell", "name": "round-invoice-totals",
                              "workspace": {"project": str(project), "branch": "agent-tui/round-totals"}})
    model = app.current
    await app.client.send_message(model.session_id, COMMAND)
    for _ in range(3000):  # the sandbox starts, the command runs, the change set arrives
        await pilot.pause(0.02)
        state = model.state
        if state.changes and state.changes.get("head") and state.active_query is None \
                and len(state.changes["files"]) == len(FILES) + 1:
            break
    app.action_toggle_changes()
    pane = app.changes_pane
    pane.sync()
    file_list = pane.file_list
    file_list.cursor = pane.paths.index("src/billing/invoice.py")
    for _ in range(500):
        await pilot.pause(0.02)
        if not pane.busy and pane.diff_lines and pane.diff_lines[0].path == "src/billing/invoice.py":
            break
    await settle(pilot, app)
    app.clear_notifications()
    await settle(pilot, app)
