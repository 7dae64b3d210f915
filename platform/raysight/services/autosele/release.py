"""AutoSele release: pages of releasable models (/release_tab) and publishing one (/release) as the
registry stage "released" on the model (the native GET /models?stage=released lists them), with the
release's own fields (version, env, adcode, desc, type, time) kept beside it.

A releasable model is a model an AutoSele training task produced. On a page each shows as
{"folder": task name, "files": [<weights file>, <same stem>.json], ...}: the weights file is the model's
file (as /model names it), the .json its metadata (classes, metrics, parameters) that /release
publishes with it. /release takes {folder: [both files]} as the document says.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound
from raysight.services import models
from raysight.services.autosele import train
from raysight.services.autosele.common import DATE_FORMATS
from raysight.store.models import AutoseleRelease
from raysight.store.models.base import iso

PAGE_SIZE = 10
RELEASED = "released"


def _entries(ctx: Platform) -> list[dict[str, Any]]:
    out = []
    for entry in train.generated(ctx=ctx):
        for item in entry["items"]:
            model = models.get(ctx=ctx, model_id=item["model_id"])
            out.append({"folder": entry["task_name"], "task_id": entry["task_id"], "model_id": item["model_id"],
                        "files": [item["file"], f"{Path(item['file']).stem}.json"], "stage": model.get("stage"),
                        "task_type": model["task_type"], "classes": model["classes"]})
    return out


def page(*, ctx: Platform, number: int) -> dict[str, Any]:
    """{data: [entries], name: the pages' model types, total: page count} for 1-based page `number`."""
    if number < 1:
        raise Invalid("page must be 1 or more")
    entries = _entries(ctx)
    total = max(1, math.ceil(len(entries) / PAGE_SIZE))
    chosen = entries[(number - 1) * PAGE_SIZE: number * PAGE_SIZE]
    kinds = sorted({e["task_type"] for e in chosen})
    return {"data": chosen, "name": ",".join(kinds), "total": total, "page": number}


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise Invalid(f"time must be like '2018-07-31 12:22:30', got {value!r}")


def publish(*, ctx: Platform, dicts: dict[str, Any], version: str, env: str = "", adcode: int | None = None,
            desc: str = "", kind: str = "", time: str | None = None) -> list[dict[str, Any]]:
    """Release every model `dicts` names ({folder: [weights file, json file]})."""
    if not dicts:
        raise Invalid("dicts must name a model folder and its files")
    when = _time(time)
    entries = _entries(ctx)
    chosen = []
    for folder, files in dicts.items():
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise Invalid(f"dicts['{folder}'] must be a list of file names")
        if not any(f.endswith(".json") for f in files) or len(files) < 2:
            raise Invalid(f"dicts['{folder}'] must name the model's weights file and its .json file")
        weights = [f for f in files if not f.endswith(".json")]
        for name in weights:
            matches = [e for e in entries if e["folder"] == folder and e["files"][0] == name]
            if not matches:
                raise NotFound(f"no releasable model '{name}' in folder '{folder}' (see /release_tab)")
            if len(matches) > 1:  # tasks of one name from before names were unique
                raise Conflict(f"folder '{folder}' holds {len(matches)} models '{name}' of tasks of one name "
                               "(ambiguous: /train_history lists the tasks)")
            match = matches[0]
            if f"{Path(name).stem}.json" not in files:
                raise Invalid(f"dicts['{folder}'] must name {Path(name).stem}.json with {name}")
            chosen.append(match)
    out = []
    for match in chosen:
        model = models.set_stage(ctx=ctx, model_id=match["model_id"], stage=RELEASED)
        with ctx.db.session() as s:
            row = AutoseleRelease(model_id=match["model_id"], task_id=match["task_id"], version=version, env=env,
                                  adcode=adcode, desc=desc, type=kind, time=when or datetime.now())
            s.add(row)
            s.flush()
            out.append({"id": row.id, "folder": match["folder"], "files": match["files"],
                        "model_id": match["model_id"], "stage": model["stage"], "version": version, "env": env,
                        "adcode": adcode, "desc": desc, "type": kind, "time": iso(row.time)})
    return out


def releases(*, ctx: Platform, model_id: str | None = None) -> list[dict[str, Any]]:
    """Release records, newest first (optionally of one model)."""
    with ctx.db.session() as s:
        query = select(AutoseleRelease).order_by(AutoseleRelease.id.desc())
        if model_id:
            query = query.where(AutoseleRelease.model_id == model_id)
        return [{"id": r.id, "model_id": r.model_id, "task_id": r.task_id, "version": r.version, "env": r.env,
                 "adcode": r.adcode, "desc": r.desc, "type": r.type, "time": iso(r.time)} for r in s.scalars(query)]
