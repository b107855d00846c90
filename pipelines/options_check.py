"""Refuse options that neither the CLI nor Beam knows, instead of letting Beam drop them.

Beam silently discards pipeline options it cannot parse, so a mistyped ``--chunk-szie 10``
would run with the default chunk size. The CLI hands Beam only what Beam's own option classes
declare; anything else stops the run, naming the option and the closest known one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from apache_beam.options import pipeline_options
from apache_beam.options.pipeline_options import PipelineOptions

from io_connectors.core.errors import ConfigError


def _beam_parser() -> pipeline_options._BeamArgumentParser:
    """A parser with every option Beam's registered option classes declare (as Beam builds it)."""
    parser = pipeline_options._BeamArgumentParser(allow_abbrev=False)
    seen: dict[str, type[PipelineOptions]] = {}
    for cls in PipelineOptions.__subclasses__():
        seen.setdefault(str(cls), cls)
    for cls in seen.values():
        cls._add_argparse_args(parser)
    return parser


def beam_option_names() -> list[str]:
    return [flag for action in _beam_parser()._actions for flag in action.option_strings]


def check_unknown_options(args: Sequence[str], cli_options: Iterable[str]) -> None:
    """Raise ``ConfigError`` naming every option in ``args`` that Beam does not know."""
    _, unknown = _beam_parser().parse_known_args(list(args))
    flags = [arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")]
    if not flags and not unknown:
        return
    known = sorted(set(cli_options) | set(beam_option_names()))
    problems = []
    for flag in flags or unknown:
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
        problems.append(f"{flag} (did you mean {close[0]}?)" if close else flag)
    raise ConfigError(
        f"unknown option{'s' if len(problems) > 1 else ''}: {', '.join(problems)}; "
        "see vector-migrate COMMAND --help (Beam pipeline options are passed through)"
    )
