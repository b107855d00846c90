"""Request validation, documented limits and error shapes for the local Pinecone server.

Sources: the published OpenAPI files ``pinecone-io/pinecone-api`` ``2026-07/db_data_2026-07.oas.yaml``
and ``db_control_2026-07.oas.yaml``, Pinecone's "operation limits" docs page, and the
``pinecone`` 10.2.0 SDK (whose client-side checks quote the server's messages). Where the real
wording is unknown the message is an approximation that still names the offending vector id.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import orjson

    def json_dumps(obj: Any) -> bytes:
        """Serialise to compact JSON; numpy arrays are written natively (float32 stays shortest)."""
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)

    def json_loads(data: bytes) -> Any:
        return orjson.loads(data)

    JSONDecodeError: type[Exception] = orjson.JSONDecodeError
except ImportError:  # pragma: no cover - orjson is installed in the project venv
    import json

    def _default(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

    def json_dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), default=_default).encode()

    def _reject_constant(name: str) -> Any:
        raise ValueError(f"invalid JSON constant {name}")

    def json_loads(data: bytes) -> Any:
        return json.loads(data, parse_constant=_reject_constant)

    JSONDecodeError = ValueError

# --- documented limits -----------------------------------------------------------------------
MAX_UPSERT_VECTORS = 1000  # UpsertRequest.vectors maxItems
# Docs: "1,000 records, up to 2 MB total". The service answers an oversize body with
# 400 "Request size 3MB exceeds the maximum supported size of 2MB" (seen by SDK users); the SDK
# 10.2 also documents a bare 413 from the proxy in front of the service for the largest bodies,
# which the server reproduces above ``PROXY_MAX_BODY_BYTES`` (that threshold is not documented).
MAX_REQUEST_BYTES = 2 * 1024 * 1024
PROXY_MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_FETCH_IDS = 1000  # fetchVectors ids maxItems
MAX_DELETE_IDS = 1000  # DeleteRequest.ids maxItems
MAX_LIST_LIMIT = 100  # listVectors / listNamespaces limit maximum (default 100)
MAX_ID_LEN = 512  # Vector.id pattern ^[\x01-\x7F]+$, 1..512
MAX_NAMESPACE_LEN = 512
MAX_METADATA_BYTES = 40 * 1024  # "Max metadata size per record is 40 KB"
MAX_DIMENSION = 20000
MAX_SPARSE_NNZ = 2048  # SparseValues maxItems
MAX_TOP_K = 10000
MAX_FETCH_BY_METADATA_LIMIT = 10000
UINT32_MAX = 2**32 - 1
METRICS = ("cosine", "euclidean", "dotproduct")
DEFAULT_NAMESPACE = "__default__"

# gRPC status codes carried in the data plane's ``rpcStatus.code``.
GRPC_CODES = {
    "INVALID_ARGUMENT": 3,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}


class ApiFailure(Exception):
    """An error answer; rendered per plane by :func:`data_error_body` / :func:`control_error_body`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str) -> ApiFailure:
    return ApiFailure(400, "INVALID_ARGUMENT", message)


def data_error_body(err: ApiFailure) -> bytes:
    """Data plane errors are ``rpcStatus``: ``{"code": <grpc int>, "message": ..., "details": []}``."""
    return json_dumps({"code": GRPC_CODES.get(err.code, 2), "message": err.message, "details": []})


def control_error_body(err: ApiFailure) -> bytes:
    """Control plane errors are ``ErrorResponse``: ``{"error": {"code", "message"}, "status"}``."""
    return json_dumps({"error": {"code": err.code, "message": err.message}, "status": err.status})


def _echo(value: str, limit: int = 64) -> str:
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"


def _vid(vector_id: Any) -> str:
    return f" (vector id: {_echo(str(vector_id))})"


def check_vector_id(value: Any, what: str = "vector id") -> str:
    """IDs are ASCII without NUL (pattern ``^[\\x01-\\x7F]+$``) and 1-512 characters long."""
    if not isinstance(value, str):
        raise bad_request(f"Invalid {what}: expected a string, got {type(value).__name__}")
    if not value or len(value) > MAX_ID_LEN:
        raise bad_request(
            f"Invalid {what} {_echo(value)}: IDs must be 1-{MAX_ID_LEN} characters long, got {len(value)}"
        )
    if not value.isascii() or "\x00" in value:
        raise bad_request(
            f"Invalid {what} {_echo(value)}: IDs must contain only ASCII characters (code points 1-127)"
        )
    return value


def check_namespace(value: Any) -> str:
    """Return the canonical namespace name; ``""``/missing and ``__default__`` are the default."""
    if value is None or value == "":
        return DEFAULT_NAMESPACE
    if not isinstance(value, str):
        raise bad_request(f"Invalid namespace: expected a string, got {type(value).__name__}")
    if len(value) > MAX_NAMESPACE_LEN:
        raise bad_request(f"Namespace name must be at most {MAX_NAMESPACE_LEN} characters, got {len(value)}")
    if not value.isascii() or "\x00" in value:
        raise bad_request(f"Namespace name must contain only ASCII characters (code points 1-127): {value!r}")
    return value


def check_prefix(value: str | None) -> str:
    if value is None:
        return ""
    if len(value) > MAX_ID_LEN:
        raise bad_request(f"Prefix must be at most {MAX_ID_LEN} characters, got {len(value)}")
    if not value.isascii() or "\x00" in value:
        raise bad_request(f"Prefix must contain only ASCII characters (code points 1-127): {value!r}")
    return value


def check_limit(raw: Any, default: int, maximum: int, what: str = "limit") -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise bad_request(f"Invalid {what} {raw!r}: expected an integer") from None
    if isinstance(raw, bool) or not 1 <= value <= maximum:
        raise bad_request(f"Invalid {what} {raw!r}: {what} must be between 1 and {maximum}")
    return value


def check_request_size(size: int) -> None:
    if size > MAX_REQUEST_BYTES:
        mb = math.ceil(size / (1024 * 1024))
        raise bad_request(f"Request size {mb}MB exceeds the maximum supported size of 2MB")


def encode_token(last_key: str) -> str:
    """Opaque pagination token: the last key returned, so pages survive concurrent writes."""
    return base64.urlsafe_b64encode(b"pl1:" + last_key.encode()).decode()


def decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        if raw.startswith(b"pl1:"):
            return raw[4:].decode()
    except (ValueError, UnicodeError):
        pass
    raise bad_request(f"Invalid pagination token: {token!r}")


# --- records ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexSpec:
    """What the data plane needs to know about its index."""

    vector_type: str  # "dense" | "sparse"
    dimension: int | None
    metric: str


Sparse = tuple[np.ndarray, np.ndarray]  # (uint32 indices, float32 values)
Record = tuple[np.ndarray | None, Sparse | None, dict[str, Any] | None]


def _render_metadata_value(value: Any) -> str:
    """Render a rejected value like the server: compact JSON, numbers as floats, 16-byte cut."""

    def floats(v: Any) -> Any:
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, int | float):
            return float(v)
        if isinstance(v, dict):
            return {k: floats(x) for k, x in v.items()}
        if isinstance(v, list):
            return [floats(x) for x in v]
        return v

    text = json_dumps(floats(value))
    return text[:16].decode("utf-8", "ignore") + "..." if len(text) > 16 else text.decode()


def check_metadata(metadata: Any, vector_id: str, null_policy: str) -> dict[str, Any] | None:
    """Validate one record's metadata and return what is stored.

    Values must be a string, number, boolean or list of strings (OAS ``MetadataValue``). The real
    server strips ``null`` values on write (per the SDK's notes on ``NullHandling::Strip``), which
    is the default here; ``null_policy="reject"`` turns them into a 400 instead. Integers are stored
    as floats because Pinecone stores every number as a double.
    """
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise bad_request(f"Metadata must be an object, got {type(metadata).__name__}{_vid(vector_id)}")
    size = len(json_dumps(metadata))
    if size > MAX_METADATA_BYTES:
        raise bad_request(
            f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes "
            f"per vector{_vid(vector_id)}"
        )
    stored: dict[str, Any] = {}
    for key, value in metadata.items():
        if key.startswith("$"):
            raise bad_request(f"Metadata field names may not begin with '$', got {key!r}{_vid(vector_id)}")
        if value is None and null_policy == "strip":
            continue
        if isinstance(value, bool | str):
            stored[key] = value
        elif isinstance(value, int | float) and value is not None:
            stored[key] = float(value)
        elif isinstance(value, list) and all(isinstance(x, str) for x in value):
            stored[key] = value
        else:
            raise bad_request(
                "Metadata value must be a string, number, boolean or list of strings, "
                f"got '{_render_metadata_value(value)}' for field '{key}'{_vid(vector_id)}"
            )
    return stored


def parse_dense(values: Any, vector_id: str) -> np.ndarray:
    """Dense values as float32 (what Pinecone stores)."""
    if not isinstance(values, list):
        raise bad_request(f"Vector values must be an array of numbers{_vid(vector_id)}")
    if len(values) > MAX_DIMENSION:
        raise bad_request(f"Vector has {len(values)} values; the maximum is {MAX_DIMENSION}{_vid(vector_id)}")
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.dtype.kind not in "fiu":
        raise bad_request(f"Vector values must be an array of numbers{_vid(vector_id)}")
    out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise bad_request(f"Vector values must be finite float32 numbers{_vid(vector_id)}")
    return out


def parse_sparse(raw: Any, vector_id: str) -> Sparse:
    if not isinstance(raw, dict) or "indices" not in raw or "values" not in raw:
        raise bad_request(f"Sparse values must be an object with 'indices' and 'values'{_vid(vector_id)}")
    indices, values = raw["indices"], raw["values"]
    if not isinstance(indices, list) or not isinstance(values, list):
        raise bad_request(f"Sparse 'indices' and 'values' must be arrays{_vid(vector_id)}")
    if len(indices) != len(values):
        raise bad_request(
            f"Sparse vector indices and values must have the same length, got {len(indices)} "
            f"and {len(values)}{_vid(vector_id)}"
        )
    if not 1 <= len(indices) <= MAX_SPARSE_NNZ:
        raise bad_request(
            f"Sparse vector must have between 1 and {MAX_SPARSE_NNZ} non-zero values, got "
            f"{len(indices)}{_vid(vector_id)}"
        )
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i <= UINT32_MAX:
            raise bad_request(
                f"Sparse vector index {i!r} is invalid; indices must be integers in [0, {UINT32_MAX}]"
                f"{_vid(vector_id)}"
            )
    idx = np.asarray(indices, dtype=np.uint32)
    if len(np.unique(idx)) != len(idx):
        raise bad_request(f"Sparse vector indices must be unique{_vid(vector_id)}")
    return idx, parse_dense(values, vector_id)  # kept in the order sent


def parse_record(vec: Any, spec: IndexSpec, null_policy: str) -> tuple[str, Record]:
    """Validate one upsert ``Vector`` against the index and return ``(id, record)``."""
    if not isinstance(vec, dict):
        raise bad_request("Each vector must be an object")
    vector_id = check_vector_id(vec.get("id"))
    raw_values = vec.get("values")
    dense = parse_dense(raw_values, vector_id) if raw_values else None
    raw_sparse = vec.get("sparseValues", vec.get("sparse_values"))
    sparse = parse_sparse(raw_sparse, vector_id) if raw_sparse is not None else None
    if spec.vector_type == "sparse":
        if dense is not None:
            raise bad_request(f"Sparse index does not accept dense vector values{_vid(vector_id)}")
        if sparse is None:
            raise bad_request(
                f"Vector is missing sparse values; a sparse index requires them{_vid(vector_id)}"
            )
    else:
        if dense is None:
            raise bad_request(
                f"Vector is missing dense values; a dense index requires values of dimension "
                f"{spec.dimension}{_vid(vector_id)}"
            )
        if len(dense) != spec.dimension:
            raise bad_request(
                f"Vector dimension {len(dense)} does not match the dimension of the index "
                f"{spec.dimension}{_vid(vector_id)}"
            )
        if not (np.abs(dense) >= 1e-8).any():
            raise bad_request(f"Dense vector contains only zeros{_vid(vector_id)}")
        if sparse is not None and spec.metric != "dotproduct":
            raise bad_request(
                f"Sparse values are supported only for indexes with the dotproduct metric{_vid(vector_id)}"
            )
    metadata = check_metadata(vec.get("metadata"), vector_id, null_policy)
    return vector_id, (dense, sparse, metadata)


def parse_upsert(body: Any, spec: IndexSpec, null_policy: str) -> tuple[str, list[tuple[str, Record]]]:
    if not isinstance(body, dict) or not isinstance(body.get("vectors"), list):
        raise bad_request("Invalid request: 'vectors' must be an array of vectors")
    vectors = body["vectors"]
    if not vectors:
        raise bad_request("Invalid request: an upsert must contain at least 1 vector")
    if len(vectors) > MAX_UPSERT_VECTORS:
        raise bad_request(
            f"Invalid request: the upsert contains {len(vectors)} vectors, which exceeds the maximum "
            f"of {MAX_UPSERT_VECTORS} vectors per request"
        )
    namespace = check_namespace(body.get("namespace"))
    return namespace, [parse_record(v, spec, null_policy) for v in vectors]


def check_ids(ids: Any, maximum: int, op: str) -> list[str]:
    if not isinstance(ids, list) or not ids:
        raise bad_request(f"Invalid request: the {op} request must contain at least 1 id")
    if len(ids) > maximum:
        raise bad_request(
            f"Invalid request: the {op} request contains {len(ids)} ids, which exceeds the maximum of "
            f"{maximum} ids per request"
        )
    return [check_vector_id(i) for i in ids]


def record_json(vector_id: str, record: Record, include_values: bool = True) -> dict[str, Any]:
    """A stored record in the OAS ``Vector`` shape (``values`` is ``[]`` when there is none)."""
    dense, sparse, metadata = record
    out: dict[str, Any] = {"id": vector_id, "values": dense if include_values and dense is not None else []}
    if include_values and sparse is not None:
        out["sparseValues"] = {"indices": sparse[0], "values": sparse[1]}
    if metadata is not None:
        out["metadata"] = metadata
    return out


# --- metadata filters ------------------------------------------------------------------------
_COMPARE = {"$gt": float.__gt__, "$gte": float.__ge__, "$lt": float.__lt__, "$lte": float.__le__}
_OPERATORS = {"$eq", "$ne", "$in", "$nin", "$exists", *_COMPARE}


def check_filter(flt: Any) -> dict[str, Any]:
    """Validate a metadata filter expression; raise 400 on unknown operators or shapes."""
    if not isinstance(flt, dict):
        raise bad_request("Invalid filter: expected an object")
    for key, cond in flt.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list) or not cond:
                raise bad_request(f"Invalid filter: {key} expects a non-empty array")
            for sub in cond:
                check_filter(sub)
        elif key.startswith("$"):
            raise bad_request(f"Invalid filter operator {key!r}")
        elif isinstance(cond, dict):
            for op, arg in cond.items():
                if op not in _OPERATORS:
                    raise bad_request(f"Invalid filter operator {op!r} for field {key!r}")
                if op in ("$in", "$nin") and not isinstance(arg, list):
                    raise bad_request(f"Invalid filter: {op} expects an array for field {key!r}")
                if op in _COMPARE and (isinstance(arg, bool) or not isinstance(arg, int | float)):
                    raise bad_request(f"Invalid filter: {op} expects a number for field {key!r}")
    return flt


def _norm(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _condition(value: Any, op: str, arg: Any) -> bool:
    present = value is not None
    items = value if isinstance(value, list) else [value] if present else []
    if op == "$exists":
        return present == bool(arg)
    if op == "$eq":
        return _norm(arg) in items
    if op == "$ne":
        return _norm(arg) not in items
    if op == "$in":
        return any(_norm(a) in items for a in arg)
    if op == "$nin":
        return not any(_norm(a) in items for a in arg)
    if not present or isinstance(value, bool) or not isinstance(value, float):
        return False
    return _COMPARE[op](value, float(arg))


def matches(flt: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None) -> bool:
    """Evaluate a (validated) filter against one record's metadata."""
    if not flt:
        return True
    md = metadata or {}
    for key, cond in flt.items():
        if key == "$and":
            ok = all(matches(sub, md) for sub in cond)
        elif key == "$or":
            ok = any(matches(sub, md) for sub in cond)
        elif isinstance(cond, dict):
            ok = all(_condition(md.get(key), op, arg) for op, arg in cond.items())
        else:
            ok = _condition(md.get(key), "$eq", cond)
        if not ok:
            return False
    return True


# --- control plane ---------------------------------------------------------------------------
_INDEX_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?\Z")
_CREATE_KEYS = {"name", "schema", "deployment", "read_capacity", "deletion_protection", "tags", "cmek_id"}


def _unprocessable(message: str) -> ApiFailure:
    return ApiFailure(
        422, "UNPROCESSABLE_ENTITY", f"Failed to deserialize the JSON body into the target type: {message}"
    )


def check_index_name(name: Any) -> str:
    if not isinstance(name, str) or not _INDEX_NAME.match(name):
        raise bad_request(
            "Index name must be 1-45 characters long, contain only lowercase alphanumeric characters or "
            "hyphens, and must not begin or end with a hyphen."
        )
    return name


def check_deletion_protection(value: Any) -> str:
    if value not in ("enabled", "disabled"):
        raise bad_request(f"deletion_protection must be 'enabled' or 'disabled', got {value!r}")
    return value


def check_tags(tags: Any) -> dict[str, str]:
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise bad_request("tags must be an object of string keys to string values")
    return tags


def read_capacity_model(raw: Any) -> dict[str, Any]:
    """``ReadCapacity`` request -> ``ReadCapacityResponse`` (always Ready here)."""
    if raw is None or raw == {"mode": "OnDemand"}:
        return {"mode": "OnDemand", "status": {"state": "Ready"}}
    if isinstance(raw, dict) and raw.get("mode") == "Dedicated" and isinstance(raw.get("dedicated"), dict):
        manual = raw["dedicated"].get("manual") or {}
        status = {
            "state": "Ready",
            "current_replicas": manual.get("replicas"),
            "current_shards": manual.get("shards"),
        }
        return {"mode": "Dedicated", "dedicated": raw["dedicated"], "status": status}
    raise bad_request(
        "read_capacity must be {'mode': 'OnDemand'} or {'mode': 'Dedicated', 'dedicated': {...}}"
    )


def parse_create_index(body: Any) -> tuple[str | None, IndexSpec, dict[str, Any]]:
    """Validate a 2026-07 ``CreateIndexRequest``; return ``(name, spec, IndexModel fields)``.

    Only the reserved vectors-API schema is emulated: ``_values`` (dense_vector) and/or
    ``_sparse_values`` (sparse_vector) as the whole schema. Described dense indexes report both
    fields, as the OAS says the service does.
    """
    if not isinstance(body, dict):
        raise _unprocessable("expected a JSON object")
    unknown = set(body) - _CREATE_KEYS
    if unknown:
        raise _unprocessable(f"unknown field `{sorted(unknown)[0]}`")
    name = check_index_name(body["name"]) if body.get("name") is not None else None
    schema = body.get("schema")
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), dict) or not schema["fields"]:
        raise bad_request("schema.fields must declare at least one field")
    fields = schema["fields"]
    if not set(fields) <= {"_values", "_sparse_values"}:
        raise bad_request(
            "This local Pinecone server emulates only vectors-API indexes: declare the reserved fields "
            f"'_values' (dense_vector) and/or '_sparse_values' (sparse_vector), got {sorted(fields)}"
        )
    for reserved, kind in (("_values", "dense_vector"), ("_sparse_values", "sparse_vector")):
        field = fields.get(reserved)
        if field is not None and (not isinstance(field, dict) or field.get("type") != kind):
            raise bad_request(f"Reserved field {reserved!r} must have type {kind!r}")
        if field is not None and field.get("description") is not None:
            raise bad_request(f"Reserved field {reserved!r} does not accept a description")
    sparse_field = {"type": "sparse_vector", "description": None}
    if "_values" in fields:
        dense = fields["_values"]
        for key in ("dimension", "metric"):
            if key not in dense:
                raise _unprocessable(f"missing field `{key}`")
        dim, metric = dense["dimension"], dense["metric"]
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIMENSION:
            raise bad_request(f"Dimension must be an integer between 1 and {MAX_DIMENSION}, got {dim!r}")
        if metric not in METRICS:
            raise bad_request(f"Metric must be one of {list(METRICS)}, got {metric!r}")
        spec = IndexSpec("dense", dim, metric)
        dense_field = {"type": "dense_vector", "dimension": dim, "metric": metric, "description": None}
        out_fields = {"_values": dense_field, "_sparse_values": sparse_field}
    else:
        spec = IndexSpec("sparse", None, "dotproduct")
        out_fields = {"_sparse_values": sparse_field}
    deployment = body.get("deployment") or {
        "deployment_type": "managed",
        "cloud": "aws",
        "region": "us-east-1",
    }
    kind = deployment.get("deployment_type") if isinstance(deployment, dict) else None
    if kind == "managed":
        if not (isinstance(deployment.get("cloud"), str) and isinstance(deployment.get("region"), str)):
            raise bad_request("A managed deployment needs 'cloud' and 'region'")
    elif kind != "byoc" or not isinstance(deployment.get("environment"), str):
        raise bad_request(
            "deployment_type must be 'managed' (with cloud and region) or 'byoc' (with environment)"
        )
    tags = check_tags(body["tags"]) if body.get("tags") is not None else None
    model = {
        "schema": {"fields": out_fields},
        "deployment": deployment,
        "read_capacity": read_capacity_model(body.get("read_capacity")),
        "deletion_protection": check_deletion_protection(body.get("deletion_protection") or "disabled"),
        "tags": tags or None,
    }
    if body.get("cmek_id"):
        model["cmek_id"] = body["cmek_id"]
    return name, spec, model
