"""Archive routes opt in where they are declared (@archive_body): the marked routes are exactly the
ones the former hard-coded path list named, under every prefix their router is mounted at."""

from __future__ import annotations

import re

from raysight.api import compat, create_app, native
from raysight.api.middleware.body_limit import body_limit
from raysight.api.middleware.errors import leaf_routes
from raysight.settings import Settings

FORMER = re.compile(
    r"^(/compat/[^/]+)?/(datasets/upload|models/upload|infer/batch/run|infer/video/[^/]+(/stream)?"
    r"|upload_package|training_model/upload_model|training_model/upload_datasets)/?$"
)


def every_path() -> list[str]:
    mounted = [("", r) for r in native.routers()]
    for name, router in compat.routers():
        mounted += [(f"/compat/{name}", router), ("", router)]
    paths = {prefix + route.path for prefix, router in mounted for route in leaf_routes(router.routes)}
    return sorted(re.sub(r"\{[^}]+\}", "x1", p) for p in paths)


def test_marked_routes_are_the_archive_routes() -> None:
    settings = Settings(max_upload_mb=100, max_image_mb=1)
    archives = create_app(None).state.archive_paths
    paths = every_path()
    assert len(paths) > 40
    for path in [*paths, *(p + "/" for p in paths)]:
        limit, named = body_limit(path, settings, archives)
        assert ("MAX_UPLOAD_MB" in named) == bool(FORMER.match(path)), path
    assert sum(bool(FORMER.match(p)) for p in paths) == 11  # 5 native, 3 filerec (twice)
