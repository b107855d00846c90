"""Exact record fingerprints computed over whole batches: what lets ``sync`` compare a million
records without a Python object per record.

A record's fingerprint is three fixed-width 16-byte values (numpy ``S16`` arrays, one entry a row):

- ``key``: the (target namespace, target id) the record is joined on; an int id and its string
  form differ unless the target stores ints as strings;
- ``fields``: its metadata's canonical JSON (after the target's documented metadata rule, as in
  deep verify) and its sparse part sorted by index;
- ``dense``: its dense values, bit for bit;

plus, for a target that normalises cosine vectors, verify's 16 projections of the unit vector
(``verify.sketches``), compared with verify's tolerance.

Every hash is two 64-bit lanes of a multiply-xorshift mix over the row's 32-bit words, computed
for the whole batch matrix at once (ids and metadata texts go through a fixed-width numpy string
array). Equal fingerprints mean equal canonical metadata, sparse and dense bytes, which deep
verify's rules call the same record; unequal ones only make a record a *candidate*, which sync
rechecks with verify's per-record digest and rules (``same_record``). The hash is not
cryptographic: it guards against accidental equality (2^-128 a pair), not against an adversary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring_ascii

import numpy as np

from io_connectors.core.records import IdValue, Metadata, SparseBlock, VectorBatch
from pipelines.differences import canonical_json

WIDTH = 16  # bytes a fingerprint takes
LONG_TEXT = 1024  # characters: longer texts are hashed alone, keeping the batch's text matrix narrow

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SEEDS = (np.uint64(0x243F6A8885A308D3), np.uint64(0x13198A2E03707344), np.uint64(0xA4093822299F31D0))


def _finalise(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place: a bijection that spreads every input bit."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


_COLUMN_KEYS: dict[tuple[int, int], np.ndarray] = {}


def _column_keys(width: int, seed: int) -> np.ndarray:
    """``width`` odd 64-bit constants, one per word position; the same in every process."""
    if (width, seed) not in _COLUMN_KEYS:
        with np.errstate(over="ignore"):
            columns = np.arange(1, width + 1, dtype=np.uint64) * _GOLDEN
            _COLUMN_KEYS[width, seed] = _finalise(columns ^ _SEEDS[seed]) | np.uint64(1)
    return _COLUMN_KEYS[width, seed]


def hash_words(words: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """(n, w) unsigned words (32- or 64-bit) -> (n, 2) uint64: each row's two lanes.

    Each word is salted with its position and finalised; each lane sums the mixed words under
    its own odd multipliers (mod 2^64) and is finalised again with the row's length. With
    ``lengths`` (one a row, in 64-bit words after the view below), words past a row's length are
    padding and count for nothing, so a row hashes the same whatever the batch's widest row."""
    words = np.ascontiguousarray(words)
    if words.dtype == np.uint32 and words.shape[1] % 2 == 0:
        words = words.view(np.uint64)  # half the columns: the mixing costs per word
    n, width = words.shape
    with np.errstate(over="ignore"):
        mixed = words.astype(np.uint64)
        mixed ^= _column_keys(width, 0)
        _finalise(mixed)
        if lengths is None:
            tail = np.full(n, width, np.uint64)
        else:
            mixed[np.arange(width) >= lengths[:, None]] = 0
            tail = lengths.astype(np.uint64)
        lanes = np.empty((n, 2), np.uint64)
        for lane in (1, 2):
            total = (mixed * _column_keys(width, lane)).sum(axis=1, dtype=np.uint64)
            lanes[:, lane - 1] = _finalise(total ^ _finalise(tail ^ _SEEDS[lane]))
    return lanes


def as_fixed(lanes: np.ndarray) -> np.ndarray:
    """(n, 2) uint64 -> (n,) ``S16``: sortable and comparable as one value a row."""
    return np.ascontiguousarray(lanes).view(f"S{WIDTH}").reshape(len(lanes))


def _long(text: str) -> str:
    """A long text's stand-in; canonical JSON never starts with a NUL, so it equals no text."""
    return "\0" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def hash_texts(texts: Sequence[str]) -> np.ndarray:
    """(n, 2) lanes of each text, through one fixed-width numpy string matrix."""
    texts = [t if len(t) <= LONG_TEXT else _long(t) for t in texts]
    if not texts:
        return np.empty((0, 2), np.uint64)
    matrix = np.array(texts, dtype=str)  # zero-padded UCS-4
    words = matrix.view(np.uint32).reshape(len(texts), -1)
    if words.shape[1] % 2:
        words = np.pad(words, ((0, 0), (0, 1)))  # whole 64-bit words: two characters each
    chars = np.fromiter(map(len, texts), np.int64, len(texts))
    # the length in characters tells "a" from "a\0"; whole words past it are padding
    lanes = hash_words(words, (chars + 1) // 2)
    with np.errstate(over="ignore"):
        lanes ^= _finalise(chars.astype(np.uint64) ^ _SEEDS[0])[:, None]
    return lanes


_ENCODER = c_make_encoder(
    None, str, encode_basestring_ascii, None, ":", ",", True, False, True
) if c_make_encoder is not None else None  # fmt: skip


def canonical_texts(metadata: Sequence[Metadata | None]) -> list[str]:
    """``differences.canonical_json`` of each row, with one C encoder for the batch (``json.dumps``
    builds an encoder per call, which cost more than the encoding itself)."""
    if _ENCODER is None:
        return [canonical_json(m) for m in metadata]
    texts = []
    for meta in metadata:
        try:
            texts.append("".join(_ENCODER(meta, 0)))
        except (RecursionError, ValueError):  # what json.dumps' circularity check would refuse
            texts.append(canonical_json(meta))
    return texts


def _sparse_texts(sparse: SparseBlock) -> list[str]:
    out = []
    for row in range(len(sparse)):
        part = sparse.row(row)
        if part is None:
            out.append("")
            continue
        order = np.argsort(part[0], kind="stable")
        out.append(part[0][order].tobytes().hex() + "/" + part[1][order].tobytes().hex())
    return out


def target_ids(ids: Sequence[IdValue], ints_as_strings: bool) -> list[IdValue]:
    """The ids as the target stores them (a target without int ids stores ``5`` as ``"5"``)."""
    if not ints_as_strings:
        return list(ids)
    return [str(i) if isinstance(i, int) else i for i in ids]


def key_fingerprints(namespace: str, ids: Sequence[IdValue]) -> np.ndarray:
    """(n, 2) lanes of (namespace, id), an int id tagged apart from a string one."""
    tagged = [("i" if isinstance(i, int) else "s") + str(i) for i in ids]
    lanes = hash_texts(tagged)
    space = hash_texts([namespace])[0]
    with np.errstate(over="ignore"):
        lanes ^= space
        return _finalise(lanes)


@dataclass
class Fingerprints:
    """One batch's fingerprints, row-aligned with its ids (see the module docstring)."""

    namespace: str  # the batch's own namespace (a source record is fetched from there)
    ids: list[IdValue]  # the batch's own ids
    buckets: np.ndarray  # the join bucket of each row
    keys: np.ndarray
    fields: np.ndarray
    dense: np.ndarray
    sketch: np.ndarray | None

    def take(self, rows: np.ndarray) -> Fingerprints:
        return Fingerprints(
            self.namespace,
            [self.ids[i] for i in rows],
            self.buckets[rows],
            self.keys[rows],
            self.fields[rows],
            self.dense[rows],
            None if self.sketch is None else self.sketch[rows],
        )


def fingerprint(
    batch: VectorBatch,
    target_namespace: str,
    ints_as_strings: bool,
    buckets: int,
    stored: Callable[[Metadata | None], Metadata | None] | None = None,
    sketches: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Fingerprints:
    """The batch's fingerprints keyed as the target holds it; ``stored`` is the target's
    documented metadata rule (applied to a source batch), ``sketches`` verify's projections."""
    key_lanes = key_fingerprints(target_namespace, target_ids(batch.ids, ints_as_strings))
    metadata = batch.metadata if stored is None else [stored(m) for m in batch.metadata]
    texts = canonical_texts(metadata)
    if batch.sparse is not None:
        texts = [t + "\n" + s for t, s in zip(texts, _sparse_texts(batch.sparse))]
    n = len(batch)
    if batch.values is None:
        dense = np.zeros((n, 2), np.uint64)
    else:
        dense = hash_words(batch.values.view(np.uint32), None)
    sketch = None
    if sketches is not None and batch.values is not None:
        sketch = sketches(batch.values)
    return Fingerprints(
        batch.namespace,
        list(batch.ids),
        (key_lanes[:, 0] % np.uint64(buckets)).astype(np.int64),
        as_fixed(key_lanes),
        as_fixed(hash_texts(texts)),
        as_fixed(dense),
        sketch,
    )


def concat(parts: Sequence[Fingerprints]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """keys, fields, dense, sketch of several parts, in order."""
    if not parts:
        empty = np.empty(0, f"S{WIDTH}")
        return empty, empty, empty, None
    sketch = None
    if all(p.sketch is not None for p in parts):
        sketch = np.concatenate([p.sketch for p in parts])  # type: ignore[misc]
    return (
        np.concatenate([p.keys for p in parts]),
        np.concatenate([p.fields for p in parts]),
        np.concatenate([p.dense for p in parts]),
        sketch,
    )
