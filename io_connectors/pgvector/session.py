"""One PostgreSQL connection for the pgvector connector, and the boundary where psycopg's errors
become this project's.

| psycopg error                                                    | becomes          |
|------------------------------------------------------------------|------------------|
| connection refused or lost, ``OperationalError`` (admin shutdown, |                  |
| too many connections, query canceled...), ``InterfaceError``,     | ``TransientError`` (retried) |
| serialization failure, deadlock                                   |                  |
| undefined table/column/type/function, missing schema, a table    |                  |
| name taken by a table without vector columns, no                  |                  |
| privilege, no unique index for ON CONFLICT, unknown database or   | ``ConfigError``  |
| role, failed authentication, a malformed DSN                      |                  |
| anything else (data errors such as a wrong dimension, integrity   | ``PermanentError`` |
| errors)                                                           |                  |

Every message passes through ``redact`` with the DSN and its password, so neither ever leaves
this module in an error or a log line; psycopg's own exception is not chained (``from None``)
for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from io_connectors.core.errors import ConfigError, PermanentError, TransientError, VectorMigrateError
from io_connectors.core.retry import with_retries
from io_connectors.core.secrets import redact
from io_connectors.pgvector.codec import register_loaders
from io_connectors.pgvector.schema import Extension, load_extension, missing_extension

T = TypeVar("T")
TRANSIENT = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
)
CONFIGURATION = (
    pg_errors.DuplicateTable,
    pg_errors.UndefinedTable,
    pg_errors.UndefinedColumn,
    pg_errors.UndefinedObject,
    pg_errors.UndefinedFunction,
    pg_errors.InvalidSchemaName,
    pg_errors.InsufficientPrivilege,
    pg_errors.InvalidColumnReference,
    pg_errors.InvalidCatalogName,
    pg_errors.InvalidAuthorizationSpecification,
    pg_errors.InvalidPassword,
)
# Connection failures carry no SQLSTATE; these say the configuration, not the network, is wrong.
CONNECT_CONFIG_HINTS = ("authentication failed", "does not exist", "no password", "no pg_hba.conf", "invalid")
APPLICATION_NAME = "vector-migrate"
SESSION_SETTINGS = (
    "SET TIME ZONE 'UTC'",  # timestamptz metadata reads as UTC ISO strings
    "SET temp_buffers = '64MB'",  # staging tables stay in memory (set before any temp table use)
)


def dsn_secrets(dsn: str) -> list[str]:
    """The DSN and the password in it: both are masked wherever text leaves the connector."""
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        password = None
    return [dsn, *([str(password)] if password else [])]


class Session:
    """A connection opened on first use and reopened after a failure, with its pgvector types."""

    def __init__(self, dsn: str, secrets: Sequence[str] = ()) -> None:
        self._dsn = dsn
        self._secrets = [*secrets, *dsn_secrets(dsn)]
        self._conn: psycopg.Connection | None = None
        self._extension: Extension | None = None
        self.stages: set[bool] = set()  # staging tables created in this connection

    def _defaults(self) -> dict[str, str]:
        """Connection parameters the DSN may override: how the server's views name us."""
        try:
            given = conninfo_to_dict(self._dsn)
        except psycopg.ProgrammingError:
            given = {}  # psycopg.connect reports the malformed DSN
        return {} if "application_name" in given else {"application_name": APPLICATION_NAME}

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self.stages.clear()

    def connection(self) -> psycopg.Connection:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self.close()
        try:
            conn = psycopg.connect(self._dsn, autocommit=True, **self._defaults())
            for statement in SESSION_SETTINGS:
                conn.execute(statement)
            self._extension = load_extension(conn)
        except psycopg.Error as exc:
            raise self.translate(exc, "connecting to PostgreSQL", connecting=True) from None
        if self._extension is not None:
            register_loaders(conn.adapters, self._extension.oids.values())
        self._conn = conn
        return conn

    @property
    def has_extension(self) -> bool:
        self.connection()
        return self._extension is not None

    def extension(self) -> Extension:
        conn = self.connection()
        if self._extension is None:
            raise missing_extension(conn.info.dbname)
        return self._extension

    def translate(self, exc: Exception, what: str, connecting: bool = False) -> VectorMigrateError:
        """psycopg's error as this project's family (see the table above), its message redacted."""
        message = self.redact(f"pgvector: {what} failed: {type(exc).__name__}: {exc}".strip())
        if isinstance(exc, CONFIGURATION):
            return ConfigError(message)
        if connecting and (
            isinstance(exc, psycopg.ProgrammingError)
            or any(hint in str(exc) for hint in CONNECT_CONFIG_HINTS)
        ):
            return ConfigError(message)
        if isinstance(exc, TRANSIENT):
            return TransientError(message)
        return PermanentError(message, self.redact(_reason(exc)))

    def call(self, operation: Callable[[psycopg.Connection], T], what: str, retry: bool = True) -> T:
        """Run ``operation`` on the connection, translating errors; with ``retry``, transient
        ones are retried on a fresh connection (only for operations that are safe to repeat)."""

        def attempt() -> T:
            conn = self.connection()
            try:
                return operation(conn)
            except psycopg.Error as exc:
                raise self.translate(exc, what) from None

        return with_retries(attempt, self.redact(what)) if retry else attempt()


def _reason(exc: Exception) -> str:
    """The error without the failing row: its class and PostgreSQL's primary message, which
    names the table, column or constraint and is the same for every row refused alike."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).split("\n", 1)[0]
    return f"{type(exc).__name__}: {primary}"
