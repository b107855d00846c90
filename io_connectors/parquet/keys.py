"""Which files of a namespace folder may hold given ids: what makes a write an upsert, cheaply.

An upsert must first remove the ids it writes from the folder's other files. Asking every file
(``is_in`` of the chunk's ids against each file's id column) costs a hash-table build and a probe
per file and write: with a chunk of 10,000 and a folder growing to 100 files (1M vectors) that
was ~6 ms per file, so time grew with the square of the dataset. ``KeyIndex`` keeps sorted
arrays of 64-bit hashes of every stored id key with the number of the file holding each (12
bytes an id, 12 MB at 1M ids): a write's ids are looked up with ``searchsorted``, and only files
with a matching hash (an id written again, or a rare hash collision) are read and checked exactly.

Hashes are Python's ``hash`` of the key string: salted per process, which is fine because the
index lives in one connector of one process. Files written by other workers (or changed on
disk) are noticed by their stamp (modification time and size) and (re)loaded on the next write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

Stamp = tuple[int, int]


def _hashes(keys: Sequence[str]) -> np.ndarray:
    return np.sort(np.fromiter((hash(k) for k in keys), dtype=np.int64, count=len(keys)))


class KeyIndex:
    """Hashes of the id keys of one folder's files, each with the number of its file.

    The hashes are kept in a few sorted runs, merged like a binary counter (a run is merged into
    the one before it while it is at least half that one's size): adding a file costs amortised
    O(log files) per id, not a move of every stored hash, and a lookup searches O(log files) runs.
    """

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, file numbers)
        self._numbers: dict[str, int] = {}  # path -> file number
        self._paths: dict[int, str] = {}  # file number -> path
        self._stamps: dict[str, Stamp] = {}
        self._next = 0

    def sync(self, stamps: Mapping[str, Stamp], load: Callable[[str], Sequence[str]]) -> None:
        """Make the index match the folder's files as they are now (``stamps``): files gone or
        changed are dropped, files new or changed are read with ``load`` (path -> id keys)."""
        stale = [path for path, stamp in self._stamps.items() if stamps.get(path) != stamp]
        self.drop(stale)
        for path, stamp in stamps.items():
            if path not in self._stamps:
                self.add(path, stamp, load(path))

    def add(self, path: str, stamp: Stamp, keys: Sequence[str]) -> None:
        """``path`` (as of ``stamp``) holds ``keys``; replaces what was known of it."""
        self.drop([path])
        number = self._next
        self._next += 1
        self._numbers[path], self._paths[number], self._stamps[path] = number, path, stamp
        hashes = _hashes(keys)
        self._runs.append((hashes, np.full(len(hashes), number, dtype=np.int32)))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (first, first_owners), (last, last_owners) = self._runs[-2], self._runs[-1]
            hashes, owners = np.concatenate([first, last]), np.concatenate([first_owners, last_owners])
            order = np.argsort(hashes, kind="stable")  # two sorted runs: one merge pass
            self._runs[-2:] = [(hashes[order], owners[order])]

    def drop(self, paths: Sequence[str]) -> None:
        numbers = [self._numbers.pop(p) for p in paths if p in self._numbers]
        for path in paths:
            self._stamps.pop(path, None)
        if not numbers:
            return
        for number in numbers:
            del self._paths[number]
        runs = []
        for hashes, owners in self._runs:
            kept = ~np.isin(owners, numbers)
            if kept.any():
                runs.append((hashes[kept], owners[kept]))
        self._runs = runs

    def holders(self, keys: Sequence[str]) -> set[str]:
        """Files that may hold any of ``keys`` (a superset: check them exactly)."""
        if not self._runs or not keys:
            return set()
        wanted = _hashes(keys)
        found: set[str] = set()
        for hashes, owners in self._runs:
            at = np.searchsorted(hashes, wanted)
            inside = at < len(hashes)
            hit = np.zeros(len(wanted), dtype=bool)
            hit[inside] = hashes[at[inside]] == wanted[inside]
            # Equal hashes sit together: a hash several files share spans from its first position.
            for value, start in zip(wanted[hit], at[hit]):
                stop = start
                while stop < len(hashes) and hashes[stop] == value:
                    found.add(self._paths[int(owners[stop])])
                    stop += 1
        return found
