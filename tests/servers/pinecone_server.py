"""A local HTTP server that speaks Pinecone's REST API (version 2026-07) for tests and development.

The real ``pinecone`` SDK works against it unmodified::

    with PineconeLocalServer() as srv:
        pc = Pinecone(api_key="any", host=srv.url)
        pc.create_index(name="docs", dimension=768, metric="cosine", spec=ServerlessSpec("aws", "us-east-1"))
        idx = pc.Index(host=pc.describe_index("docs").host)

The control plane listens on ``srv.url``; every index gets its own data-plane listener
(``http://127.0.0.1:<port>``), started on create and stopped on delete, as real indexes have
their own hosts. Only vectors-API indexes (the ``_values`` / ``_sparse_values`` schema the SDK's
``dimension=``/``metric=``/``vector_type=`` create produces) are emulated.

Test hooks live on the control-plane port: ``GET /_admin/stats``, ``POST /_admin/stats/reset``,
``GET|POST|DELETE /_admin/faults`` (see :class:`FaultSpec`). Run standalone with
``python -m tests.servers.pinecone_server --port 5080``.
"""

from __future__ import annotations

import argparse
import hmac
import http
import logging
import os
import random
import re
import secrets
import signal
import socket
import threading
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from tests.servers import pinecone_limits as lim
from tests.servers.pinecone_limits import DEFAULT_NAMESPACE, ApiFailure, Record, bad_request

logger = logging.getLogger(__name__)

Response = tuple[int, str, bytes, dict[str, str]]  # status, content type, body, extra headers
JSON = "application/json"

DATA_OPS = (
    "upsert", "fetch", "list", "delete", "update", "query", "describe_index_stats", "fetch_by_metadata",
    "list_namespaces", "create_namespace", "describe_namespace", "delete_namespace",
)  # fmt: skip
CONTROL_OPS = ("list_indexes", "create_index", "describe_index", "delete_index", "configure_index")


# --- fault injection -------------------------------------------------------------------------
@dataclass
class FaultSpec:
    """Faults for one operation. Decisions are drawn from a per-operation RNG seeded by the seed.

    ``next_429``/``next_503`` fail exactly the next N requests (deterministic under concurrency);
    ``rate_429``/``rate_503`` fail that fraction of the remaining ones. ``retry_after`` is sent as
    the ``Retry-After`` header (seconds, ``None`` to omit) on both; the SDK honours it, so keep it
    small. ``latency_s`` is added to every request of the operation, faulted or not.
    """

    rate_429: float = 0.0
    rate_503: float = 0.0
    next_429: int = 0
    next_503: int = 0
    retry_after: str | None = "0"
    latency_s: float = 0.0

    @classmethod
    def of(cls, raw: FaultSpec | Mapping[str, Any]) -> FaultSpec:
        if isinstance(raw, FaultSpec):
            spec = FaultSpec(**asdict(raw))
        else:
            unknown = set(raw) - {f.name for f in fields(cls)}
            if unknown:
                raise ValueError(f"unknown fault settings: {sorted(unknown)}")
            spec = cls(**raw)
        if spec.retry_after is not None:
            spec.retry_after = str(spec.retry_after)
        if not (0 <= spec.rate_429 <= 1 and 0 <= spec.rate_503 <= 1 and spec.rate_429 + spec.rate_503 <= 1):
            raise ValueError("fault rates must be within [0, 1] and sum to at most 1")
        if spec.next_429 < 0 or spec.next_503 < 0 or spec.latency_s < 0:
            raise ValueError("next_429, next_503 and latency_s must be non-negative")
        return spec


class FaultInjector:
    """Per-operation fault configuration plus request, fault and error counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, FaultSpec] = {}
        self._rngs: dict[str, random.Random] = {}
        self._seed = 0
        self.reset_counters()

    def configure(self, faults: Mapping[str, FaultSpec | Mapping[str, Any]], seed: int = 0) -> None:
        """Replace the whole configuration; ``"*"`` applies to operations without their own entry."""
        known = {"*", *DATA_OPS, *CONTROL_OPS}
        unknown = set(faults) - known
        if unknown:
            raise ValueError(f"unknown operations {sorted(unknown)}; known: {sorted(known)}")
        specs = {op: FaultSpec.of(raw) for op, raw in faults.items()}
        with self._lock:
            self._specs, self._seed, self._rngs = specs, int(seed), {}

    def reset_counters(self) -> None:
        with self._lock:
            self._requests: defaultdict[str, int] = defaultdict(int)
            self._faults: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
            self._errors: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))

    def decide(self, op: str) -> tuple[int | None, str | None]:
        """Count a request of ``op``; apply its latency; return ``(status, retry_after)`` to fail it."""
        with self._lock:
            self._requests[op] += 1
            spec = self._specs.get(op) or self._specs.get("*")
            if spec is None:
                return None, None
            status: int | None = None
            if spec.next_429 > 0:
                spec.next_429 -= 1
                status = 429
            elif spec.next_503 > 0:
                spec.next_503 -= 1
                status = 503
            elif spec.rate_429 or spec.rate_503:
                rng = self._rngs.setdefault(op, random.Random(f"{self._seed}:{op}"))
                draw = rng.random()
                status = (
                    429 if draw < spec.rate_429 else 503 if draw < spec.rate_429 + spec.rate_503 else None
                )
            if status is not None:
                self._faults[op][str(status)] += 1
            latency, retry_after = spec.latency_s, spec.retry_after
        if latency:
            time.sleep(latency)
        return status, retry_after

    def count_error(self, op: str, status: int) -> None:
        with self._lock:
            self._errors[op][str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "faults": {op: dict(c) for op, c in self._faults.items()},
                "errors": {op: dict(c) for op, c in self._errors.items()},
                "fault_config": {op: asdict(s) for op, s in self._specs.items()},
                "seed": self._seed,
            }


# --- storage ---------------------------------------------------------------------------------
class Namespace:
    """Records of one namespace, with a sorted-id cache (for list) and a dense matrix cache (for
    query), both rebuilt lazily after writes so bulk upserts stay O(batch)."""

    __slots__ = ("_matrix", "_sorted", "explicit", "records")

    def __init__(self, explicit: bool = False) -> None:
        self.records: dict[str, Record] = {}
        self.explicit = explicit
        self._sorted: list[str] | None = None
        self._matrix: tuple[list[str], np.ndarray, np.ndarray] | None = None

    def put(self, vector_id: str, record: Record) -> None:
        if vector_id not in self.records:
            self._sorted = None
        self.records[vector_id] = record
        self._matrix = None

    def remove(self, vector_id: str) -> None:
        if self.records.pop(vector_id, None) is not None:
            self._sorted = self._matrix = None

    def clear(self) -> None:
        self.records.clear()
        self._sorted = self._matrix = None

    def sorted_ids(self) -> list[str]:
        """IDs in bitwise ("C") order; for ASCII ids Python's str order is the byte order."""
        if self._sorted is None:
            self._sorted = sorted(self.records)
        return self._sorted

    def dense_matrix(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(ids, float32 matrix, squared row norms)`` of the records that have dense values."""
        if self._matrix is None:
            ids = [i for i, r in self.records.items() if r[0] is not None]
            mat = np.stack([self.records[i][0] for i in ids]) if ids else np.empty((0, 0), np.float32)
            self._matrix = (ids, mat, np.einsum("ij,ij->i", mat, mat, dtype=np.float64))
        return self._matrix


class IndexState:
    """One index: its control-plane description and its namespaces."""

    def __init__(self, name: str, spec: lim.IndexSpec, model: dict[str, Any], ready_at: float) -> None:
        self.name, self.spec, self.model, self.ready_at = name, spec, model, ready_at
        self.lock = threading.RLock()
        self.namespaces: dict[str, Namespace] = {DEFAULT_NAMESPACE: Namespace()}
        self.listener: _Listener | None = None

    def prune(self, ns: str) -> None:
        """A namespace exists while it holds records, was created explicitly, or is the default."""
        space = self.namespaces.get(ns)
        if space is not None and not space.records and not space.explicit and ns != DEFAULT_NAMESPACE:
            del self.namespaces[ns]


# --- HTTP plumbing ---------------------------------------------------------------------------
class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, app: _App, host: str, port: int) -> None:
        self.app = app
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__((host, port), _Handler)
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and cut kept-alive connections, like a deleted index's host vanishing."""
        self.shutdown()
        self.server_close()
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Listener

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in one write, but keep small replies from waiting on Nagle.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging (and never risk writing credentials anywhere)."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (e.g. 414 for a request line over 64 KiB) as plain text, not HTML."""
        self.close_connection = True
        text = (message or http.HTTPStatus(code).phrase).encode("latin-1", "replace")
        self._write((code, "text/plain", text, {}))

    def _dispatch(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True  # the SDK always sends Content-Length; refuse anything else
            self._write((411 if length >= 0 else 400, "text/plain", b"Send a Content-Length body", {}))
            return
        if length > lim.PROXY_MAX_BODY_BYTES:
            while length > 0:  # drain, so the client reads the answer instead of a reset
                chunk = self.rfile.read(min(length, 1 << 20))
                length = length - len(chunk) if chunk else 0
            self._write((413, "text/plain", b"Payload Too Large", {}))  # like the proxy: no JSON
            return
        body = self.rfile.read(length) if length else b""
        self._write(self.server.app.process(self.command, self.path, self.headers, body))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _write(self, response: Response) -> None:
        status, content_type, body, extra = response
        head = [
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
            f"Date: {self.date_time_string()}",
            f"Content-Length: {len(body)}",
            f"x-pinecone-request-id: {secrets.token_hex(8)}",
        ]
        if body:
            head.append(f"Content-Type: {content_type}")
        head.extend(f"{k}: {v}" for k, v in extra.items())
        if self.close_connection:
            head.append("Connection: close")
        try:
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


@dataclass
class _Request:
    query: dict[str, list[str]]
    body: bytes
    params: dict[str, str]
    plane: str

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        if self.plane == "data":
            lim.check_request_size(len(self.body))
        if not self.body.strip():
            return {}
        try:
            return lim.json_loads(self.body)
        except (lim.JSONDecodeError, ValueError) as exc:
            if self.plane == "control":
                msg = f"Failed to parse the request body as JSON: {exc}"
                raise ApiFailure(422, "UNPROCESSABLE_ENTITY", msg) from None
            raise bad_request(f"Invalid JSON in request body: {exc}") from None


Handler = Callable[[_Request], tuple[int, Any]]


class _App:
    """Routing, authentication, fault injection and error rendering shared by both planes."""

    plane = "data"

    def __init__(self, owner: PineconeLocalServer) -> None:
        self.owner = owner
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = []

    def route(self, method: str, pattern: str, op: str, fn: Handler) -> None:
        self.routes.append((method, re.compile(pattern + r"/?\Z"), op, fn))

    def error(self, err: ApiFailure, headers: dict[str, str] | None = None) -> Response:
        body = lim.data_error_body(err) if self.plane == "data" else lim.control_error_body(err)
        return err.status, JSON, body, headers or {}

    def process(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Response:
        split = urlsplit(raw_path)
        if self.plane == "control" and split.path.startswith("/_admin/"):
            return self.owner.admin(method, split.path, body)
        found = None
        for verb, pattern, op, fn in self.routes:
            m = pattern.match(split.path)
            if m and verb == method:
                found = (op, fn, {k: unquote(v) for k, v in m.groupdict().items()})
                break
            if m and found is None:
                found = ()
        if not found:
            status, code = (405, "UNIMPLEMENTED") if found == () else (404, "NOT_FOUND")
            return self.error(ApiFailure(status, code, f"No route for {method} {split.path}"))
        op, fn, params = found
        if not self.owner.authorized(headers.get("Api-Key")):
            return 401, "text/plain", b"Unauthorized", {}  # OAS: plain-text UnauthorizedMessage
        status, retry_after = self.owner.faults.decide(op)
        if status is not None:
            extra = {"Retry-After": retry_after} if retry_after is not None else {}
            if status == 429:
                msg = f"Too many requests: request-per-second limit reached for {op} (injected fault)"
                return self.error(ApiFailure(429, "RESOURCE_EXHAUSTED", msg), extra)
            code = "UNAVAILABLE" if self.plane == "data" else "SERVICE_UNAVAILABLE"
            return self.error(ApiFailure(503, code, f"Service unavailable (injected fault in {op})"), extra)
        request = _Request(parse_qs(split.query, keep_blank_values=True), body, params, self.plane)
        try:
            status, payload = fn(request)
        except ApiFailure as err:
            self.owner.faults.count_error(op, err.status)
            return self.error(err)
        except Exception:
            logger.exception("pinecone local server: internal error in %s", op)
            self.owner.faults.count_error(op, 500)
            return self.error(ApiFailure(500, "INTERNAL", "Internal server error"))
        return status, JSON, (b"" if payload is None else lim.json_dumps(payload)), {}


# --- data plane ------------------------------------------------------------------------------
class DataPlane(_App):
    """The vectors API of one index (served on the index's own host)."""

    def __init__(self, owner: PineconeLocalServer, index: IndexState) -> None:
        super().__init__(owner)
        self.index = index
        for method, pattern, op, fn in (
            ("POST", "/vectors/upsert", "upsert", self.upsert),
            ("GET", "/vectors/fetch", "fetch", self.fetch),
            ("GET", "/vectors/list", "list", self.list_ids),
            ("POST", "/vectors/delete", "delete", self.delete),
            ("POST", "/vectors/update", "update", self.update),
            ("POST", "/vectors/fetch_by_metadata", "fetch_by_metadata", self.fetch_by_metadata),
            ("POST", "/query", "query", self.query),
            ("POST", "/describe_index_stats", "describe_index_stats", self.stats),
            ("GET", "/describe_index_stats", "describe_index_stats", self.stats),
            ("GET", "/namespaces", "list_namespaces", self.list_namespaces),
            ("POST", "/namespaces", "create_namespace", self.create_namespace),
            ("GET", "/namespaces/(?P<ns>[^/]+)", "describe_namespace", self.describe_namespace),
            ("DELETE", "/namespaces/(?P<ns>[^/]+)", "delete_namespace", self.delete_namespace),
        ):
            self.route(method, pattern, op, fn)

    def _space(self, ns: str) -> Namespace | None:
        return self.index.namespaces.get(ns)

    def upsert(self, req: _Request) -> tuple[int, Any]:
        ns, records = lim.parse_upsert(req.json(), self.index.spec, self.owner.null_metadata)
        with self.index.lock:
            space = self.index.namespaces.setdefault(ns, Namespace())
            for vector_id, record in records:
                space.put(vector_id, record)
        return 200, {"upsertedCount": len(records)}

    def fetch(self, req: _Request) -> tuple[int, Any]:
        ids = lim.check_ids(req.query.get("ids", []), lim.MAX_FETCH_IDS, "fetch")
        raw_ns = req.arg("namespace") or ""
        with self.index.lock:
            space = self._space(lim.check_namespace(raw_ns))
            found = [(i, space.records[i]) for i in ids if i in space.records] if space else []
        vectors = {i: lim.record_json(i, rec) for i, rec in found}
        return 200, {"vectors": vectors, "namespace": raw_ns, "usage": {"readUnits": 1 + len(found) // 10}}

    def list_ids(self, req: _Request) -> tuple[int, Any]:
        prefix = lim.check_prefix(req.arg("prefix"))
        limit = lim.check_limit(req.arg("limit"), lim.MAX_LIST_LIMIT, lim.MAX_LIST_LIMIT)
        after = lim.decode_token(req.arg("paginationToken"))
        raw_ns = req.arg("namespace") or ""
        with self.index.lock:
            space = self._space(lim.check_namespace(raw_ns))
            ids = space.sorted_ids() if space else []
        start = bisect_left(ids, prefix)
        if after is not None:
            start = max(start, bisect_right(ids, after))
        page = [i for i in ids[start : start + limit] if i.startswith(prefix)]
        end = start + len(page)
        out: dict[str, Any] = {
            "vectors": [{"id": i} for i in page],
            "namespace": raw_ns,
            "usage": {"readUnits": 1},
        }
        if page and end < len(ids) and ids[end].startswith(prefix):
            out["pagination"] = {"next": lim.encode_token(page[-1])}  # absent on the last page
        return 200, out

    def delete(self, req: _Request) -> tuple[int, Any]:
        body = req.json()
        ns = lim.check_namespace(body.get("namespace"))
        ids, delete_all, flt = body.get("ids"), bool(body.get("deleteAll")), body.get("filter")
        chosen = (ids is not None) + delete_all + (flt is not None)
        if chosen != 1:
            raise bad_request("Invalid request: exactly one of 'ids', 'deleteAll' or 'filter' must be given")
        if ids is not None:
            ids = lim.check_ids(ids, lim.MAX_DELETE_IDS, "delete")
        if flt is not None:
            if not flt:
                raise bad_request("Delete with empty metadata filter is not allowed")
            lim.check_filter(flt)
        with self.index.lock:
            space = self._space(ns)
            if space is None:
                if self.owner.strict_namespaces:
                    raise ApiFailure(404, "NOT_FOUND", "Namespace not found")
                return 200, {}
            if delete_all:
                space.clear()
            else:
                victims = ids or [i for i, r in space.records.items() if lim.matches(flt, r[2])]
                for vector_id in victims:
                    space.remove(vector_id)
            self.index.prune(ns)
        return 200, {}

    def update(self, req: _Request) -> tuple[int, Any]:
        body = req.json()
        ns = lim.check_namespace(body.get("namespace"))
        set_md, flt = body.get("setMetadata"), body.get("filter")
        if (body.get("id") is None) == (flt is None):
            raise bad_request("Invalid request: exactly one of 'id' or 'filter' must be given")
        with self.index.lock:
            space = self.index.namespaces.get(ns)
            if flt is not None:
                lim.check_filter(flt)
                if body.get("values") or body.get("sparseValues"):
                    raise bad_request("Invalid request: an update by filter can only set metadata")
                hits = [i for i, r in space.records.items() if lim.matches(flt, r[2])] if space else []
                if space and not body.get("dryRun"):
                    for i in hits:
                        self._merge(space, i, None, None, set_md)
                return 200, {"matchedRecords": len(hits)}
            vector_id = lim.check_vector_id(body["id"])
            if space is not None and vector_id in space.records:
                self._merge(space, vector_id, body.get("values"), body.get("sparseValues"), set_md)
        return 200, {}

    def _merge(self, space: Namespace, vector_id: str, values: Any, sparse: Any, set_md: Any) -> None:
        dense, old_sparse, metadata = space.records[vector_id]
        merged = {**(metadata or {}), **(set_md or {})} if set_md is not None else metadata
        patch = {"id": vector_id, "values": values or (None if dense is None else dense.tolist())}
        if sparse is not None or old_sparse is not None:
            patch["sparseValues"] = sparse or {
                "indices": old_sparse[0].tolist(),
                "values": old_sparse[1].tolist(),
            }
        patch["metadata"] = merged
        space.put(*lim.parse_record(patch, self.index.spec, self.owner.null_metadata))

    def query(self, req: _Request) -> tuple[int, Any]:
        body = req.json()
        spec = self.index.spec
        top_k = body.get("topK")
        if top_k is None:
            raise bad_request("Invalid request: 'topK' is required")
        top_k = lim.check_limit(top_k, 10, lim.MAX_TOP_K, "topK")
        raw_ns = body.get("namespace") or ""
        ns = lim.check_namespace(raw_ns)
        vector, sparse_q, by_id = body.get("vector"), body.get("sparseVector"), body.get("id")
        if by_id is not None and (vector is not None or sparse_q is not None):
            raise bad_request("Invalid request: 'id' cannot be combined with 'vector' or 'sparseVector'")
        if by_id is None and vector is None and sparse_q is None:
            raise bad_request("Invalid request: one of 'vector', 'sparseVector' or 'id' is required")
        flt = lim.check_filter(body["filter"]) if body.get("filter") else None
        with self.index.lock:
            space = self._space(ns)
            if space is None:
                return 200, {"matches": [], "namespace": raw_ns, "usage": {"readUnits": 1}}
            if by_id is not None:
                found = space.records.get(lim.check_vector_id(by_id))
                if found is None:
                    return 200, {"matches": [], "namespace": raw_ns, "usage": {"readUnits": 1}}
                dense_q, sparse = found[0], found[1]
            else:
                dense_q = lim.parse_dense(vector, "<query>") if vector is not None else None
                sparse = lim.parse_sparse(sparse_q, "<query>") if sparse_q is not None else None
            if spec.vector_type == "sparse" and dense_q is not None:
                raise bad_request("A sparse index can only be queried with 'sparseVector' or 'id'")
            if spec.vector_type == "dense" and dense_q is None:
                raise bad_request("A dense index must be queried with 'vector' or 'id'")
            if spec.vector_type == "dense" and sparse is not None and spec.metric != "dotproduct":
                raise bad_request("Sparse query values are supported only for the dotproduct metric")
            if dense_q is not None and len(dense_q) != spec.dimension:
                raise bad_request(
                    f"Query vector dimension {len(dense_q)} does not match the dimension of the index "
                    f"{spec.dimension}"
                )
            if dense_q is not None:
                ids, mat, sqnorms = space.dense_matrix()
            else:
                ids, mat, sqnorms = list(space.records), None, None
            records = [space.records[i] for i in ids]
        scores = np.zeros(len(ids), dtype=np.float64)
        if mat is not None and len(ids):
            scores += self._dense_scores(mat, sqnorms, dense_q)
        if sparse is not None:
            scores += np.array([_sparse_dot(sparse, r[1]) for r in records])
        keep = np.array([lim.matches(flt, r[2]) for r in records], dtype=bool) if flt else None
        if keep is not None:
            scores = np.where(keep, scores, np.inf if spec.metric == "euclidean" else -np.inf)
        order = np.argsort(scores if spec.metric == "euclidean" else -scores, kind="stable")[:top_k]
        include_values, include_md = bool(body.get("includeValues")), bool(body.get("includeMetadata"))
        matches = []
        for pos in order:
            if keep is not None and not keep[pos]:
                continue
            item = lim.record_json(ids[pos], records[pos], include_values)
            if not include_md:
                item.pop("metadata", None)
            item["score"] = float(scores[pos])
            matches.append(item)
        return 200, {"matches": matches, "namespace": raw_ns, "usage": {"readUnits": 5}}

    def _dense_scores(self, mat: np.ndarray, sqnorms: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Scores in float32 arithmetic like the service; squared L2 distance for euclidean."""
        dots = (mat @ q).astype(np.float64)
        q_sq = float(np.dot(q, q))
        metric = self.index.spec.metric
        if metric == "euclidean":  # Pinecone reports squared L2 distance; lower is closer
            return np.maximum(sqnorms - 2 * dots + q_sq, 0.0)
        if metric == "cosine":
            norms = np.sqrt(sqnorms) * (np.sqrt(q_sq) or 1.0)
            return dots / np.where(norms == 0, 1.0, norms)
        return dots

    def fetch_by_metadata(self, req: _Request) -> tuple[int, Any]:
        body = req.json()
        if not body.get("filter"):
            raise bad_request("Empty filter provided for fetch by metadata request")
        flt = lim.check_filter(body["filter"])
        limit = lim.check_limit(body.get("limit"), 100, lim.MAX_FETCH_BY_METADATA_LIMIT)
        after = lim.decode_token(body.get("paginationToken"))
        raw_ns = body.get("namespace") or ""
        with self.index.lock:
            space = self._space(lim.check_namespace(raw_ns))
            ids = space.sorted_ids() if space else []
            start = bisect_right(ids, after) if after is not None else 0
            hits: list[tuple[str, Record]] = []
            for vector_id in ids[start:]:
                record = space.records[vector_id]  # type: ignore[union-attr]
                if lim.matches(flt, record[2]):
                    hits.append((vector_id, record))
                    if len(hits) > limit:
                        break
        out: dict[str, Any] = {"vectors": {i: lim.record_json(i, r) for i, r in hits[:limit]}}
        out.update(namespace=raw_ns, usage={"readUnits": 1})
        if len(hits) > limit:
            out["pagination"] = {"next": lim.encode_token(hits[limit - 1][0])}
        return 200, out

    def stats(self, req: _Request) -> tuple[int, Any]:
        body = req.json() if req.body else {}
        if body.get("filter"):
            raise bad_request(
                "Serverless and starter indexes do not support describing index stats with metadata filtering"
            )
        spec = self.index.spec
        with self.index.lock:
            counts = {ns: len(s.records) for ns, s in self.index.namespaces.items() if s.records}
        out: dict[str, Any] = {"namespaces": {ns: {"vectorCount": n} for ns, n in sorted(counts.items())}}
        if spec.dimension is not None:
            out["dimension"] = spec.dimension
        out.update(indexFullness=0.0, totalVectorCount=sum(counts.values()), metric=spec.metric)
        out["vectorType"] = spec.vector_type
        return 200, out

    def _describe(self, ns: str, space: Namespace) -> dict[str, Any]:
        return {"name": ns, "record_count": str(len(space.records))}

    def list_namespaces(self, req: _Request) -> tuple[int, Any]:
        prefix = lim.check_prefix(req.arg("prefix"))
        limit = lim.check_limit(req.arg("limit"), lim.MAX_LIST_LIMIT, lim.MAX_LIST_LIMIT)
        after = lim.decode_token(req.arg("paginationToken"))
        with self.index.lock:
            visible = {
                ns: self._describe(ns, s)
                for ns, s in self.index.namespaces.items()
                if (s.records or s.explicit) and ns.startswith(prefix)
            }
        names = sorted(visible)
        start = bisect_right(names, after) if after is not None else 0
        page = names[start : start + limit]
        out: dict[str, Any] = {"namespaces": [visible[n] for n in page], "total_count": len(names)}
        if start + limit < len(names):
            out["pagination"] = {"next": lim.encode_token(page[-1])}
        return 200, out

    def create_namespace(self, req: _Request) -> tuple[int, Any]:
        body = req.json()
        name = body.get("name")
        if not name:
            raise bad_request("Invalid request: 'name' is required")
        if name == DEFAULT_NAMESPACE:
            raise bad_request(f"Namespace name {DEFAULT_NAMESPACE!r} is reserved and cannot be created")
        name = lim.check_namespace(name)
        with self.index.lock:
            space = self.index.namespaces.get(name)
            if space is not None:
                raise ApiFailure(409, "ALREADY_EXISTS", f"Namespace {name!r} already exists")
            space = self.index.namespaces[name] = Namespace(explicit=True)
            out = self._describe(name, space)
        if body.get("schema") is not None:
            out["schema"] = body["schema"]
        return 200, out

    def _named(self, req: _Request) -> tuple[str, Namespace]:
        ns = req.params["ns"]
        if not ns or len(ns) > lim.MAX_NAMESPACE_LEN or not ns.isascii():
            raise bad_request("Namespace name must be 1-512 ASCII characters")
        space = self.index.namespaces.get(ns)
        if space is None:
            raise ApiFailure(404, "NOT_FOUND", "Namespace not found")
        return ns, space

    def describe_namespace(self, req: _Request) -> tuple[int, Any]:
        with self.index.lock:
            return 200, self._describe(*self._named(req))

    def delete_namespace(self, req: _Request) -> tuple[int, Any]:
        with self.index.lock:
            ns, space = self._named(req)
            space.clear()
            space.explicit = False
            self.index.prune(ns)
        return 200, {}


def _sparse_dot(query: lim.Sparse, record: lim.Sparse | None) -> float:
    if record is None:
        return 0.0
    _, qi, ri = np.intersect1d(query[0], record[0], assume_unique=True, return_indices=True)
    return float(np.dot(query[1][qi].astype(np.float64), record[1][ri]))


# --- control plane ---------------------------------------------------------------------------
class ControlPlane(_App):
    """``/indexes`` on the control-plane port (errors use the control plane's ``ErrorResponse``)."""

    plane = "control"

    def __init__(self, owner: PineconeLocalServer) -> None:
        super().__init__(owner)
        self.route("GET", "/indexes", "list_indexes", self.list_indexes)
        self.route("POST", "/indexes", "create_index", self.create_index)
        self.route("GET", "/indexes/(?P<name>[^/]+)", "describe_index", self.describe_index)
        self.route("DELETE", "/indexes/(?P<name>[^/]+)", "delete_index", self.delete_index)
        self.route("PATCH", "/indexes/(?P<name>[^/]+)", "configure_index", self.configure_index)

    def _model(self, index: IndexState, initializing: bool = False) -> dict[str, Any]:
        ready = not initializing and time.monotonic() >= index.ready_at
        status = {"ready": ready, "state": "Ready" if ready else "Initializing"}
        host = index.listener.url if index.listener else None
        return {"name": index.name, "host": host, "status": status, **index.model}

    def _get(self, name: str) -> IndexState:
        index = self.owner.indexes.get(name)
        if index is None:
            raise ApiFailure(404, "NOT_FOUND", f"Index {name} not found.")
        return index

    def list_indexes(self, req: _Request) -> tuple[int, Any]:
        with self.owner.lock:
            indexes = sorted(self.owner.indexes.values(), key=lambda i: i.name)
            return 200, {"indexes": [self._model(i) for i in indexes]}

    def create_index(self, req: _Request) -> tuple[int, Any]:
        name, spec, model = lim.parse_create_index(req.json())
        with self.owner.lock:
            name = name or f"index-{secrets.token_hex(4)}"
            if name in self.owner.indexes:
                raise ApiFailure(409, "ALREADY_EXISTS", "Resource already exists.")
            index = IndexState(name, spec, model, time.monotonic() + self.owner.index_ready_delay)
            index.listener = _Listener(DataPlane(self.owner, index), self.owner.host, 0)
            index.listener.start()
            self.owner.indexes[name] = index
        logger.info("pinecone local server: created index %s at %s", name, index.listener.url)
        return 201, self._model(index, initializing=True)  # the SDK then polls describe until Ready

    def describe_index(self, req: _Request) -> tuple[int, Any]:
        with self.owner.lock:
            return 200, self._model(self._get(req.params["name"]))

    def delete_index(self, req: _Request) -> tuple[int, Any]:
        with self.owner.lock:
            index = self._get(req.params["name"])
            if index.model["deletion_protection"] == "enabled":
                raise ApiFailure(
                    403,
                    "FORBIDDEN",
                    "Deletion protection is enabled for this index. "
                    "Disable deletion protection before retrying.",
                )
            del self.owner.indexes[index.name]
        if index.listener is not None:
            index.listener.stop()
        logger.info("pinecone local server: deleted index %s", index.name)
        return 202, None

    def configure_index(self, req: _Request) -> tuple[int, Any]:
        body = req.json()
        if not isinstance(body, dict) or set(body) - {"deletion_protection", "tags", "read_capacity"}:
            raise bad_request("Only deletion_protection, tags and read_capacity can be configured here")
        with self.owner.lock:
            index = self._get(req.params["name"])
            if "deletion_protection" in body:
                index.model["deletion_protection"] = lim.check_deletion_protection(
                    body["deletion_protection"]
                )
            if "tags" in body:
                tags = {**(index.model["tags"] or {}), **lim.check_tags(body["tags"])}
                index.model["tags"] = {k: v for k, v in tags.items() if v != ""} or None
            if "read_capacity" in body:
                index.model["read_capacity"] = lim.read_capacity_model(body["read_capacity"])
            return 200, self._model(index)


# --- public entry point ----------------------------------------------------------------------
class PineconeLocalServer:
    """A local Pinecone (control plane + one data-plane host per index) in background threads.

    Args:
        api_key: if set, requests must carry exactly this ``Api-Key``; otherwise any non-empty
            key is accepted. A missing or wrong key gets Pinecone's plain-text 401.
        port: control-plane port (0 picks a free one). Index hosts always use free ports.
        null_metadata: ``"strip"`` drops ``null`` metadata values like the real service;
            ``"reject"`` answers 400 instead.
        strict_namespaces: deleting from a namespace that does not exist answers 404
            ``Namespace not found`` (serverless behaviour); ``False`` makes it a no-op.
        index_ready_delay: seconds a new index reports ``Initializing`` before ``Ready``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        null_metadata: str = "strip",
        strict_namespaces: bool = True,
        index_ready_delay: float = 0.0,
    ) -> None:
        if null_metadata not in ("strip", "reject"):
            raise ValueError("null_metadata must be 'strip' or 'reject'")
        self._api_key = api_key
        self.host = host
        self.null_metadata = null_metadata
        self.strict_namespaces = strict_namespaces
        self.index_ready_delay = index_ready_delay
        self.faults = FaultInjector()
        self.indexes: dict[str, IndexState] = {}
        self.lock = threading.RLock()
        self._port = port
        self._control: _Listener | None = None

    def __repr__(self) -> str:  # never include the API key
        return f"PineconeLocalServer(url={self.url if self._control else None!r})"

    # lifecycle
    def start(self) -> PineconeLocalServer:
        if self._control is None:
            self._control = _Listener(ControlPlane(self), self.host, self._port)
            self._control.start()
        return self

    def stop(self) -> None:
        with self.lock:
            listeners = [i.listener for i in self.indexes.values() if i.listener is not None]
            self.indexes = {}
        if self._control is not None:
            listeners.append(self._control)
            self._control = None
        stoppers = [threading.Thread(target=listener.stop) for listener in listeners]  # in parallel
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()

    def __enter__(self) -> PineconeLocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Control-plane URL, ``http://127.0.0.1:<port>``."""
        if self._control is None:
            raise RuntimeError("server is not running")
        return self._control.url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def index_host(self, name: str) -> str:
        with self.lock:
            listener = self.indexes[name].listener
            assert listener is not None
            return listener.url

    def authorized(self, key: str | None) -> bool:
        if not key:
            return False
        return self._api_key is None or hmac.compare_digest(key.encode(), self._api_key.encode())

    # test hooks
    def set_faults(
        self,
        faults: Mapping[str, FaultSpec | Mapping[str, Any]] | None = None,
        *,
        seed: int = 0,
        **per_op: FaultSpec | Mapping[str, Any],
    ) -> None:
        """Replace the fault configuration, e.g. ``set_faults(upsert={"rate_429": 0.2}, seed=7)``."""
        self.faults.configure({**(faults or {}), **per_op}, seed)

    def clear_faults(self) -> None:
        self.faults.configure({})

    def stats(self) -> dict[str, Any]:
        """``{"requests": {op: n}, "faults": {op: {"429": n, "503": n}}, "errors": {op: {status: n}},
        "fault_config": {...}, "seed": n}``; faulted requests count in ``requests`` too."""
        return self.faults.snapshot()

    def reset_stats(self) -> None:
        self.faults.reset_counters()

    def admin(self, method: str, path: str, body: bytes) -> Response:
        """``/_admin/*`` on the control-plane port (no API key needed: a local test hook)."""

        def reply(status: int, payload: Any) -> Response:
            return status, JSON, lim.json_dumps(payload), {}

        try:
            if (method, path) == ("GET", "/_admin/stats"):
                return reply(200, self.stats())
            if (method, path) == ("POST", "/_admin/stats/reset"):
                self.reset_stats()
                return reply(200, self.stats())
            if (method, path) == ("GET", "/_admin/faults"):
                return reply(200, self.stats()["fault_config"])
            if (method, path) == ("DELETE", "/_admin/faults"):
                self.clear_faults()
                return reply(200, {})
            if (method, path) == ("POST", "/_admin/faults"):
                cfg = lim.json_loads(body) if body.strip() else {}
                self.set_faults(cfg.get("faults") or {}, seed=int(cfg.get("seed", 0)))
                return reply(200, self.stats()["fault_config"])
        except (ValueError, TypeError, AttributeError) as exc:
            return reply(400, {"error": {"code": "INVALID_ARGUMENT", "message": str(exc)}, "status": 400})
        return reply(
            404, {"error": {"code": "NOT_FOUND", "message": f"No admin route {method} {path}"}, "status": 404}
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Pinecone REST server (API 2026-07) for tests.")
    parser.add_argument("--port", type=int, default=5080, help="control-plane port (0 = any free port)")
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="require the API key held in this environment variable (keeps it off the command line)",
    )
    parser.add_argument("--null-metadata", choices=("strip", "reject"), default="strip")
    args = parser.parse_args(argv)
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        parser.error(f"environment variable {args.api_key_env} is empty or unset")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    server = PineconeLocalServer(api_key, port=args.port, null_metadata=args.null_metadata).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(server.url, flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
