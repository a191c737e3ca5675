"""A pytest plugin that writes what the reliability suite ran and measured as JSON.

Loaded by ``scripts/reliability_report.py`` (``-p tests.reliability.report_plugin
--reliability-json PATH``). Per test: outcome, duration, the figures it recorded with
``record_property``, and for hypothesis tests the number of examples that ran (from hypothesis's
own statistics).
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()
_STARTED = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--reliability-json", default=None, help="write the reliability results here")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = {}
    config.stash[_STARTED] = time.time()


def _examples(statistics: str) -> int:
    # "- 60 passing, 0 failing, and 6 invalid test cases" per phase (older hypothesis: "examples").
    return sum(int(n) for n in re.findall(r"(\d+) passing", statistics))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    results = item.config.stash[_KEY]
    entry = results.setdefault(
        item.nodeid,
        {"nodeid": item.nodeid, "outcome": "passed", "duration_s": 0.0, "properties": {}, "longrepr": ""},
    )
    entry["duration_s"] = round(entry["duration_s"] + report.duration, 2)
    if report.failed:
        entry["outcome"] = "failed" if report.when == "call" else "error"
        entry["longrepr"] = str(report.longrepr)[-1500:]
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
        entry["longrepr"] = str(report.longrepr)[-300:]
    for name, value in report.user_properties:
        entry["properties"][name] = value
    statistics = getattr(item, "hypothesis_statistics", None)
    if report.when == "teardown" and isinstance(statistics, str):
        entry["properties"].setdefault("examples", _examples(statistics))
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    if doc and "doc" not in entry:
        entry["doc"] = doc.strip().split("\n\n")[0].replace("\n", " ")


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--reliability-json")
    if not path:
        return
    data = {
        "long": bool(session.config.getoption("--long", default=False)),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(session.config.stash[_STARTED])),
        "duration_s": round(time.time() - session.config.stash[_STARTED], 1),
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}",
        "tests": list(session.config.stash[_KEY].values()),
    }
    Path(path).write_text(json.dumps(data, indent=1))
