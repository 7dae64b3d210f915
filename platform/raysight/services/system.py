"""Health and plugin listing."""

from __future__ import annotations

from typing import Any

from raysight import __version__
from raysight.context import Platform
from raysight.errors import Unavailable


def health(*, ctx: Platform) -> dict[str, Any]:
    """Each component's state. Ray and Serve are reported by the Cluster port (`ctx.cluster`, None when
    the app runs without Ray, e.g. in unit tests)."""
    db_ok = ctx.db.ping()
    report: dict[str, Any] = {
        "status": "ok" if db_ok else "degraded",
        "version": __version__,
        "database": {"ok": db_ok, "dialect": ctx.db.engine.dialect.name},
        "workspace": str(ctx.workspace.root),
        "plugins": {
            "loaded": sorted(ctx.plugins.backends),
            "errors": ctx.plugins.errors,
        },
    }
    cluster = ctx.cluster
    try:
        report["dashboard_url"] = cluster.dashboard_url() if cluster is not None else None
    except Exception:  # the URL is a convenience; health answers without it
        report["dashboard_url"] = None
    for name in ("ray", "serve"):
        if cluster is None:
            report[name] = {"ok": False, "detail": "not running under Ray"}
            report["status"] = "degraded"
            continue
        try:
            report[name] = cluster.probe(name)
        except Exception as exc:  # a probe failing is a health fact, not an error
            report[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
        if not report[name].get("ok"):
            report["status"] = "degraded"
    return report


def plugins(*, ctx: Platform) -> dict[str, Any]:
    return {"plugins": ctx.plugins.describe(), "errors": ctx.plugins.errors}


def cluster_resources(*, ctx: Platform) -> dict[str, float]:
    """The Ray cluster's logical resources ({"CPU": 8.0, "GPU": 1.0, ...}) through the Cluster port;
    {} when the app runs without Ray."""
    if ctx.cluster is None:
        return {}
    try:
        return {str(k): float(v) for k, v in ctx.cluster.resources().items()}
    except Exception:  # the cluster is a fact to report, never a reason to fail the request
        return {}


def list_gpus(*, ctx: Platform) -> list[dict[str, Any]]:
    """[{node, index, name, memory_total_mb, memory_used_mb, memory_free_mb}, ...] for every GPU of
    every live node; memory fields are None where the node cannot report them."""
    if ctx.cluster is None:
        return []
    try:
        return list(ctx.cluster.gpus())
    except Exception as exc:  # the cluster is the source; say it could not be asked
        raise Unavailable(f"the cluster's GPUs could not be listed: {type(exc).__name__}: {exc}") from exc
