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
#: The integers orjson encodes: i64 and u64.
_MAX_INT = 2**64 - 1
_MIN_INT = -(2**63)
INT_RANGE = (_MIN_INT, _MAX_INT)


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


def repair_text(text: str) -> str:
    """``text`` without lone surrogates: each becomes U+FFFD, while a high and low surrogate that
    stand next to each other become the one character they encode (the text survives)."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def repair(value: Any) -> Any:
    """A storable copy of ``value``: lone surrogates become U+FFFD, ints beyond 64 bits strings,
    NaN and infinities null, other unencodable objects their ``str``. The one repair of the
    runtime: the event bus and the runner-line gate both use it."""
    if isinstance(value, str):
        return repair_text(value)
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


def storable_text(value: Any) -> tuple[Any, str]:
    """``value`` as the store keeps it and its JSON text, repaired (``repair``) only when orjson
    refuses it as it is. Raises ``TypeError`` when even the repaired value cannot be encoded
    (nested deeper than orjson's 254 levels). The one encoding of an event's payload: the
    runner-line gate and the event bus both call it."""
    try:
        return value, orjson.dumps(value).decode()
    except TypeError:
        repaired = repair(value)
    return repaired, orjson.dumps(repaired).decode()
