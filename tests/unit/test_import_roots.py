from __future__ import annotations

import os
from pathlib import Path

import pytest

from raysight.errors import Invalid, NotFound
from raysight.import_roots import resolve_server_path
from raysight.settings import Settings


def _settings(*roots: Path) -> Settings:
    return Settings(import_roots=os.pathsep.join(str(r) for r in roots))


def test_inside_root_is_resolved(tmp_path: Path) -> None:
    (tmp_path / "data" / "a").mkdir(parents=True)
    got = resolve_server_path(_settings(tmp_path / "data"), str(tmp_path / "data" / "a"), want_dir=True)
    assert got == (tmp_path / "data" / "a").resolve()
    assert resolve_server_path(_settings(tmp_path / "data"), "a") == got  # relative: under the first root


@pytest.mark.parametrize("raw", ["../outside", "/etc", "a/../../outside", "/etc/passwd"])
def test_traversal_is_refused(tmp_path: Path, raw: str) -> None:
    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    with pytest.raises(Invalid, match="RAYSIGHT_IMPORT_ROOTS"):
        resolve_server_path(_settings(tmp_path / "data"), raw)


def test_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "data" / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(Invalid):
        resolve_server_path(_settings(tmp_path / "data"), str(tmp_path / "data" / "link"))


def test_no_roots_refuses_everything(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="RAYSIGHT_IMPORT_ROOTS"):
        resolve_server_path(Settings(import_roots=""), str(tmp_path))


def test_missing_and_kind(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    s = _settings(tmp_path)
    with pytest.raises(NotFound):
        resolve_server_path(s, str(tmp_path / "nope"))
    assert resolve_server_path(s, str(tmp_path / "nope"), must_exist=False) == (tmp_path / "nope").resolve()
    with pytest.raises(Invalid, match="not a folder"):
        resolve_server_path(s, str(tmp_path / "f.txt"), want_dir=True)
    with pytest.raises(Invalid, match="required"):
        resolve_server_path(s, "  ")
