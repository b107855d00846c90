"""``vector-migrate``: migrate, verify and list vector indexes from the command line.

    vector-migrate migrate --source parquet:///exports/products --target memory://products
    vector-migrate verify --source URI --target URI --deep
    vector-migrate ls URI

Beam pipeline options are passed through (``--runner``, ``--direct_running_mode=multi_processing``,
``--project`` ...); an option neither the CLI nor Beam knows stops the run (exit 2).
Exit codes: 0 all records migrated (or verified equal), 1 some records failed (or a mismatch),
2 the job could not run as configured.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from io_connectors import Client, VectorMigrateError
from io_connectors.core.contract import Location
from io_connectors.core.registry import parse_uri
from io_connectors.core.secrets import mask_uri
from pipelines.accounting import DUPLICATE_POLICIES
from pipelines.cli_sync import add_commands as add_sync_commands
from pipelines.migration import DEFAULT_BATCH_SIZE, DEFAULT_CHECKPOINTS, Migration, MigrationResult
from pipelines.options_check import check_unknown_options
from pipelines.progress_display import progress_display
from pipelines.runner import RunConfig

EXIT_OK, EXIT_FAILED_RECORDS, EXIT_CONFIG = 0, 1, 2


def _client_and_location(uri: str, role: str) -> tuple[Client, Location]:
    location = parse_uri(uri)
    if role and not location.index:
        raise VectorMigrateError(f"the {role} URI {location.spec.redact(uri)!r} names no index")
    client = Client(location.spec.provider, **dict(location.spec.options))
    return client, location


def _namespaces(args: argparse.Namespace, source_at: Location, target_at: Location) -> dict[str, str | None]:
    """Source and target namespaces: the options win over the URIs' ``?namespace=``; "" is a namespace."""
    return {
        "source_namespace": args.source_namespace
        if args.source_namespace is not None
        else source_at.namespace,
        "target_namespace": args.target_namespace
        if args.target_namespace is not None
        else target_at.namespace,
    }


def _namespace_map(pairs: Sequence[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep:
            raise VectorMigrateError(f"--namespace-map takes SOURCE=TARGET, got {pair!r}")
        mapping[source] = target
    return mapping


def _print_migration(result: MigrationResult, as_json: bool, verification: dict | None) -> None:
    summary = result.summary()
    if verification is not None:
        summary["verification"] = verification
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    rate = summary["vectors_per_second"]
    print(
        f"Migrated {result.migrated_count:,} vectors in {result.batches:,} batches "
        f"({result.duration_seconds:.1f}s, {rate:,.0f} vectors/s)"
    )
    for name, count in summary["degraded"].items():
        print(f"Stored without what the target cannot hold ({name}): {count:,}")
    if result.errors:
        failed = f"{result.failed_count:,} records failed ({len(result.errors)} errors)"
        print(f"{failed}; details: {result.failures_path}")
        for error in result.errors[:10]:
            ids = ", ".join(repr(i) for i in error.ids[:5])
            print(f"  - [{error.stage}] {error}  ids: {ids}{' ...' if len(error.ids) > 5 else ''}")
    for namespace, balance in result.accounting.items():
        source = "?" if balance["source"] is None else f"{balance['source']:,}"
        print(
            f"  namespace {namespace!r}: source {source} = written {balance['written']:,} "
            f"+ failed {balance['failed']:,}"
        )
    if verification is not None:
        state = "verified" if verification["match"] else "MISMATCH"
        counts = f"source {verification['source_count']:,}, target {verification['target_count']:,}"
        print(f"Verification: {state} ({counts})")


def cmd_migrate(args: argparse.Namespace, beam_args: list[str]) -> int:
    source, source_at = _client_and_location(args.source, "source")
    target, target_at = _client_and_location(args.target, "target")
    migration = Migration(source, target, args.run_config, beam_args)
    dead_letter = None
    dead_letter_index = "dead-letter"
    if args.dead_letter:
        dead_letter, dead_at = _client_and_location(args.dead_letter, "dead-letter")
        dead_letter_index = dead_at.index or dead_letter_index
    if args.dry_run:
        return _print_plan(migration, args, source_at, target_at)
    with progress_display(sys.stderr, args.progress_interval) as show_progress:
        result = migration.migrate(
            source_index=source_at.index,
            target_index=target_at.index,
            **_namespaces(args, source_at, target_at),
            namespace_map=_namespace_map(args.namespace_map) or None,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            on_progress=show_progress,
            create_target=not args.no_create_target,
            failures_path=args.failures_path,
            dead_letter=dead_letter,
            dead_letter_index=dead_letter_index,
            duplicates=args.duplicates,
            state=args.state,
            resume=args.resume,
            checkpoints=args.checkpoints,
            on_unsupported=",".join(args.on_unsupported) or None,
        )
    verification = None
    if args.verify or args.deep_verify:
        verification = migration.verify(
            source_index=source_at.index,
            target_index=target_at.index,
            **_namespaces(args, source_at, target_at),
            deep=args.deep_verify,
        ).summary()
    _print_migration(result, args.json, verification)
    failed = bool(result.errors) or (verification is not None and not verification["match"])
    return EXIT_FAILED_RECORDS if failed else EXIT_OK


def _print_plan(
    migration: Migration, args: argparse.Namespace, source_at: Location, target_at: Location
) -> int:
    plan = migration.plan(
        source_index=source_at.index,
        target_index=target_at.index,
        **_namespaces(args, source_at, target_at),
        namespace_map=_namespace_map(args.namespace_map) or None,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
    ).summary()
    if args.json:
        print(json.dumps(plan, indent=2, default=str))
        return EXIT_OK
    source = plan["source"]
    shape = f"dimension {source['dimension']}, {source['metric']}"
    target = plan["target_index"]
    print(f"would migrate {plan['vectors']:,} vectors from {source['name']!r} ({shape}) to {target!r}")
    for note in source.get("details", {}).get("notes", ()):
        print(f"  note: {note}")
    if plan["creates_target"]:
        print("  the target index does not exist: it would be created to match the source")
    for source_ns, target_ns in plan["namespaces"].items():
        print(
            f"  namespace {source_ns!r} -> {target_ns!r}: {source['namespaces'].get(source_ns, 0):,} vectors"
        )
    print(
        f"  {plan['splits']} splits, reads of {plan['batch_size']}, about {plan['upserts']:,} upserts "
        f"of up to {plan['chunk_size']}"
    )
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, beam_args: list[str]) -> int:
    source, source_at = _client_and_location(args.source, "source")
    target, target_at = _client_and_location(args.target, "target")
    result = Migration(source, target, args.run_config, beam_args).verify(
        source_index=source_at.index,
        target_index=target_at.index,
        **_namespaces(args, source_at, target_at),
        deep=args.deep,
    )
    if args.json:
        print(json.dumps(result.summary(), indent=2, default=str))
    else:
        state = "match" if result.match else "MISMATCH"
        print(f"{state}: source {result.source_count:,} vectors, target {result.target_count:,} vectors")
        for ns, counts in result.namespaces.items():
            flag = "" if counts["source"] == counts["target"] else "  <-- differs"
            print(f"  namespace {ns!r}: source {counts['source']:,}, target {counts['target']:,}{flag}")
        if result.deep:
            print(
                f"  checked {result.checked:,} records: {result.missing_count:,} missing, "
                f"{result.extra_count:,} extra, {result.different_count:,} different"
            )
            for change, count in result.known_changes.items():
                print(f"  {count:,} records with the target's documented one-way change {change!r}")
            for kind, examples in result.examples.items():
                print(f"  {kind} (examples):")
                for example in examples:
                    fields = "; ".join(
                        f"{f['field']}: {f['source']!r} -> {f['target']!r}" for f in example.get("fields", [])
                    )
                    print(f"    {example['namespace']!r} {example['id']!r}{'  ' + fields if fields else ''}")
    return EXIT_OK if result.match else EXIT_FAILED_RECORDS


def cmd_ls(args: argparse.Namespace, beam_args: list[str]) -> int:
    client, location = _client_and_location(args.uri, "")
    names = [location.index] if location.index else client.connector.list_indexes()
    described = [client.describe_index(index=name) for name in names]
    if args.json:
        print(json.dumps(described, indent=2, default=str))
        return EXIT_OK
    for info in described:
        sparse = ", sparse" if info["sparse"] else ""
        shape = f"dimension {info['dimension']}, {info['metric']}{sparse}"
        print(f"{info['name']}: {info['count']:,} vectors, {shape}")
        for note in info.get("details", {}).get("notes", ()):
            print(f"  note: {note}")
        for ns, count in sorted(info["namespaces"].items()):
            print(f"  {ns!r}: {count:,}")
    if not described:
        print("no indexes")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pathlib import Path

    from pipelines.demo import run_demo

    return run_demo(Path(args.out), args.vectors, args.dimension, args.postgres_dsn)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vector-migrate",
        description="Copy vectors between vector databases with Apache Beam, and prove the copy.",
        epilog="Beam pipeline options (--runner, --direct_running_mode, ...) are passed through.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show log messages (Beam's and clients' too) on stderr"
    )
    parser.add_argument("--log-file", help="write log messages (INFO and up) to this file")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--source", required=True, help="source URI, e.g. parquet:///data/products")
        p.add_argument("--target", required=True, help="target URI, e.g. qdrant://localhost:6333/products")
        p.add_argument("--source-namespace", help="read only this namespace (default: all)")
        p.add_argument("--target-namespace", help="write into this namespace (needs --source-namespace)")
        p.add_argument("--run-config", help="a run_configs/*.json file choosing the Beam runner")
        p.add_argument("--json", action="store_true", help="print a JSON summary")

    migrate = sub.add_parser("migrate", help="copy every vector from source to target")
    common(migrate)
    migrate.add_argument(
        "--namespace-map",
        action="append",
        default=[],
        metavar="SRC=DST",
        help="rename a namespace (repeatable)",
    )
    migrate.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="vectors per read batch")
    migrate.add_argument(
        "--chunk-size", type=int, help="vectors per upsert (default: the target's preferred size)"
    )
    migrate.add_argument(
        "--no-create-target", action="store_true", help="fail if the target index is missing"
    )
    migrate.add_argument(
        "--dead-letter", metavar="URI", help="write failed records to this index (e.g. parquet://)"
    )
    migrate.add_argument(
        "--duplicates",
        choices=DUPLICATE_POLICIES,
        default="fail",
        help="ids several source records share: fail every copy (default) or keep the last written",
    )
    migrate.add_argument(
        "--on-unsupported",
        action="append",
        default=[],
        metavar="KIND=ACTION",
        help="what the target cannot hold: sparse=drop or metadata=drop stores the record without "
        "that part (counted); default refuse (repeatable)",
    )
    migrate.add_argument("--failures-path", help="folder for the failure report (default: a temp folder)")
    migrate.add_argument("--verify", action="store_true", help="compare counts after migrating")
    migrate.add_argument("--dry-run", action="store_true", help="show what would be migrated; change nothing")
    migrate.add_argument("--deep-verify", action="store_true", help="compare every record after migrating")
    migrate.add_argument(
        "--state",
        metavar="DIR_OR_URI",
        help="checkpoint into this folder or object-store URI (default with --resume: a folder "
        "under ~/.cache/vector-migrate/state named for source and target)",
    )
    migrate.add_argument(
        "--resume",
        action="store_true",
        help="checkpoint, and read only what an earlier checkpointed run did not finish",
    )
    migrate.add_argument(
        "--checkpoints",
        type=int,
        default=DEFAULT_CHECKPOINTS,
        help=f"waves a checkpointed migration runs in, each marked when done (default {DEFAULT_CHECKPOINTS})",
    )
    migrate.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds between progress lines when stderr is not a terminal (default 10)",
    )
    migrate.set_defaults(handler=cmd_migrate)

    verify = sub.add_parser("verify", help="compare source and target")
    common(verify)
    verify.add_argument("--deep", action="store_true", help="compare every record, not only counts")
    verify.set_defaults(handler=cmd_verify)

    add_sync_commands(sub, common)

    ls = sub.add_parser("ls", help="list indexes, namespaces, counts and dimensions")
    ls.add_argument("uri", help="a provider URI, with or without an index")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=cmd_ls)
    demo = sub.add_parser("demo", help="a real migration on embedded engines, verified hop by hop")
    demo.add_argument("--vectors", type=int, default=20_000)
    demo.add_argument("--dimension", type=int, default=384)
    demo.add_argument("--out", default="demo-output", help="folder for the demo's files (replaced)")
    demo.add_argument("--postgres-dsn", help="add a pgvector hop on this server (demo.sh starts one)")
    demo.set_defaults(handler=cmd_demo)
    return parser


def _cli_option_names(parser: argparse.ArgumentParser) -> set[str]:
    names: set[str] = set()
    for action in parser._actions:
        names.update(action.option_strings)
        if isinstance(action.choices, dict):  # the subcommands' parsers
            for sub in action.choices.values():
                names |= _cli_option_names(sub)
    return names


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time, so a live progress display that
    redirects stderr prints log lines above its bars instead of through them."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def _configure_logging(verbose: bool, log_file: str | None) -> None:
    """Quiet by default: Beam's and clients' messages (and Python warnings) appear only with
    ``-v`` or in ``--log-file``; results and errors are the CLI's own output."""
    handlers: list[logging.Handler] = []
    if verbose:
        handlers.append(_StderrHandler())
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=handlers or [logging.NullHandler()], force=True)
    logging.captureWarnings(True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    _configure_logging(args.verbose, args.log_file)
    try:
        check_unknown_options(beam_args, _cli_option_names(parser))
        if getattr(args, "run_config", None):
            args.run_config = RunConfig.load(args.run_config)
        return args.handler(args, beam_args)
    except VectorMigrateError as exc:
        print(f"vector-migrate: error: {mask_uri(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as exc:  # never print a vendor message unmasked: it may hold a DSN
        if args.verbose:
            logging.getLogger(__name__).debug("traceback", exc_info=True)
        print(f"vector-migrate: unexpected {type(exc).__name__}: {mask_uri(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
