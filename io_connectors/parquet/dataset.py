"""What an index name points at under a Parquet root, and where the index's facts come from.

An index is found in this order (``root`` is the ``path`` option, ``NAME`` the index):

1. ``root/NAME/_index.json``: our own layout (writable); facts from that file.
2. ``root/NAME/VDF_META.json``: a vector-io VDF folder holding one index (or the one chosen by
   ``vdf_index=``); ``root/VDF_META.json`` naming ``NAME`` among its indexes: that index. Each
   namespace's files are the ``*.parquet`` files under its ``data_path``; dimension, metric and
   vector column come from the meta file.
3. ``NAME`` a glob (``*``, ``?``, ``[...]``, ``**``): the matching ``*.parquet`` files.
4. ``root/NAME`` a file: that file.
5. ``root/NAME`` a folder: Pinecone's bulk-import layout, one sub-folder per namespace
   (``__default__`` the default namespace), every ``*.parquet`` file below it; ``*.parquet``
   files directly in the folder belong to the default namespace (a plain dataset dump).

Foreign datasets are read-only. Without facts in a meta file, the dimension comes from the
vector column (its fixed size, or the first vector's length) and the metric from the ``metric``
option, defaulting to cosine with a note saying so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import pyarrow.fs as pafs

from io_connectors.core.contract import normalize_metric
from io_connectors.core.errors import ConfigError, IndexNotFound
from io_connectors.parquet.storage import Storage, has_glob

INDEX_FILE = "_index.json"
VDF_META_FILE = "VDF_META.json"
DEFAULT_NAMESPACE_FOLDER = "__default__"
NATIVE, PINECONE_IMPORT, VDF, FILES = "native", "pinecone-import", "vdf", "files"


def namespace_folder(namespace: str) -> str:
    return DEFAULT_NAMESPACE_FOLDER if namespace == "" else quote(namespace, safe="")


def folder_namespace(folder: str) -> str:
    return "" if folder == DEFAULT_NAMESPACE_FOLDER else unquote(folder)


@dataclass(frozen=True)
class Dataset:
    """An index's files by namespace and what is known about it before reading any row."""

    name: str
    layout: str
    files: Mapping[str, tuple[str, ...]]  # namespace -> file paths relative to the root
    url: str
    dimension: int | None = None
    metric: str | None = None  # None: not stated by the data
    sparse: bool | None = None
    vector_column: str | None = None
    id_column: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def writable(self) -> bool:
        return self.layout == NATIVE

    @property
    def extra_columns_are_metadata(self) -> bool:
        """Pinecone's import (and our layout) ignores columns other than its own."""
        return self.layout not in (NATIVE, PINECONE_IMPORT)


def discover(storage: Storage, name: str, options: Mapping[str, Any]) -> Dataset:
    """The dataset ``name`` names under ``storage``; ``IndexNotFound`` when nothing is there."""
    if not name or name in (".", "..") or ".." in name.split("/"):
        raise ConfigError(f"parquet: {name!r} is not a valid index name")
    if has_glob(name):
        files = tuple(f for f in storage.glob(name) if f.endswith(".parquet"))
        if not files:
            raise IndexNotFound("parquet", f"{name} (no .parquet file matches {storage.url(name)})")
        return Dataset(name, FILES, {"": files}, storage.url(name))
    kind = storage.kind(name)
    if kind == pafs.FileType.File:
        return Dataset(name, FILES, {"": (name,)}, storage.url(name))
    if kind == pafs.FileType.Directory and storage.is_file(name, INDEX_FILE):
        return _native(storage, name)
    if kind == pafs.FileType.Directory and storage.is_file(name, VDF_META_FILE):
        return _vdf(storage, name, name, options)
    if storage.is_file(VDF_META_FILE):
        indexes = json.loads(storage.read_text(VDF_META_FILE)).get("indexes", {})
        if name in indexes:
            return _vdf(storage, "", name, {**options, "vdf_index": name})
    if kind == pafs.FileType.Directory:
        return _import_folder(storage, name)
    raise IndexNotFound("parquet", f"{name} (nothing at {storage.url(name)})")


def list_datasets(storage: Storage) -> list[str]:
    """Our indexes and VDF folders under the root, and the indexes of a VDF folder root."""
    names = set()
    for info in storage.listdir():
        if info.type == pafs.FileType.Directory and (
            storage.is_file(info.base_name, INDEX_FILE) or storage.is_file(info.base_name, VDF_META_FILE)
        ):
            names.add(info.base_name)
    if storage.is_file(VDF_META_FILE):
        names.update(json.loads(storage.read_text(VDF_META_FILE)).get("indexes", {}))
    return sorted(names)


def _native(storage: Storage, name: str) -> Dataset:
    info = json.loads(storage.read_text(name, INDEX_FILE))
    files = {}
    for entry in storage.listdir(name):
        if entry.type == pafs.FileType.Directory:
            files[folder_namespace(entry.base_name)] = tuple(storage.parquet_files(name, entry.base_name))
    return Dataset(
        name,
        NATIVE,
        files,
        storage.url(name),
        info.get("dimension"),
        info.get("metric", "cosine"),
        bool(info.get("sparse")),
    )


def _import_folder(storage: Storage, name: str) -> Dataset:
    files: dict[str, tuple[str, ...]] = {}
    direct = storage.parquet_files(name)
    if direct:
        files[""] = tuple(direct)
    for entry in storage.listdir(name):
        if entry.type != pafs.FileType.Directory:
            continue
        if entry.base_name.startswith((".", "_")) and entry.base_name != DEFAULT_NAMESPACE_FOLDER:
            continue
        found = storage.parquet_files(name, entry.base_name, recursive=True)
        if found:
            namespace = folder_namespace(entry.base_name)
            files[namespace] = files.get(namespace, ()) + tuple(found)
    if not files:
        raise IndexNotFound("parquet", f"{name} (no .parquet files in {storage.url(name)})")
    layout = PINECONE_IMPORT if not direct or len(files) > 1 else FILES
    return Dataset(name, layout, files, storage.url(name))


def _vdf(storage: Storage, folder: str, name: str, options: Mapping[str, Any]) -> Dataset:
    """A vector-io VDF folder: ``VDF_META.json`` lists indexes, each a list of namespaces with
    ``data_path`` (relative to the folder), ``dimensions``, ``metric`` and ``vector_columns``."""
    meta_path = f"{folder}/{VDF_META_FILE}" if folder else VDF_META_FILE
    where = storage.url(meta_path)
    try:
        meta = json.loads(storage.read_text(meta_path))
        indexes: dict[str, list[dict[str, Any]]] = meta["indexes"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"parquet: {where} is not a VDF meta file ({exc})") from None
    chosen = options.get("vdf_index") or (next(iter(indexes)) if len(indexes) == 1 else None)
    if chosen not in indexes:
        raise ConfigError(
            f"parquet: {where} holds the indexes {', '.join(sorted(indexes))}; choose one with "
            "vdf_index= (or name it as the index under this folder)"
        )
    files: dict[str, tuple[str, ...]] = {}
    dimensions, metrics, vector_columns = set(), set(), set()
    for entry in indexes[chosen]:
        data_path = "/".join(p for p in (folder, str(entry["data_path"]).strip("/")) if p and p != ".")
        found = (
            (data_path,)
            if storage.is_file(data_path)
            else tuple(storage.parquet_files(data_path, recursive=True))
        )
        namespace = entry.get("namespace") or ""
        files[namespace] = files.get(namespace, ()) + found
        dimensions.add(entry.get("dimensions"))
        metrics.add(entry.get("metric"))
        vector_columns.add((entry.get("vector_columns") or ["vector"])[0])
    if len(dimensions) > 1 or len(vector_columns) > 1:
        raise ConfigError(
            f"parquet: {where}: the namespaces of {chosen!r} differ in dimension or vector column; "
            "migrate them one by one with namespace="
        )
    metric = next(iter(metrics)) if len(metrics) == 1 else None
    return Dataset(
        name,
        VDF,
        files,
        storage.url(folder or name),
        next(iter(dimensions)),
        normalize_metric(metric) if metric else None,
        None,
        next(iter(vector_columns)),
        meta.get("id_column"),
    )
