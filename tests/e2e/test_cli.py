"""The CLI end to end, in this process (so memory:// stores are shared with the test)."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from io_connectors import Client, VectorBatch
from io_connectors.core.records import SparseBlock
from pipelines import cli
from tests import fault_providers  # noqa: F401
from tests.conformance.suite import unique_name
from tests.e2e.test_seed_examples import fill


class Terminal(io.StringIO):
    """A stderr that claims to be a terminal and remembers when each write happened."""

    def __init__(self) -> None:
        super().__init__()
        self.write_times: list[float] = []

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.write_times.append(time.monotonic())
        return super().write(text)


ANSI_CODE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def overall_percentages(screen: str) -> list[int]:
    """The overall bar's percentage in every frame the live progress display drew."""
    lines = ANSI_CODE.sub("", screen).replace("\r", "\n").splitlines()
    return [int(m.group(1)) for line in lines if (m := re.match(r"migrating .*?(\d+)%", line))]


def big_batch(n: int, dim: int, namespace: str, seed: int) -> VectorBatch:
    rng = np.random.default_rng(seed)
    ids = [i if i % 2 else f"doc-{i}" for i in range(n)]
    sparse = SparseBlock.from_rows(
        [([i % 1000, 5000 + i], [0.25, 1.5]) if i % 10 == 0 else None for i in range(n)]
    )
    metadata = [{"i": i, "label": f"l{i % 7}", "tags": ["x", str(i % 3)]} for i in range(n)]
    return VectorBatch(ids, rng.standard_normal((n, dim), dtype=np.float32), sparse, metadata, namespace)


def test_100k_vectors_memory_to_parquet_to_memory_through_the_cli(tmp_path, monkeypatch, capsys) -> None:
    store = unique_name("store")
    source = Client(provider="memory", store=store)
    originals = [big_batch(60_000, 768, "", 1), big_batch(40_000, 768, "tenant-b", 2)]
    for batch in originals:
        for lo in range(0, len(batch), 20_000):
            source.upsert(index="src", vectors=batch.slice(lo, lo + 20_000))
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    started = time.monotonic()
    code = cli.main(
        [
            "migrate",
            "--source",
            f"memory://src?store={store}",
            "--target",
            f"parquet://{tmp_path}/export",
            "--chunk-size",
            "5000",
            "--json",
        ]
    )
    finished = time.monotonic()
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["migrated_count"] == 100_000 and summary["errors"] == []
    percentages = overall_percentages(terminal.getvalue())
    assert len(percentages) >= 20 and percentages == sorted(percentages) and percentages[-1] == 100
    assert terminal.write_times[0] - started < 0.8 * (finished - started), (
        "progress must arrive while running"
    )

    code = cli.main(
        [
            "migrate",
            "--source",
            f"parquet://{tmp_path}/export",
            "--target",
            f"memory://back?store={store}",
            "--deep-verify",
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["verification"]["match"] and summary["verification"]["checked"] == 100_000
    back = Client(provider="memory", store=store)
    for batch in originals:
        fetched = back.connector.fetch("back", batch.ids, batch.namespace)
        assert fetched.ids == batch.ids
        assert np.array_equal(fetched.values, batch.values)
        assert fetched.metadata == batch.metadata
        assert fetched.to_dicts() == batch.to_dicts()


def test_ls_verify_and_exit_codes(tmp_path, capsys) -> None:
    store = unique_name("store")
    fill(Client(provider="memory", store=store), "idx", 120, namespace="a")
    assert (
        cli.main(
            ["migrate", "--source", f"memory://idx?store={store}", "--target", f"parquet://{tmp_path}/idx"]
        )
        == 0
    )
    assert "Migrated 120 vectors" in capsys.readouterr().out
    assert cli.main(["ls", f"parquet://{tmp_path}/idx"]) == 0
    listing = capsys.readouterr().out
    assert "idx: 120 vectors, dimension 16, cosine" in listing and "'a': 120" in listing
    assert (
        cli.main(
            ["verify", "--source", f"memory://idx?store={store}", "--target", f"parquet://{tmp_path}/idx"]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("match")
    Client(provider="parquet", path=str(tmp_path)).delete(index="idx", ids=["vec-1"], namespace="a")
    assert (
        cli.main(
            [
                "verify",
                "--source",
                f"memory://idx?store={store}",
                "--target",
                f"parquet://{tmp_path}/idx",
                "--deep",
            ]
        )
        == 1
    )
    assert "1 missing" in capsys.readouterr().out


def test_failed_records_give_exit_code_1_and_bad_configuration_2(tmp_path, capsys) -> None:
    store = unique_name("store")
    values = np.ones((3, 4), dtype=np.float32)
    values[1, 0] = np.inf
    source = Client(provider="memory", store=store)
    source.create_index("idx", 4)
    source.connector.write("idx", VectorBatch(["a", "b", "c"], values))  # the client would refuse "b"
    code = cli.main(
        ["migrate", "--source", f"memory://idx?store={store}", "--target", f"parquet://{tmp_path}/idx"]
    )
    out = capsys.readouterr().out
    assert code == 1 and "Migrated 2 vectors" in out and "1 records failed" in out and "'b'" in out
    assert cli.main(["migrate", "--source", "memory://missing", "--target", "memory://x"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["ls", "nosuch://x"]) == 2
    assert "unknown URI scheme" in capsys.readouterr().err


@pytest.mark.parametrize("config", ["local.json", "local-multiprocess.json", "portable-embed.json"])
def test_run_configs_load_and_run(tmp_path, config, capsys) -> None:
    parquet = Client(provider="parquet", path=str(tmp_path))
    fill(parquet, "src", 300)
    code = cli.main(
        [
            "migrate",
            "--source",
            f"parquet://{tmp_path}/src",
            "--target",
            f"parquet://{tmp_path}/dst",
            "--run-config",
            f"run_configs/{config}",
            "--verify",
        ]
    )
    assert code == 0 and "Verification: verified" in capsys.readouterr().out


def test_dry_run_changes_nothing(tmp_path, capsys) -> None:
    store = unique_name("store")
    fill(Client(provider="memory", store=store), "idx", 70, namespace="a")
    args = [
        "migrate",
        "--source",
        f"memory://idx?store={store}",
        "--target",
        f"parquet://{tmp_path}/out",
        "--namespace-map",
        "a=b",
        "--chunk-size",
        "20",
        "--dry-run",
    ]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "would migrate 70 vectors" in out and "would be created" in out and "'a' -> 'b': 70 vectors" in out
    assert "about 4 upserts of up to 20" in out
    assert not (tmp_path / "out").exists()
    assert cli.main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["creates_target"] is True


def test_the_default_namespace_named_explicitly_is_one_namespace_for_verify_too(tmp_path, capsys) -> None:
    store = unique_name("store")
    source = Client(provider="memory", store=store)
    fill(source, "idx", 30, namespace="")
    fill(source, "idx", 12, namespace="other", seed=1)
    args = [
        "migrate",
        "--source",
        f"memory://idx?store={store}",
        "--target",
        f"parquet://{tmp_path}/idx",
        "--source-namespace",
        "",
        "--verify",
    ]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "Migrated 30 vectors" in out and "Verification: verified (source 30, target 30)" in out


def test_an_unknown_option_stops_the_run_and_names_the_closest_one(tmp_path, capsys) -> None:
    endpoints = ["--source", f"parquet://{tmp_path}/a", "--target", f"parquet://{tmp_path}/b"]
    code = cli.main(["migrate", *endpoints, "--chunk-szie", "10"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--chunk-szie" in err and "did you mean --chunk-size?" in err
    assert not (tmp_path / "b").exists(), "nothing may run with a mistyped option"


def test_beam_options_still_pass_through(tmp_path, capsys) -> None:
    source = Client(provider="parquet", path=str(tmp_path))
    source.upsert(index="a", vectors=make_vectors(50))
    endpoints = ["--source", f"parquet://{tmp_path}/a", "--target", f"parquet://{tmp_path}/b"]
    code = cli.main(["migrate", *endpoints, "--direct_running_mode=in_memory", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["migrated_count"] == 50


def make_vectors(n: int, dim: int = 16) -> VectorBatch:
    rng = np.random.default_rng(n)
    return VectorBatch(
        [f"v{i}" for i in range(n)], rng.standard_normal((n, dim), dtype=np.float32), None, None, ""
    )


def run_in_terminal(args: list[str], timeout: float = 120.0) -> tuple[int, str]:
    """Run the CLI in a pseudo-terminal (stdout and stderr are the terminal), as a user would."""
    main_pid, fd = pty.fork()
    if main_pid == 0:  # the child: become the CLI
        os.environ.update({"TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"})
        os.execv(VECTOR_MIGRATE, [VECTOR_MIGRATE, *args])
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(main_pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


VECTOR_MIGRATE = str(Path(sys.executable).with_name("vector-migrate"))


def two_namespace_source(tmp_path: Path) -> str:
    """25,000 vectors in two namespaces, as Parquet."""
    source = Client(provider="parquet", path=str(tmp_path))
    for namespace, lo in (("alpha", 0), ("beta", 12_500)):
        batch = make_vectors(12_500, dim=8)
        ids = [f"v{i}" for i in range(lo, lo + 12_500)]
        source.upsert(index="src", vectors=VectorBatch(ids, batch.values, None, None, namespace))
    return f"parquet://{tmp_path}/src"


def test_a_terminal_shows_the_live_bar_with_rate_and_eta_and_no_log_lines(tmp_path) -> None:
    source = two_namespace_source(tmp_path)
    code, screen = run_in_terminal(["migrate", "--source", source, "--target", f"parquet://{tmp_path}/dst"])
    text = ANSI_CODE.sub("", screen)
    assert code == 0, text
    assert "━" in text and "vectors/s" in text and "ETA" in text, text
    assert overall_percentages(screen)[-1] == 100
    assert "'alpha'" in text and "'beta'" in text, "one line per namespace"
    assert "Migrated 25,000 vectors" in text
    for noise in ("WARNING", "INFO", "migrating 25000 vectors", "Traceback"):
        assert noise not in text, f"{noise!r} was printed over the progress display"

    code, verbose = run_in_terminal(
        ["-v", "migrate", "--source", source, "--target", f"parquet://{tmp_path}/d2"]
    )
    assert code == 0 and "INFO pipelines.migration: migrating 25000 vectors" in verbose, "-v shows the log"


def test_off_a_terminal_progress_is_printed_as_periodic_lines(tmp_path) -> None:
    done = subprocess.run(
        [
            *(VECTOR_MIGRATE, "migrate", "--source", two_namespace_source(tmp_path)),
            *("--target", f"parquet://{tmp_path}/out", "--progress-interval", "0", "--chunk-size", "1000"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("progress: ")]
    assert len(lines) >= 5, done.stderr
    assert lines[-1].startswith("progress: 100.0% 25,000/25,000 vectors")
    assert "'alpha' 12,500/12,500" in lines[-1] and "'beta' 12,500/12,500" in lines[-1]
    assert "\x1b[" not in done.stderr, "no terminal control codes in logs"


def test_a_plain_dump_through_the_cli_says_the_metric_was_defaulted(tmp_path, capsys) -> None:
    from tests.foreign_parquet import plain_dump

    expected = plain_dump(tmp_path / "dump.parquet")
    uri = f"parquet://{tmp_path}/dump.parquet?vector_field=embedding&text_field=text"
    assert cli.main(["ls", uri]) == 0
    listed = capsys.readouterr().out
    assert "dump.parquet: 150 vectors, dimension 8, cosine" in listed
    assert "note: metric defaulted to cosine" in listed
    store = unique_name("cli-dump")
    target = f"memory://dump?store={store}"
    assert cli.main(["migrate", "--source", uri, "--target", target, "--dry-run"]) == 0
    assert "note: metric defaulted to cosine" in capsys.readouterr().out
    assert cli.main(["migrate", "--source", uri, "--target", target, "--verify"]) == 0
    copy = Client(provider="memory", store=store).fetch(index="dump", ids=[1, 150])
    assert copy[1]["metadata"] == expected[("", 1)]["metadata"]
    assert copy[150]["values"] == expected[("", 150)]["values"].tolist()
