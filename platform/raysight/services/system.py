"""Health and plugin listing."""

from __future__ import annotations

from typing import Any

from raysight import __version__
from raysight.context import Platform


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
