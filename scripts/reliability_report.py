#!/usr/bin/env python3
"""Run the reliability suite and write its results table into docs/reliability.md.

    .venv/bin/python scripts/reliability_report.py           # CI mode (~3 min on 2 cores)
    .venv/bin/python scripts/reliability_report.py --long    # long mode (50 kill cycles, 10-min
                                                              # soak, >= 10,000 fuzz examples each)
    .venv/bin/python scripts/reliability_report.py --from-json results.json   # render only

The suite is ``tests/reliability`` plus the server's generated-input tests
(``tests/server/test_fuzz.py``, ``tests/server/test_openapi.py``). pytest runs with
``tests/reliability/report_plugin.py``, which writes each test's outcome and the figures it
recorded as JSON; this script turns that into the table between the GENERATED markers of the doc.
The results of the other mode are kept (they are stored in the doc, in a comment), so the doc
always shows the latest CI run and the latest long run side by side.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
SUITE = ["tests/reliability", "tests/server/test_fuzz.py", "tests/server/test_openapi.py"]
BEGIN, END = "<!-- BEGIN GENERATED: scripts/reliability_report.py -->", "<!-- END GENERATED -->"
#: The results of each mode, kept in the doc (zlib + base64 JSON in a comment) for the next render.
DATA = re.compile(r"<!-- reliability-data:(ci|long) ([A-Za-z0-9+/=]+) -->")

#: test function name -> (area, what it injects). Tests not listed use their docstring.
CATALOGUE: dict[str, tuple[str, str]] = {
    "test_sigkill_at_random_moments_loses_nothing_any_client_received": (
        "crash",
        "SIGKILL of `agent-tui serve` at a random moment (mid-stream of 3 shell + 1 Claude Code "
        "sessions with 2 Socket.IO clients attached, or during start-up/recovery), restart on the same DB",
    ),
    "test_the_agent_process_killed_mid_query_fails_the_query_and_the_session_recovers": (
        "sandbox",
        "SIGKILL of the runner (the agent process) mid-query",
    ),
    "test_the_claude_cli_killed_mid_stream_fails_the_query_readably_and_the_next_message_works": (
        "sandbox",
        "SIGKILL of the Claude Code CLI mid-stream (fake model API)",
    ),
    "test_the_sandbox_folder_deleted_mid_query_fails_the_query_and_a_new_sandbox_is_made": (
        "sandbox",
        "the sandbox folder deleted while a query runs",
    ),
    "test_the_sandbox_folder_deleted_between_queries_is_replaced_on_the_next_message": (
        "sandbox",
        "the sandbox folder deleted between queries",
    ),
    "test_a_runner_that_prints_garbage_or_nothing_fails_the_query_and_the_session_recovers": (
        "sandbox",
        "the sandbox's runner replaced by one that prints garbage / nothing / dies by a signal",
    ),
    "test_a_runner_that_prints_nothing_and_hangs_is_interrupted_cleanly": (
        "sandbox",
        "a runner that ignores SIGTERM and never answers; the user interrupts",
    ),
    "test_a_child_that_ignores_sigterm_or_leaves_the_group_is_gone_after_an_interrupt": (
        "sandbox",
        "children that ignore SIGTERM, one escaped with `setsid`, one in `/`; the user interrupts",
    ),
    "test_yes_until_interrupted_keeps_the_log_bounded_and_ends_cleanly": (
        "sandbox",
        "`yes` (output without end) until the user interrupts",
    ),
    "test_the_disk_filling_up_mid_query_stops_the_agent_and_the_session_recovers": (
        "storage",
        "the store fails mid-query: the database's disk fills up (a 6 MB tmpfs filled by a ballast "
        "file; SQLite's `max_page_count`) or the database turns read-only (`query_only`); then it "
        "recovers",
    ),
    "test_a_read_only_database_is_a_clear_error_at_start_and_is_left_untouched": (
        "storage",
        "a read-only database (read-only bind mount as root, file modes otherwise), started twice",
    ),
    "test_a_corrupt_database_is_moved_aside_untouched_and_a_new_one_serves": (
        "storage",
        "a corrupt database at start-up (garbage / truncated / a page overwritten), started twice",
    ),
    "test_a_garbage_wal_beside_a_sound_database_loses_nothing": (
        "storage",
        "64 KB of random bytes as the -wal file of a sound database",
    ),
    "test_damaged_rows_in_a_sound_file_never_stop_the_server": (
        "storage",
        "a session row and an event whose JSON is damaged, started twice",
    ),
    "test_many_sessions_streaming_to_many_clients_lose_and_duplicate_nothing": (
        "load",
        "50 shell sessions each streaming 1 MB/min to 5 Socket.IO clients (3 unbatched, 2 batched)",
    ),
    "test_rss_is_flat_under_an_event_heavy_soak": (
        "load",
        "50 sessions each printing a short line every 20 ms to 5 clients for 10 minutes (long mode only)",
    ),
    "test_file_routes_refuse_traversal_and_symlink_escapes": (
        "hostile input",
        "27 traversal/symlink/FIFO/loop/oversized paths on both file routes, a 3 GB sparse file",
    ),
    "test_a_symlink_raced_against_the_check_never_leaks_a_file": (
        "hostile input",
        "the agent swaps a file for a symlink to a secret outside, in a loop, while a client reads it",
    ),
    "test_oversized_and_slow_bodies_are_refused_without_buffering": (
        "hostile input",
        "8 MB bodies (file routes, messages, create, options), a 10 GB Content-Length, an endless "
        "chunked body, 200 KB headers",
    ),
    "test_many_connections_opened_and_abandoned_leave_nothing_behind": (
        "hostile input",
        "TCP connections abandoned mid-request, Engine.IO handshakes never polled, joined WebSocket "
        "clients dropped dead",
    ),
    "test_every_route_and_event_refuses_a_missing_or_wrong_token": (
        "hostile input",
        "every route x 9 missing/wrong credentials (query string, cookie, Basic...), prefix tricks, every "
        "Socket.IO event on a refused connection",
    ),
    "test_fixed_hostile_lines_are_refused_or_repaired_never_stored_differently": (
        "hostile input",
        "runner lines with NaN/Infinity, a 100-digit integer, a lone surrogate, 200-deep nesting",
    ),
    "test_generated_runner_output_never_breaks_a_session": (
        "hostile input",
        "generated runner event lines (right types, junk payloads) through the real runner and server",
    ),
    "test_http_routes_survive_generated_bad_input": (
        "hostile input",
        "generated requests to every HTTP route",
    ),
    "test_socket_events_survive_generated_bad_input": (
        "hostile input",
        "generated payloads for every client event",
    ),
    "test_generated_garbage_frames_never_crash_the_server": (
        "hostile input",
        "generated raw WebSocket frames",
    ),
    "test_fixed_garbage_frames_never_crash_the_server": (
        "hostile input",
        "known-bad Engine.IO/Socket.IO frames",
    ),
    "test_free_form_fields_never_break_the_store": (
        "hostile input",
        "well-formed creates/option updates with junk free-form fields",
    ),
    "test_an_oversized_frame_closes_only_that_connection": ("hostile input", "a 2 MiB Socket.IO message"),
    "test_every_client_event_is_fuzzed": ("hostile input", "(checks the fuzz covers every client event)"),
    "test_schemathesis_finds_no_server_errors": (
        "hostile input",
        "schemathesis on the OpenAPI document (coverage, fuzzing and stateful phases, all checks)",
    ),
    "test_openapi_document_is_valid_and_complete": ("hostile input", "(the OpenAPI document itself)"),
}
AREAS = ["crash", "sandbox", "storage", "load", "hostile input", "regression"]
#: The property that says how much ran, by preference.
AMOUNT = [
    ("kills", "kill cycles"),
    ("examples", "examples"),
    ("connections_abandoned", "connections"),
    ("attempts", "attempts"),
    ("paths_tried", "paths"),
    ("reads_while_racing", "reads"),
    ("queries_completed", "1 MB queries"),
]


def run_suite(long_mode: bool, extra: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        command = [
            sys.executable,
            "-m",
            "pytest",
            *SUITE,
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.reliability.report_plugin",
            "--reliability-json",
            str(out),
            *(["--long"] if long_mode else []),
            *extra,
        ]
        print("running:", " ".join(command), flush=True)
        subprocess.run(command, cwd=ROOT, check=False)
        if not out.exists():
            raise SystemExit("pytest wrote no results (did it fail to start?)")
        return dict(json.loads(out.read_text()))


def _name(nodeid: str) -> tuple[str, str]:
    test = nodeid.split("::")[-1]
    base, _, param = test.partition("[")
    return base, param.rstrip("]")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_table(data: dict[str, Any]) -> str:
    rows: dict[str, list[str]] = {area: [] for area in AREAS}
    for test in data["tests"]:
        base, param = _name(test["nodeid"])
        area, injects = CATALOGUE.get(base, ("regression", test.get("doc") or base.replace("_", " ")))
        if test["nodeid"].startswith("tests/reliability/test_regressions.py"):
            area = "regression"
        props = dict(test["properties"])
        amount = "1"
        for key, label in AMOUNT:
            if key in props:
                amount = (
                    f"{props.pop(key):,} {label}"
                    if isinstance(props[key], int)
                    else f"{props.pop(key)} {label}"
                )
                break
        result = {"passed": "pass", "failed": "**FAIL**", "error": "**ERROR**", "skipped": "skipped"}[
            test["outcome"]
        ]
        if test["outcome"] == "skipped" and test.get("longrepr"):
            result += f" ({test['longrepr'].split('Skipped: ')[-1].strip(chr(39) + ')')[:80]})"
        figures = ", ".join(f"{k} {v}" for k, v in props.items())
        label = base.removeprefix("test_").replace("_", " ") + (f" `[{param}]`" if param else "")
        rows[area].append(
            f"| {_cell(label)} | {_cell(injects)} | {_cell(amount)} | {result} | {test['duration_s']:.1f} s | {_cell(figures)} |"
        )
    out = []
    for area in AREAS:
        if not rows[area]:
            continue
        out.append(f"\n**{area.capitalize()}**\n")
        out.append("| test | injects | ran | result | time | figures |")
        out.append("|---|---|---|---|---|---|")
        out.extend(rows[area])
    return "\n".join(out)


def render(results: dict[str, dict[str, Any]]) -> str:
    parts = [BEGIN]
    for mode, title in (("ci", "CI mode (part of the normal run)"), ("long", "Long mode (`--long`)")):
        data = results.get(mode)
        parts.append(f"\n### {title}\n")
        if data is None:
            parts.append(
                "Not run yet: `.venv/bin/python scripts/reliability_report.py"
                + (" --long`" if mode == "long" else "`")
            )
            continue
        counts: dict[str, int] = {}
        for test in data["tests"]:
            counts[test["outcome"]] = counts.get(test["outcome"], 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        parts.append(
            f"Run {data['started']} on {data['machine']}: {summary}, {data['duration_s']:.0f} s in all."
        )
        parts.append(render_table(data))
        blob = base64.b64encode(zlib.compress(json.dumps(data).encode(), 9)).decode()
        parts.append(f"\n<!-- reliability-data:{mode} {blob} -->")
    parts.append("\n" + END)
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="run the long mode")
    parser.add_argument("--from-json", type=Path, help="render these results instead of running")
    parser.add_argument("--output", type=Path, default=DOC)
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments")
    args = parser.parse_args()
    data = (
        json.loads(args.from_json.read_text()) if args.from_json else run_suite(args.long, args.pytest_args)
    )
    doc = args.output.read_text() if args.output.exists() else f"# Reliability\n\n{BEGIN}\n{END}\n"
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{args.output} has no {BEGIN} ... {END} section")
    results = {
        mode: json.loads(zlib.decompress(base64.b64decode(blob)))
        for mode, blob in DATA.findall(doc.split(BEGIN, 1)[1])
    }
    results["long" if data["long"] else "ci"] = data
    head, rest = doc.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    args.output.write_text(head + render(results) + tail)
    failed = [t["nodeid"] for t in data["tests"] if t["outcome"] in ("failed", "error")]
    print(f"wrote {args.output}: {len(data['tests'])} tests, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
