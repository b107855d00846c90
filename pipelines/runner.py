"""Choosing and configuring the Beam runner.

Local runs use Beam's in-process FnApiRunner explicitly: the plain ``DirectRunner`` first tries
to download the Prism runner binary from the internet, which fails offline and costs time.
Run configs (``run_configs/*.json``) hold a runner name and its pipeline options; options given
on the command line win over the file's.
"""

from __future__ import annotations

import inspect
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    PortableOptions,
    StandardOptions,
)
from apache_beam.runners.runner import PipelineRunner
from apache_beam.transforms.environments import Environment

from io_connectors.core.errors import ConfigError
from io_connectors.core.retry import METRICS_NAMESPACE
from pipelines.locations import SharedLocationOptions, shared_root

LOCAL_RUNNERS = {"DirectRunner", "FnApiRunner", "local", "SwitchingDirectRunner"}
WORKER_ENVIRONMENTS = {"EXTERNAL", "PROCESS", "DOCKER"}
STATE_SAMPLING_PERIOD_MS = 20  # see shorten_state_sampling
REMOTE_POLLED_RUNNERS = {"DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner", "PrismRunner"}


@dataclass(frozen=True)
class RunConfig:
    runner: str = "DirectRunner"
    options: dict[str, Any] = field(default_factory=lambda: {"direct_running_mode": "in_memory"})

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"run config {str(path)!r} does not exist") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"run config {str(path)!r} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or "runner" not in data:
            raise ConfigError(f"run config {str(path)!r} needs a 'runner' field")
        return cls(runner=data["runner"], options=dict(data.get("options", {})))


def _flags(options: dict[str, Any]) -> list[str]:
    flags = []
    for key, value in options.items():
        if isinstance(value, bool):
            if value:
                flags.append(f"--{key}")
        elif isinstance(value, list):
            flags.extend(f"--{key}={item}" for item in value)
        else:
            flags.append(f"--{key}={value}")
    return flags


@dataclass(frozen=True)
class RunnerChoice:
    runner: PipelineRunner | str
    options: PipelineOptions
    name: str

    @property
    def is_local(self) -> bool:
        return self.name in LOCAL_RUNNERS

    @property
    def in_process(self) -> bool:
        """Workers share this Python process (memory:// stores are reachable)."""
        if not self.is_local or self.worker_environment in WORKER_ENVIRONMENTS:
            return False
        direct = self.options.view_as(DirectOptions)
        return (direct.direct_running_mode or "in_memory") == "in_memory"

    @property
    def remote(self) -> bool:
        """Workers may run on other machines: side files need a location every worker shares.

        Local runners and the portable runner's LOOPBACK workers (threads of this process)
        are not remote; workers from an environment (EXTERNAL, DOCKER, PROCESS) and every
        cluster runner are, whether or not they happen to run on this machine today.
        """
        if self.worker_environment in WORKER_ENVIRONMENTS:
            return True
        return not self.is_local and not (
            self.name == "PortableRunner" and self.worker_environment == "LOOPBACK"
        )

    @property
    def retries_bundles(self) -> bool:
        """Whether the runner may run a bundle again after a failure (Beam's local runner never
        does: a failed bundle fails the job), so side outputs must be written exactly once."""
        return not self.is_local

    @property
    def worker_environment(self) -> str:
        return (self.options.view_as(PortableOptions).environment_type or "").upper()

    @property
    def on_this_machine(self) -> bool:
        """Workers run here (local, loopback, or declared ``--workers_share_local_disk``)."""
        return not self.remote or self.options.view_as(SharedLocationOptions).workers_share_local_disk

    def side_file_root(self, explicit: str | None, purpose: str) -> str | None:
        """Where ``purpose`` files go (see ``pipelines.locations``); refuses unshared paths."""
        return shared_root(self.options, self.remote, explicit, purpose)


def choose_runner(config: RunConfig | None = None, pipeline_args: list[str] | None = None) -> RunnerChoice:
    config = config or RunConfig()
    args = _flags(config.options) + list(pipeline_args or [])
    options = PipelineOptions(args)
    name = options.view_as(StandardOptions).runner or config.runner
    if name in LOCAL_RUNNERS:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        shorten_state_sampling()
        direct = options.view_as(DirectOptions)
        direct.direct_running_mode = direct.direct_running_mode or "in_memory"
        options.view_as(StandardOptions).runner = None
        return RunnerChoice(
            FnApiRunner(default_environment=_worker_environment(options)), options, "DirectRunner"
        )
    options.view_as(StandardOptions).runner = name
    return RunnerChoice(name, options, name)


def shorten_state_sampling() -> None:
    """Beam's SDK worker starts a state-sampling thread per bundle that sleeps up to 200 ms at a
    time, and the bundle's end joins it: every bundle that runs longer than a second ends with
    about 100 ms (up to 200 ms) of waiting, some 0.2 s of a 50,000-vector migration run in this
    process. A 20 ms ceiling keeps that wait short; the thread then wakes 50 times a second
    instead of 5, which costs nothing measurable. Applies to workers in this process only, and
    does nothing if Beam's sampler no longer takes the period as its last default argument."""
    from apache_beam.runners.worker import statesampler

    init = statesampler.StateSampler.__init__
    parameters = list(inspect.signature(init).parameters)
    if parameters[-1:] == ["sampling_period_ms"] and init.__defaults__ is not None:
        init.__defaults__ = (*init.__defaults__[:-1], STATE_SAMPLING_PERIOD_MS)


def _worker_environment(options: PipelineOptions) -> Environment | None:
    """For ``--environment_type=EXTERNAL`` (a worker pool) and the like, the local runner
    coordinates the job and ``--direct_num_workers`` SDK workers come from that environment:
    Beam's portable job service would run the same runner but always with one worker."""
    portable = options.view_as(PortableOptions)
    if (portable.environment_type or "").upper() not in WORKER_ENVIRONMENTS:
        return None
    return Environment.from_options(portable)


def job_counters(result: Any, committed: bool = True) -> dict[str, int]:
    """The job's ``vector_migrate`` counters by name, summed over the steps that report them."""
    # Looked up, not imported: the portable runner's modules cost a local run time to import, and
    # a result of theirs exists only when they were loaded to run the job.
    portable = sys.modules.get("apache_beam.runners.portability.portable_runner")
    if portable is not None and isinstance(result, portable.PipelineResult):
        # It caches the first metrics response for good; the embedded job service answers with
        # nothing until the job ends, so a query made while it runs would hide the final counts.
        result._metrics = None
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    totals: dict[str, int] = {}
    for counter in query["counters"]:
        value = counter.committed if committed else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return totals
