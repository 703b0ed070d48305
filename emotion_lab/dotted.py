"""Reading ``a.b.c`` keys out of a nested config mapping.

Config checks and figure captions both name settings by their Hydra override path
(``loss.margin``); this leaf (standard library only) walks that path so either can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["lookup"]


def lookup(tree: Any, dotted: str, default: Any = None) -> Any:
    """The value at ``dotted`` in nested mappings, or ``default`` where a part is absent or the
    path runs into a non-mapping (pass a sentinel to tell a missing key from a stored None)."""
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node
