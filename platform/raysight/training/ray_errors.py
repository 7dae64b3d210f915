"""The one place where Ray's failures on the training path are read: whether a run was interrupted
(a Ray process or node died: the job is resumable) or failed (its own code), the short reason a job
record shows, and the domain error a call to the supervisor becomes."""

from __future__ import annotations

import ray
import ray.exceptions

from raysight.errors import RaysightError, Timeout, Unavailable, scrub

SYSTEM_ERRORS: tuple[type[BaseException], ...] = (
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.LocalRayletDiedError,
    ray.exceptions.OwnerDiedError,
    ray.exceptions.RaySystemError,
)
INTERRUPT_GRACE_S = 3.0


def is_interruption(exc: BaseException) -> bool:
    """True when the run ended because a Ray process or node died, not because of the training code: the
    task running fit() itself died, or Ray Train gave up on a worker group (or controller) whose failures
    are all lost processes / nodes (a node removed under a worker shows up as a failed health check)."""
    from ray.train.v2._internal.exceptions import WorkerHealthCheckFailedError, WorkerHealthCheckTimeoutError
    from ray.train.v2.api.exceptions import ControllerError, PreemptionError, WorkerGroupError

    lost = (*SYSTEM_ERRORS, ray.exceptions.RayActorError, WorkerHealthCheckFailedError,
            WorkerHealthCheckTimeoutError, PreemptionError)

    def cause_of(err: BaseException) -> BaseException:
        inner = getattr(err, "cause", None)
        return inner if isinstance(inner, BaseException) else err

    if isinstance(exc, SYSTEM_ERRORS):
        return True
    err = cause_of(exc)
    if isinstance(err, WorkerGroupError):
        failures = [cause_of(f) for f in (err.worker_failures or {}).values()]
        return bool(failures) and all(isinstance(f, lost) for f in failures)
    if isinstance(err, ControllerError):
        return isinstance(cause_of(err.controller_failure), lost)
    return isinstance(err, lost)


def reason(exc: BaseException) -> str:
    """A short reason from a Ray error (its first meaningful line)."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(" ")]
    return scrub(lines[-1] if lines else type(exc).__name__, 2000)


def domain_error(exc: BaseException, *, what: str = "the training supervisor") -> RaysightError:
    """A failed call to the supervisor actor as a domain error."""
    if isinstance(exc, RaysightError):
        return exc
    cause = getattr(exc, "cause", None)  # RayTaskError carries the actor's exception
    if isinstance(cause, RaysightError):
        return cause
    if isinstance(exc, (ray.exceptions.GetTimeoutError, TimeoutError)):
        return Timeout(f"{what} did not answer in time")
    return Unavailable(f"{what} is unavailable ({type(exc).__name__}: {reason(exc)})")
