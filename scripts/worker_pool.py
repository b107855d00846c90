"""Beam's external worker pool: SDK workers as separate processes, the way Flink and Dataflow run them.

    python scripts/worker_pool.py --port 50000   # serve until interrupted

Jobs reach it with ``--runner=PortableRunner --job_endpoint=embed --environment_type=EXTERNAL
--environment_config=localhost:PORT``; for each job the pool starts ``--sdk_worker_parallelism``
worker processes (see run_configs/portable-worker-pool.json).

Importable: ``WorkerPool(port, env)`` is a context manager that starts the pool and waits for it
to listen. The pool starts its workers with the command ``python`` found on ``PATH``, not with
its own interpreter, so the interpreter's folder is put first on the pool's ``PATH``: otherwise
the workers would be a Python without Beam and die at once. ``env`` adds variables the workers
inherit (how secrets reach them without entering the job graph, e.g. ``PGPASSWORD``).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

START_TIMEOUT_SECONDS = 60.0
POOL_MODULE = "apache_beam.runners.worker.worker_pool_main"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WorkerPool:
    def __init__(self, port: int | None = None, env: Mapping[str, str] | None = None) -> None:
        self.port = port or free_port()
        self._env = dict(env or {})
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def start(self) -> None:
        env = {**os.environ, **self._env}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "apache_beam.runners.worker.worker_pool_main",
                f"--service_port={self.port}",
            ],
            env=env,
            start_new_session=True,  # its own process group: stop() ends the pool and its workers
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"Beam worker pool did not start on port {self.port}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=50000)
    args = parser.parse_args()
    with WorkerPool(args.port) as pool:
        print(f"worker pool listening on {pool.address}", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
