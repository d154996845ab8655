"""What the runner, the executor and the faces say to each other: jobs and progress.

A job is one cache entry to compute (a generator fit or a classifier training) with
everything that decides its numbers: the config, the recipe, the seed and the
``Identity`` it runs with (torch threads, precision, device). The runner builds cache keys
from the job's identity, never from the state of the process that happens to run it, so
the same job gives the same key in this process, a worker process or a Ray node.

No torch here: the CLI's ``--help`` and the app's first paint import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from .errors import VaeimbError

#: The optional requirements file that installs Ray (the executor's cluster backend).
CLUSTER_REQUIREMENTS = "requirements-cluster.txt"
#: A Ray cluster to run jobs on when no flag chooses a backend.
RAY_ADDRESS_ENV = "VAEIMB_RAY_ADDRESS"


@dataclass(frozen=True)
class Identity:
    """What, beyond the config and seed, changes a trained model's numbers on one machine:
    the torch thread count (reductions are ordered by thread), the training precision and
    the device type. Every backend runs a job with the identity in the job."""

    threads: int = 1
    precision: str = "fp32"
    device: str = "cpu"

    def key(self) -> dict[str, Any]:
        """The part of every cache key that this identity decides."""
        return {"threads": self.threads, "device": self.device, "precision": self.precision}


def generator_job(name: str) -> str:
    """Job name of a generator's own training in progress events (an approach's
    classifier reports under the approach's name)."""
    return f"generator:{name}"


@dataclass(frozen=True)
class ProgressEvent:
    """What the runner is doing: ``job`` is an approach name or ``generator_job(name)``."""

    job: str
    seed: int
    done: int
    total: int
    status: str  # "running" | "cached" | "done" | "failed"
    message: str = ""
    where: str = ""  # which config (sweeps and atlases run several at once)


ProgressCallback = Optional[Callable[[ProgressEvent], None]]


@dataclass(frozen=True)
class Job:
    """One cache entry to compute: a generator fit or a classifier training."""

    kind: str  # the cache kind: "generator" | "classifier"
    key: str
    config: Any  # ExperimentConfig
    approach: Any  # recipes.Approach
    seed: int
    identity: Identity
    deps: tuple[str, ...] = ()  # generator entries it reads; their jobs run first
    label: str = ""  # progress name: the approach, or "generator:NAME"
    where: str = ""  # which config, for sweeps and atlases
    total: int = 0  # training steps, for progress

    @property
    def threads(self) -> int:
        return self.identity.threads

    @property
    def precision(self) -> str:
        return self.identity.precision

    def event(self, status: str, message: str = "", done: int | None = None) -> ProgressEvent:
        """A progress event about this job as a whole."""
        if done is None:
            done = self.total if status == "done" else 0
        return ProgressEvent(self.label, self.seed, done, self.total, status, message, where=self.where)


def is_stop(err: BaseException) -> bool:
    """Streamlit's rerun/stop exceptions must pass through (a closed tab, a changed setting)."""
    return type(err).__name__ in ("RerunException", "StopException", "ScriptControlException")


def error_text(err: BaseException) -> str:
    """How a failed job or run is reported: our own errors by their message, anything
    else with its type."""
    return str(err) if isinstance(err, VaeimbError) else f"{type(err).__name__}: {err}"
