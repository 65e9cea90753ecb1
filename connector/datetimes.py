"""Parsing the date-times that clients send (xsd:dateTime with a time zone), for every layer."""

from __future__ import annotations

import datetime as dt
from typing import Any


def parse_datetime(raw: Any) -> dt.datetime:
    """An xsd:dateTime with a time zone; anything else raises ValueError."""
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"'{raw}' is not a dateTime such as 2025-12-31T23:59:59Z") from None
    else:
        raise ValueError(f"{raw!r} is not a dateTime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"'{raw}' has no time zone; add Z or an offset such as +01:00")
    return value
