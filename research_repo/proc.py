"""Child processes that do not outlive their parent.

A forked child (a reader under limits, a ``reindex --procs`` analyser) inherits the parent's
open files, including the index writer's lock. If the parent is killed, Linux can signal the
child (``prctl(PR_SET_PDEATHSIG)``) so it goes too, and the lock with it.
"""
from __future__ import annotations

import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
_registered = False


def die_with_parent(parent: int | None = None) -> None:
    """Call in a forked child: be killed when the thread that forked it ends (Linux only).
    ``parent``: the parent's pid, to catch a parent that died before the call."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def forked_children_die_with_parent() -> None:
    """From now on every ``os.fork`` of this process (multiprocessing's too) makes a child
    that dies with it. For command-line processes that fork from their main thread."""
    global _registered
    if _registered:
        return
    parent = os.getpid()
    os.register_at_fork(after_in_child=lambda: die_with_parent(parent))
    _registered = True
