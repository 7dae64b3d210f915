"""Server folders named in requests (PaddleX dataset import, AutoSele sources and destinations).

The ONLY place a client-given server path is accepted: it must resolve (symlinks followed) to a path
inside one of ``Settings.import_roots``. Anything else raises ``Invalid`` with a message that names
the setting, never the roots themselves.
"""

from __future__ import annotations

from pathlib import Path

from raysight.errors import Invalid, NotFound
from raysight.settings import Settings


def resolve_server_path(settings: Settings, raw: str | None, *, must_exist: bool = True,
                        want_dir: bool | None = None, what: str = "path") -> Path:
    """The resolved `raw` path if it lies under an import root (and exists / is a folder, as asked)."""
    if raw is None or not str(raw).strip():
        raise Invalid(f"{what} is required")
    text = str(raw).strip()
    if "\x00" in text:
        raise Invalid(f"{what} is not a valid path")
    roots = settings.import_root_list
    if not roots:
        raise Invalid(f"{what} refused: no server folder may be used (set RAYSIGHT_IMPORT_ROOTS)")
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError):
        raise Invalid(f"{what} is not a valid path") from None
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise Invalid(f"{what} '{text}' is outside the allowed import roots (RAYSIGHT_IMPORT_ROOTS)")
    if must_exist and not resolved.exists():
        raise NotFound(f"{what} '{text}' does not exist")
    if want_dir is True and resolved.exists() and not resolved.is_dir():
        raise Invalid(f"{what} '{text}' is not a folder")
    if want_dir is False and resolved.exists() and not resolved.is_file():
        raise Invalid(f"{what} '{text}' is not a file")
    return resolved
