"""Reading untrusted files in bounded time and memory, with the reader's own error for anything.

Every file a person uploads is parsed by ``run``: in a child process started for that file
(``proc.forked``: forked by a fork server, with the file's bytes sent to it over a pipe),
under a CPU time limit and an address-space limit of what the process already maps plus the
allowance (``resource.setrlimit``; memory the parent freed but still maps is usable too, so
the allowance is a floor), and a wall-clock deadline after which it is killed. The child
(``proc.forked``) runs only the reader, sends its result back and exits without cleanup. A file
that needs more (a PDF with a CMap bomb, a workbook declaring a million columns, JSON with
ten million records) is refused with a message that says so; the app process is never the
one that runs out. The parsed text comes back over a pipe, in memory only: nothing is
written to a temporary file.

Whatever a parser raises on a damaged file (a ``KeyError`` deep in a workbook, a
``RecursionError`` on JSON nested a thousand deep, a ``ValueError`` on an integer of 5,000
digits) becomes ``UnreadableFile`` naming the file, so a caller only ever sees a result or
that error. Only the exception's type is logged: messages can quote the file.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from ..proc import forked
from .errors import UnreadableFile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """What one file may take to read. ``isolate=False`` reads in this process (still with
    every exception turned into ``UnreadableFile``), for platforms without ``fork``."""

    cpu_seconds: int = 30
    memory_mb: int = 1024
    wall_seconds: float = 60.0
    isolate: bool = True


_limits = Limits()
_peak_child_kb = 0


def configure(limits: Limits) -> None:
    global _limits
    _limits = limits


def current() -> Limits:
    return _limits


def guarded(name: str, what: str, fn: Callable, *args, **kwargs):
    """``fn(*args)`` with any failure other than ``UnreadableFile`` reported as one."""
    try:
        return fn(*args, **kwargs)
    except UnreadableFile:
        raise
    except RecursionError:
        raise UnreadableFile(name, f"is nested too deeply to read as {what}.") from None
    except MemoryError:
        raise UnreadableFile(name, f"needs more than {_limits.memory_mb} MB of memory to read; split it into "
                             "smaller files.", status=413) from None
    except Exception as exc:  # noqa: BLE001 - a parser's failure on a damaged file is a file problem
        log.warning("reader for %s failed: %s", what, type(exc).__name__)
        raise UnreadableFile(name, f"could not be read as {what} ({type(exc).__name__}): it may be damaged. "
                             "Save or export it again and upload the new file.") from None


def _mapped_bytes() -> int:
    """This process's virtual size (what a fork starts with), from /proc; 0 where unknown."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _read_in_child(conn, limits: Limits, name: str, what: str, fn: Callable, args: tuple, kwargs: dict) -> None:
    import resource

    configure(limits)  # the child comes from the fork server, not from the configured process
    cpu = max(1, int(limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    memory = _mapped_bytes() + int(limits.memory_mb) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        result = ("ok", guarded(name, what, fn, *args, **kwargs))
    except UnreadableFile as exc:
        result = ("refused", exc.problem, exc.status)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        conn.send((result, peak_kb))
    except MemoryError:
        conn.send((("refused", f"needs more than {limits.memory_mb} MB of memory to read; split it into "
                    "smaller files.", 413), peak_kb))


def run(name: str, what: str, fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)`` (a module-level reader) within the configured limits."""
    limits = _limits
    if not limits.isolate or os.name != "posix":
        return guarded(name, what, fn, *args, **kwargs)
    with forked(_read_in_child, limits, name, what, fn, args, kwargs) as (child, receiver):
        if receiver.poll(limits.wall_seconds):
            try:
                result = receiver.recv()
            except EOFError:
                result = None  # the child died before it answered
        else:
            result = "timeout"
    if result == "timeout":
        raise UnreadableFile(name, f"took more than {limits.wall_seconds:g} s to read; it may be damaged, or too "
                             "large: split it into smaller files.", status=413)
    if result is None:
        log.warning("reader for %s ended with exit code %s", what, child.exitcode)
        raise UnreadableFile(name, f"needs more than {limits.cpu_seconds} s of processing or {limits.memory_mb} MB "
                             "of memory to read; it may be damaged, or too large: split it into smaller files.",
                             status=413)
    global _peak_child_kb
    result, peak_kb = result
    _peak_child_kb = max(_peak_child_kb, peak_kb)
    if result[0] == "refused":
        raise UnreadableFile(name, result[1], status=result[2])
    return result[1]


def peak_child_mb() -> float:
    """The largest peak memory (max RSS) a reader child of this process reported, in MB;
    pages it shares with the fork server count. The children are the fork server's, so the
    operating system's count of this process's children does not see them."""
    return _peak_child_kb / 1024
