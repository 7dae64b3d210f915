"""CPU time per process from /proc (Linux), for the benches: what each process of the machine spent while a
benchmark ran, independent of how busy the machine was (unlike wall times on a shared VM)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def process_name(pid: int) -> str:
    """A short name: a Ray worker's title without "ray::" and its method ("TrainController"), else the program
    or the Python script it runs ("gcs_server", "raylet", "log_monitor.py"); "" if the process is gone."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    args = [a.decode(errors="replace") for a in argv if a]
    if not args:
        return ""
    if args[0].startswith("ray::"):
        return args[0].split()[0].split(".")[0][5:]
    program = Path(args[0]).name
    if program.startswith("python"):
        for arg in args[1:]:  # the script, or the module after -m
            if arg == "-c":
                return f"{program} -c"
            if not arg.startswith("-"):
                return Path(arg).name
    return program


def snapshot() -> dict[int, float]:
    """pid -> CPU seconds so far, for every process of the machine."""
    return {int(e.name): cpu_s(int(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit()}


def shares(before: dict[int, float], after: dict[int, float], seconds: float) -> list[tuple[str, float]]:
    """(name#pid, % of one core) of every process that ran between two snapshots `seconds` apart, largest
    first (a process started in between counts from its start)."""
    rows = [(f"{process_name(pid) or '?'}#{pid}", 100 * (spent - before.get(pid, 0.0)) / seconds)
            for pid, spent in after.items()]
    return sorted((r for r in rows if r[1] >= 0.05), key=lambda r: -r[1])
