"""What a Pinecone read split holds, and how a reader claims its positions.

A split's positions are the offsets of its ids in list order. Its key is a ``PageRange``: the
page token its ids start at and its number of pages, plus the ids themselves when the plan could
afford to carry them (otherwise the reader lists those pages again).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from io_connectors.core.contract import Tracker


@dataclass(frozen=True)
class PageRange:
    """A split's ids: ``pages`` list pages of ``page_size`` ids from ``token`` (None: the first
    page), and the ids themselves when the plan could afford to carry them."""

    token: str | None
    pages: int
    page_size: int
    ids: tuple[str, ...] | None = None


def claimed(tracker: Tracker, start: int, groups: Iterable[list[str]]) -> Iterator[list[str]]:
    """Each group once every id in it has its position claimed; after a refused claim, the part
    claimed before it, then nothing more."""
    position = start
    for group in groups:
        for taken in range(len(group)):
            if not tracker.try_claim(position):
                if taken:
                    yield group[:taken]
                return
            position += 1
        yield group
