"""Job log lines: `[2024-01-15T12:34:56] message`, appended to workspace.job_log(job_id).

Train workers send their lines to the job supervisor, which appends them here (a worker may run on
another node, where the file is not). Only when no supervisor answers (a plugin's train loop run
outside a job, or the supervisor gone) does a worker append to the file itself, which then must be
local (training.worker.TrainSession.flush). Timestamps are UTC and taken where the line was produced.
Plain Python (no Ray): services and training both use it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_lock = threading.Lock()


def stamp(message: str, when: datetime | None = None) -> list[str]:
    """One timestamped line per non-empty line of `message` (ANSI colours removed)."""
    ts = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    out = []
    for raw in _ANSI.sub("", str(message)).replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        if line.strip():
            out.append(f"[{ts}] {line}")
    return out


def append(path: Path | str, lines: Iterable[str]) -> None:
    """Append already-stamped lines (one write, so concurrent writers never interleave a line)."""
    text = "".join(f"{line}\n" for line in lines)
    if not text:
        return
    path = Path(path)
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)


def write(path: Path | str, message: str) -> None:
    """Stamp and append a message now."""
    append(path, stamp(message))
