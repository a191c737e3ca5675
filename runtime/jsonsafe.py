"""What may go into the event log: JSON that orjson (the store's and the server's encoder) accepts.

Python strings may hold lone surrogates and ints may exceed 64 bits; orjson refuses both. Input
from API callers is refused with ``InvalidRequest``; output parsed from a runner (``json.loads``
accepts ``"\\ud800"``) is repaired, so one odd line can never fail a whole group commit.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from .errors import InvalidRequest

_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_INT = 2**63 - 1
_MIN_INT = -(2**63)


def is_storable(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return False
    return True


def require_storable(value: Any, what: str) -> None:
    if not is_storable(value):
        raise InvalidRequest(
            f"{what} must be plain JSON: strings without lone surrogates, integers within 64 bits, "
            "finite numbers"
        )


def repair(value: Any) -> Any:
    """A storable copy of ``value``: lone surrogates become U+FFFD, huge ints strings, other
    unencodable objects their ``str``."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if _MIN_INT <= value <= _MAX_INT else str(value)
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {repair(str(k)): repair(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [repair(v) for v in value]
    return repair(str(value))
