"""Health and plugin listing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raysight import __version__
from raysight.context import Platform

Probe = Callable[[], dict[str, Any]]


def health(*, ctx: Platform) -> dict[str, Any]:
    """Each component's state. Ray and Serve are reported by probes the serving layer registers
    in ``ctx.extras['probes']`` (absent when the app runs without Ray, e.g. in unit tests)."""
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
    find_dashboard = ctx.extras.get("dashboard_url")
    try:
        report["dashboard_url"] = find_dashboard() if find_dashboard else None
    except Exception:  # the URL is a convenience; health answers without it
        report["dashboard_url"] = None
    probes: dict[str, Probe] = ctx.extras.get("probes", {})
    for name in ("ray", "serve"):
        probe = probes.get(name)
        if probe is None:
            report[name] = {"ok": False, "detail": "not running under Ray"}
            report["status"] = "degraded"
            continue
        try:
            report[name] = probe()
        except Exception as exc:  # a probe failing is a health fact, not an error
            report[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
        if not report[name].get("ok"):
            report["status"] = "degraded"
    return report


def plugins(*, ctx: Platform) -> dict[str, Any]:
    return {"plugins": ctx.plugins.describe(), "errors": ctx.plugins.errors}


def cluster_resources(*, ctx: Platform) -> dict[str, float]:
    """The Ray cluster's logical resources ({"CPU": 8.0, "GPU": 1.0, ...}) as the serving layer sees them;
    {} when the app runs without Ray."""
    probe = ctx.extras.get("cluster_resources")
    if probe is None:
        return {}
    try:
        return {str(k): float(v) for k, v in dict(probe()).items()}
    except Exception:  # the cluster is a fact to report, never a reason to fail the request
        return {}
