"""The runner: a stdlib-only program copied into every sandbox as ``app/agent_runner``.

Run as ``python3 -m agent_runner <command>`` with ``app/`` on ``PYTHONPATH``. Each command reads
one JSON line on stdin and prints JSON lines on stdout (SPEC §5). Nothing here may import
anything outside the standard library and this package (its ``converters/`` subpackage included: the package as it sits on disk is what the sandbox gets).
"""
