"""Child processes that do not outlive their parent.

A child (a reader under limits, an import's de-identifier) comes from a fork server, never
from a fork of the asking process and its threads (``forked``; why in ``_children``). A
``reindex --procs`` analyser is forked from the command's single thread and inherits its open
files, including the index writer's lock. If the parent is killed, Linux signals the child
(``prctl(PR_SET_PDEATHSIG)``) so it goes too, and the lock with it.
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
    this process and the ones it starts (the fork server among them). OpenBLAS's fork handler
    stops its thread pool and can wait forever for a pool thread that is finishing another
    thread's multiplication (OpenBLAS issues 2270 and 5520 are of this kind); the forking
    thread holds the GIL meanwhile, so the whole server stopped answering (about 1 crash-test
    run in 7, ``blas_thread_shutdown_`` under ``fork()``). ``serve`` and ``worker`` no longer
    fork themselves (``forked`` asks the fork server), so this is the second guard, for any
    fork that still happens beside their threads: with one BLAS thread the pool never runs a
    call, and there is nothing to wait for. A theme run's multiplications then use one core,
    which a busy server shares anyway."""
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


# What the fork server imports once, so the children it forks start with them loaded. A child
# also runs the top level of its parent's main script again (multiprocessing does, for a
# script's functions to be found): ``research-repo``'s is one import of research_repo.cli, and
# a script that starts children keeps its top level to imports and its work under
# ``if __name__ == "__main__"``.
FORK_SERVER_PRELOAD = ["research_repo.cli", "research_repo.ingest.bounded", "research_repo.ingest.documents",
                       "research_repo.ingest.records", "research_repo.services.ingest.imports"]
_context = None


def _children():
    """Where ``forked`` children come from. On Linux a fork server: one process started clean
    (a new interpreter, by fork and exec, which is safe beside threads) that forks the
    children from its single thread. Forking the server itself, with request threads, a job
    worker and an index writer running, hung in two ways here: OpenBLAS's fork handler
    waiting for a pool thread (see ``single_threaded_blas``), and CPython 3.11's child
    waiting in ``PyOS_AfterFork_Child`` for an interpreter lock another thread held at the
    fork (CPython issue 112275, fixed in 3.12). The fork server ends when this process does."""
    global _context
    if _context is None:
        import multiprocessing

        if sys.platform.startswith("linux"):
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(FORK_SERVER_PRELOAD)
        else:
            context = multiprocessing.get_context("fork")
        _context = context
    return _context


def start_fork_server() -> None:
    """Start the fork server now (``serve``, ``worker``: before their threads), so the first
    upload does not wait for it to load."""
    if _children().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


@contextlib.contextmanager
def forked(target: Callable, *args) -> Iterator[tuple]:
    """Start a child that runs ``target(conn, *args)`` (a module-level function; the
    arguments are pickled to it), answering over ``conn`` (one end of a pipe: nothing goes
    through a file). The child dies with this process and leaves with ``os._exit``, so no
    atexit handler, finalizer or buffered file runs in it; exit code 1 if ``target`` raised.
    Yields ``(child, receiver)``; on leaving, the receiver is closed and a child still
    running is killed, then reaped."""
    ctx = _children()
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_main, args=(target, sender, args), daemon=True)
    child.start()
    sender.close()
    try:
        yield child, receiver
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)


def _child_main(target: Callable, conn, args: tuple) -> None:
    code = 0
    try:
        # Its parent is the fork server, which ends when the process that asked for the child
        # does; a parent already gone (pid 1 adopted it) means that happened before this call.
        parent = os.getppid()
        if parent == 1:
            os._exit(1)
        die_with_parent(parent)
        target(conn, *args)
        conn.close()
    except BaseException:  # noqa: BLE001 - the parent sees the pipe close without an answer
        code = 1
    finally:
        os._exit(code)
