"""A tiny stand-in for a Qdrant server's REST API, for fault injection around the real qdrant-client.

No Qdrant server can run here; this answers the handful of routes the connector uses (collection
info, upsert, scroll, count, facet, random sample, payload index) well enough to check request
shapes, headers and error handling, and it records every request. It keeps points in id order
(integers first, then UUIDs by value, as Qdrant does) and understands the two filters the
connector sends (``match`` on a keyword, ``is_empty``). It is not a Qdrant emulator.
``QdrantGrpcStub`` does the same for the few gRPC calls a write makes.

    with QdrantStub(collections={"docs": (4, "Cosine")}, api_key="k") as stub:
        stub.fail("PUT", "/collections/docs/points", 429, {"Retry-After": "0"})
        Client(provider="qdrant", host=stub.url, api_key="k").upsert(...)
        stub.requests  # [(method, path, query, headers, body), ...]
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class _Collection:
    size: int
    distance: str
    points: dict[Any, dict[str, Any]] = field(default_factory=dict)


def collection_info(size: int, distance: str, points: int) -> dict[str, Any]:
    """A collection's description as the REST API gives it: one unnamed dense vector, one
    sparse vector named ``sparse``."""
    params = {"vectors": {"size": size, "distance": distance}, "sparse_vectors": {"sparse": {}}}
    config = {
        "params": params,
        "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
        "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
                             "default_segment_number": 0, "flush_interval_sec": 5},
        "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
    }  # fmt: skip
    info = {"status": "green", "optimizer_status": "ok", "segments_count": 1, "config": config}
    return {**info, "payload_schema": {}, "points_count": points}


def _order(point_id: Any) -> tuple[int, int]:
    return (0, point_id) if isinstance(point_id, int) else (1, uuid.UUID(point_id).int)


def _matches(payload: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    for condition in (flt or {}).get("must") or []:
        if "is_empty" in condition:
            if payload.get(condition["is_empty"]["key"]) not in (None, [], ""):
                return False
        elif payload.get(condition["key"]) != condition["match"]["value"]:
            return False
    return True


class QdrantStub:
    def __init__(self, collections: dict[str, tuple[int, str]], api_key: str | None = None) -> None:
        self.collections = {name: _Collection(size, dist) for name, (size, dist) in collections.items()}
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.refuse_ids: set[Any] = set()
        self._faults: list[tuple[str, str, int, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, method: str, path: str, status: int, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``method path`` request with ``status`` (queued, in order)."""
        self._faults.append((method, path, status, headers or {}))

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def __enter__(self) -> QdrantStub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- routes ----------------------------------------------------------------------------
    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == "/collections" and method == "GET":
            return 200, {"collections": [{"name": n} for n in sorted(self.collections)]}
        match = re.fullmatch(r"/collections/([^/]+)(/.*)?", path)
        if match is None:
            return 404, None
        name, rest = match.group(1), match.group(2) or ""
        collection = self.collections.get(name)
        if collection is None:
            return 404, f"Not found: Collection `{name}` doesn't exist!"
        handler = {
            ("GET", ""): self._info,
            ("PUT", "/points"): self._upsert,
            ("POST", "/points/scroll"): self._scroll,
            ("POST", "/points/count"): self._count,
            ("POST", "/points/query"): self._sample,
            ("POST", "/facet"): self._facet,
            ("PUT", "/index"): lambda c, b: (200, {"operation_id": 1, "status": "completed"}),
        }.get((method, rest))
        return handler(collection, body) if handler else (404, f"no route {method} {rest}")

    def _info(self, c: _Collection, body: Any) -> tuple[int, Any]:
        return 200, collection_info(c.size, c.distance, len(c.points))

    def _upsert(self, c: _Collection, body: Any) -> tuple[int, Any]:
        refused = [p["id"] for p in body["points"] if p["id"] in self.refuse_ids]
        if refused:
            return 400, f"Wrong input: point {refused[0]} refused by the stub"
        for point in body["points"]:
            c.points[point["id"]] = point
        return 200, {"operation_id": 1, "status": "completed"}

    def _selected(self, c: _Collection, flt: Any) -> list[dict[str, Any]]:
        ordered = sorted(c.points.values(), key=lambda p: _order(p["id"]))
        return [p for p in ordered if _matches(p.get("payload") or {}, flt)]

    def _scroll(self, c: _Collection, body: dict[str, Any]) -> tuple[int, Any]:
        points = self._selected(c, body.get("filter"))
        if body.get("offset") is not None:
            points = [p for p in points if _order(p["id"]) >= _order(body["offset"])]
        limit = body.get("limit") or 10
        page = [
            {"id": p["id"], "payload": p.get("payload") if body.get("with_payload") else None,
             "vector": p.get("vector") if body.get("with_vector") else None}
            for p in points[:limit]
        ]  # fmt: skip
        return 200, {"points": page, "next_page_offset": points[limit]["id"] if len(points) > limit else None}

    def _count(self, c: _Collection, body: dict[str, Any]) -> tuple[int, Any]:
        return 200, {"count": len(self._selected(c, body.get("filter")))}

    def _sample(self, c: _Collection, body: dict[str, Any]) -> tuple[int, Any]:
        points = self._selected(c, body.get("filter"))
        chosen = random.sample(points, min(len(points), body.get("limit") or 10))
        return 200, {"points": [{"id": p["id"], "version": 0, "score": 1.0} for p in chosen]}

    def _facet(self, c: _Collection, body: dict[str, Any]) -> tuple[int, Any]:
        counts: dict[str, int] = {}
        for point in c.points.values():
            value = (point.get("payload") or {}).get(body["key"])
            if value is not None:
                counts[value] = counts.get(value, 0) + 1
        return 200, {"hits": [{"value": v, "count": n} for v, n in counts.items()]}

    # -- HTTP ------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with stub._lock:
                    stub.requests.append(Recorded(self.command, parts.path, query, headers, body))
                    status, result, extra = self._answer(parts.path, body, headers)
                self._send(status, result, extra)

            def _answer(
                self, path: str, body: Any, headers: dict[str, str]
            ) -> tuple[int, Any, dict[str, str]]:
                if stub.api_key is not None and headers.get("api-key") != stub.api_key:
                    return 401, "Invalid api-key", {}
                for i, (method, fault_path, status, extra) in enumerate(stub._faults):
                    if method == self.command and fault_path == path:
                        del stub._faults[i]
                        return status, f"injected {status}", extra
                status, result = stub._route(self.command, path, body)
                return status, result, {}

            def _send(self, status: int, result: Any, extra: dict[str, str]) -> None:
                if status == 200:
                    payload = {"result": result, "status": "ok", "time": 0.0}
                else:
                    payload = {"status": {"error": result or "error"}, "time": 0.0}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = _serve

        return Handler


class QdrantGrpcStub:
    """The gRPC side: collection list and info, counts (always 0) and upserts, with scripted
    status codes, recording each upsert request and each call's metadata. Built on qdrant-client's
    own generated service classes."""

    def __init__(self, collections: dict[str, tuple[int, str]], api_key: str | None = None) -> None:
        import grpc
        from qdrant_client import grpc as qgrpc
        from qdrant_client.conversions.conversion import RestToGrpc
        from qdrant_client.http import models

        self.upserts: list[Any] = []
        self.metadata: list[dict[str, str]] = []
        self._faults: list[Any] = []
        stub = self

        def check(context: Any) -> None:
            metadata = dict(context.invocation_metadata())
            stub.metadata.append(metadata)
            if api_key is not None and metadata.get("api-key") != api_key:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "Invalid api-key")
            if stub._faults:
                context.abort(stub._faults.pop(0), "injected")

        class Collections(qgrpc.CollectionsServicer):
            def List(self, request: Any, context: Any) -> Any:
                check(context)
                described = [qgrpc.CollectionDescription(name=n) for n in sorted(collections)]
                return qgrpc.ListCollectionsResponse(collections=described)

            def Get(self, request: Any, context: Any) -> Any:
                check(context)
                if request.collection_name not in collections:
                    context.abort(
                        grpc.StatusCode.NOT_FOUND, f"Collection {request.collection_name} not found"
                    )
                size, distance = collections[request.collection_name]
                info = models.CollectionInfo.model_validate(collection_info(size, distance, 0))
                return qgrpc.GetCollectionInfoResponse(result=RestToGrpc.convert_collection_info(info))

        class Points(qgrpc.PointsServicer):
            def Count(self, request: Any, context: Any) -> Any:
                check(context)
                return qgrpc.CountResponse(result=qgrpc.CountResult(count=0))

            def Upsert(self, request: Any, context: Any) -> Any:
                check(context)
                stub.upserts.append(request)
                done = models.UpdateResult(operation_id=1, status=models.UpdateStatus.COMPLETED)
                return qgrpc.PointsOperationResponse(result=RestToGrpc.convert_update_result(done))

        self._server = grpc.server(futures_executor(), options=[("grpc.max_receive_message_length", -1)])
        qgrpc.add_CollectionsServicer_to_server(Collections(), self._server)
        qgrpc.add_PointsServicer_to_server(Points(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def fail(self, code: Any) -> None:
        """Abort the next call with the gRPC status ``code``."""
        self._faults.append(code)

    def __enter__(self) -> QdrantGrpcStub:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(None)


def futures_executor() -> Any:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=4)
