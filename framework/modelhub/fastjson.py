"""JSON encoding for responses: orjson when installed (about 10x faster on the 1000-entry label list).

Output is compact UTF-8 (non-ASCII characters are not escaped), keys keep their order.
Anything orjson cannot encode natively (and dates, which Flask formats its own way) goes
through ``default``; values orjson refuses outright fall back to the standard library.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency, but keep working without it
    orjson = None  # type: ignore[assignment]

_OPTIONS = 0
if orjson is not None:
    _OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_SERIALIZE_NUMPY


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """``value`` as compact UTF-8 JSON bytes."""
    if orjson is not None:
        try:
            return orjson.dumps(value, default=default, option=_OPTIONS)
        except (TypeError, orjson.JSONEncodeError):
            pass  # e.g. integers beyond 64 bits, non-string keys: the standard library handles them
    return json.dumps(value, default=default, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
