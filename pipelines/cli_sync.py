"""The ``sync`` and ``replay`` commands of the CLI (kept apart from ``cli.py``'s migrate/verify)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from pipelines.migration import DEFAULT_BATCH_SIZE, Migration

EXIT_OK, EXIT_FAILED_RECORDS = 0, 1


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    sync = sub.add_parser("sync", help="write only the records that differ between source and target")
    common(sync)
    sync.add_argument(
        "--namespace-map", action="append", default=[], metavar="SRC=DST", help="rename a namespace"
    )
    sync.add_argument("--delete-extra", action="store_true", help="delete target records the source lacks")
    sync.add_argument("--dry-run", action="store_true", help="report the difference; write nothing")
    sync.add_argument(
        "--changed-since",
        metavar="FIELD",
        help="upsert only source records whose metadata FIELD grew since the last sync (kept in --state)",
    )
    sync.add_argument("--state", metavar="DIR_OR_URI", help="where --changed-since keeps its watermark")
    sync.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    sync.add_argument("--chunk-size", type=int)
    sync.set_defaults(handler=cmd_sync)

    replay = sub.add_parser("replay", help="write a dead-letter index back into the target")
    replay.add_argument("--dead-letter", required=True, metavar="URI", help="the dead-letter index")
    replay.add_argument("--target", required=True, help="target URI")
    replay.add_argument("--run-config", help="a run_configs/*.json file choosing the Beam runner")
    replay.add_argument("--json", action="store_true", help="print a JSON summary")
    replay.add_argument("--chunk-size", type=int)
    replay.set_defaults(handler=cmd_replay)


def cmd_sync(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.cli import _client_and_location, _namespace_map, _namespaces

    source, source_at = _client_and_location(args.source, "source")
    target, target_at = _client_and_location(args.target, "target")
    result = Migration(source, target, args.run_config, beam_args).sync(
        source_at.index,
        target_at.index,
        **_namespaces(args, source_at, target_at),
        namespace_map=_namespace_map(args.namespace_map) or None,
        delete_extra=args.delete_extra,
        dry_run=args.dry_run,
        changed_since=args.changed_since,
        state=args.state,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
    )
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        found = (
            f"{result.missing_count} missing, {result.different_count} different, "
            f"{result.extra_count} extra in the target"
        )
        if args.dry_run:
            print(f"{found}; dry run, nothing written")
        else:
            print(
                f"{found}; wrote {result.written_count}, deleted {result.deleted_count}, "
                f"{result.failed_count} failed"
            )
    return EXIT_FAILED_RECORDS if result.errors else EXIT_OK


def cmd_replay(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.cli import _client_and_location

    dead, dead_at = _client_and_location(args.dead_letter, "dead-letter")
    target, target_at = _client_and_location(args.target, "target")
    result = Migration(dead, target, args.run_config, beam_args).replay(
        dead, target_at.index, dead_letter_index=dead_at.index, chunk_size=args.chunk_size
    )
    if args.json:
        print(json.dumps(result.summary(), indent=2, default=str))
    else:
        print(f"replayed {result.replayed_count} of {result.read_count}; {result.failed_count} still fail")
    return EXIT_FAILED_RECORDS if result.failed_count else EXIT_OK
