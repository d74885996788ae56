"""Child processes that do not outlive their parent.

A forked child (a reader under limits, an import's de-identifier, a ``reindex --procs``
analyser) inherits the parent's open files, including the index writer's lock. If the parent
is killed, Linux can signal the child (``prctl(PR_SET_PDEATHSIG)``) so it goes too, and the
lock with it. ``forked`` is the one way this project forks a worker of its own.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator

_PR_SET_PDEATHSIG = 1
_registered = False


def single_threaded_blas() -> None:
    """Linear algebra (OpenBLAS, under numpy and scipy) runs on its calling thread only, in
    this process and the ones it starts. For a process that forks while its other threads
    work, as ``serve`` and ``worker`` do (a reader child per upload, beside a theme run):
    OpenBLAS's fork handler stops its thread pool and can wait forever for a pool thread that
    is finishing another thread's multiplication (OpenBLAS issues 2270 and 5520 are of this
    kind). The forking thread holds the GIL meanwhile, so the whole server stops answering:
    seen here about 1 crash-test run in 7, with the stack in ``blas_thread_shutdown_`` under
    ``fork()``. With one BLAS thread the pool never runs a call, and there is nothing to wait
    for. A theme run's multiplications then use one core, which a busy server shares anyway."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # any OpenBLAS loaded from now on starts so
    import importlib

    from threadpoolctl import threadpool_limits

    for module in ("numpy", "scipy.linalg"):  # load both OpenBLAS copies now, so the limit reaches them
        importlib.import_module(module)

    threadpool_limits(limits=1, user_api="blas")


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


@contextlib.contextmanager
def forked(target: Callable, *args) -> Iterator[tuple]:
    """Fork a child that runs ``target(conn, *args)``, answering over ``conn`` (one end of a
    pipe: nothing goes through a file). The child dies with this process and leaves with
    ``os._exit``, so none of the parent's atexit handlers, finalizers or buffered files run in
    it; exit code 1 if ``target`` raised. Yields ``(child, receiver)``; on leaving, the
    receiver is closed and a child still running is killed, then reaped."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_main, args=(target, sender, os.getpid(), args), daemon=True)
    child.start()
    sender.close()
    try:
        yield child, receiver
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)


def _child_main(target: Callable, conn, parent: int, args: tuple) -> None:
    code = 0
    try:
        die_with_parent(parent)
        target(conn, *args)
        conn.close()
    except BaseException:  # noqa: BLE001 - the parent sees the pipe close without an answer
        code = 1
    finally:
        os._exit(code)
