"""Starting a child beside busy threads must not hang the process or the child.

``serve`` starts a reader child per upload from its request threads while its job worker runs
a theme run and threads start and end. Forking the server itself hung in two ways here:
``fork()`` stuck in OpenBLAS's fork handler (``blas_thread_shutdown_``, gdb) with the GIL held,
so the whole server stopped answering (about 1 crash-test run in 7); and a child stuck in
CPython 3.11's ``PyOS_AfterFork_Child`` on an interpreter lock another thread held at the fork
(CPython issue 112275), left behind when the server was killed. Children now come from a
fork server (``proc.forked``), and BLAS runs on one thread (``proc.single_threaded_blas``).

Both hazards are rare per fork: a bare ``os.fork`` loop beside a multiplying thread hung in 2
of 6 runs of 10 s, but the read loop below did not hang in 4 runs of 8 s on the old code. So
the second test checks the structure: the child's parent is not the process that asked."""
from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import faulthandler, json, sys, threading, time
faulthandler.dump_traceback_later(40, exit=True)  # a hang ends with the stacks and exit 1
from research_repo import proc
proc.single_threaded_blas()
proc.start_fork_server()
import numpy as np
from threadpoolctl import threadpool_info
from research_repo.ingest.documents import read_document

blas = [(i["prefix"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
stop = False

def multiply():  # a theme run
    x = np.random.default_rng(0).random((256, 256))
    while not stop:
        x @ x

def churn():  # threads that start and end (a job's heartbeat, a search's time limit)
    while not stop:
        t = threading.Thread(target=time.sleep, args=(0.001,))
        t.start()
        t.join()

for work in (multiply, churn):
    threading.Thread(target=work, daemon=True).start()
reads, start = 0, time.monotonic()
while time.monotonic() - start < 8:
    assert "letter" in read_document("note.txt", b"P1: The letter never came.").text
    reads += 1
stop = True
print(json.dumps({"reads": reads, "blas": blas}))
"""


def test_forking_beside_a_matrix_multiplication_does_not_hang():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the forking process hung or failed:\n{done.stderr[-4000:]}"
    said = json.loads(done.stdout)
    assert said["reads"] > 100, "too few reads to have tested anything"
    assert said["blas"] and all(threads == 1 for _lib, threads in said["blas"]), said["blas"]


def _parent_pid(conn) -> None:
    import os

    conn.send(os.getppid())


def test_children_come_from_the_fork_server_not_from_the_process_that_asks():
    """The structural half of the above: a reader child's parent is the fork server (started
    clean, one thread), so whatever the asking process's threads hold at that moment (an
    interpreter lock, OpenBLAS's pool) is not copied into the child."""
    import os

    from research_repo import proc

    with proc.forked(_parent_pid) as (child, receiver):
        assert receiver.poll(30)
        parent = receiver.recv()
        # Wait for its exit here: leaving the block kills a child that has answered but not
        # yet exited (-9 in 2 of about 4 suite runs on a loaded machine).
        child.join(30)
    assert parent not in (os.getpid(), 1)
    assert child.exitcode == 0
