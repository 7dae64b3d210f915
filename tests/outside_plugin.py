"""Installs the example plugin of docs/plugins.md (its `<!-- example: PATH -->` code blocks, exactly as
the document shows them) into a folder, the way `pip install` would lay it out (the package and a
dist-info with the entry points of its pyproject.toml), so tests prove that a stranger's plugin
written from the document is discovered, served and trained."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
EXAMPLE = re.compile(r"<!-- example: (?P<path>[\w./-]+) -->\n```\w*\n(?P<code>.*?)\n```", re.S)


def example_files(doc: Path = DOC) -> dict[str, str]:
    """{relative path: text} of the example plugin in the document."""
    files = {m["path"]: m["code"] + "\n" for m in EXAMPLE.finditer(doc.read_text())}
    if "pyproject.toml" not in files:
        raise AssertionError(f"{doc} shows no example pyproject.toml")
    return files


def write_dist(root: Path, *, dist: str, version: str, entry_points: dict[str, str]) -> None:
    """The dist-info (METADATA + entry_points.txt) pip would write for a package with these entry points."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[raysight.plugins]\n{lines}")
    (info / "RECORD").write_text("")


def make_outside_plugin(root: Path) -> Path:
    """Install the document's example plugin under `root` (put `root` on sys.path to use it)."""
    files = example_files()
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        if rel != "pyproject.toml":
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    project = tomllib.loads(files["pyproject.toml"])["project"]
    write_dist(root, dist=project["name"], version=project["version"],
               entry_points=project["entry-points"]["raysight.plugins"])
    return root
