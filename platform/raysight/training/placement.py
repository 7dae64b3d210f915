"""Does a training run fit the cluster? Now, later, or never: the supervisor's queue decisions and the
sentences a queued or failed job's record shows."""

from __future__ import annotations

from dataclasses import dataclass

EPS = 1e-6
HINTS = {
    "CPU": "lower RAYSIGHT_TRAIN_CPUS_PER_WORKER or params.num_workers, or add nodes",
    "GPU": "set RAYSIGHT_TRAIN_USE_GPU=false, lower RAYSIGHT_TRAIN_GPUS_PER_WORKER or params.num_workers, "
           "or add GPU nodes",
}


@dataclass(frozen=True)
class Fit:
    """reason: None when the run can start now; else why not. impossible: it never can on this cluster."""

    reason: str | None = None
    impossible: bool = False


def _amount(value: float) -> str:
    return f"{value:g}"


def check(need: dict[str, float], *, total: dict[str, float], free: dict[str, float], workers: int,
          resumed: bool = False) -> Fit:
    """Compare what a run needs with the cluster's total and free resources (Ray's logical accounting).

    `resumed`: the job ran on this cluster before (a resume). Where the whole cluster now lacks what it
    needs, the nodes it ran on were lost (removed, crashed, scaled down), and the job waits for one to join
    rather than failing: the moment Ray drops a dead node from its totals must not decide a resume's fate.
    """
    for name, amount in sorted(need.items()):
        have = float(total.get(name, 0.0))
        if amount > have + EPS:
            per = _amount(amount / max(1, workers))
            what = f"{_amount(have)} {name}" if have else f"no {name}"
            if resumed:
                return Fit(reason=f"waiting for a node with {name}: the job needs {_amount(amount)} {name} "
                                  f"({workers} Train worker(s) x {per} {name}) and the Ray cluster has {what} "
                                  "now (the node it ran on left); it starts when one joins")
            return Fit(
                reason=f"the job needs {_amount(amount)} {name} ({workers} Train worker(s) x {per} {name}) but "
                       f"the whole Ray cluster has {what}; {HINTS.get(name, 'add nodes')}",
                impossible=True,
            )
    for name, amount in sorted(need.items()):
        available = float(free.get(name, 0.0))
        if amount > available + EPS:
            return Fit(reason=f"waiting for {_amount(amount)} {name}: {_amount(round(available, 3))} of "
                              f"{_amount(float(total.get(name, 0.0)))} {name} are free (the rest is held by "
                              "Serve replicas and running jobs)")
    return Fit()
