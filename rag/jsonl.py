"""One line of a JSON Lines file (question sets, packed corpora), with errors that name the line."""
from __future__ import annotations

import json
from typing import Any

from rag.errors import RagError


def parse_object(where: str, line: str, error: type[RagError], expected: str) -> dict[str, Any]:
    """The JSON object on `line`; `where` is "file:line", `expected` describes the keys wanted."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(item, dict):
        raise error(f"{where}: expected a JSON object {expected}")
    return item
