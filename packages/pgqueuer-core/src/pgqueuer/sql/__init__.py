"""Named SQL blocks kept in ``.sql`` files beside the code that runs them.

A file holds blocks that each start with ``-- name: block_name``; the comment lines right after
it (purpose, ``$n`` parameters) belong to the block and are kept, since PostgreSQL ignores them.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:(.*)$", re.MULTILINE)
_VALID = re.compile(r"[a-z_][a-z0-9_]*")


def parse_blocks(text: str) -> dict[str, str]:
    """Split a file's text into ``{name: sql}``; a repeated name is an error."""
    blocks: dict[str, str] = {}
    matches = list(_NAME.finditer(text))
    for i, match in enumerate(matches):
        following = matches[i + 1] if i + 1 < len(matches) else None
        name = match.group(1).strip()
        if not _VALID.fullmatch(name):
            raise ValueError(f"SQL block name {name!r} is not snake_case")
        if name in blocks:
            raise ValueError(f"SQL block {name!r} is defined twice")
        end = following.start() if following else len(text)
        blocks[name] = text[match.end() : end].strip() + "\n"
    return blocks


@cache
def load_blocks(package: str, filename: str) -> dict[str, str]:
    """The named blocks of ``filename`` in ``package``, read once per process."""
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    return parse_blocks(text)
