"""A process that forks while another of its threads multiplies matrices must not hang.

``serve`` forks a reader child per upload from its request threads while its job worker runs a
theme run. OpenBLAS's fork handler stops its thread pool, and can wait forever for a pool
thread that is finishing the other thread's multiplication; the forking thread holds the GIL
all that time, so the whole server stopped answering (about 1 crash-test run in 7, with
``blas_thread_shutdown_`` under ``fork()`` in gdb). ``proc.single_threaded_blas`` is what
``serve`` and ``worker`` call first.

The hammer below (one thread multiplying 256 x 256 matrices, the other forking through
``proc.forked`` for 8 s) hung in 2 of 6 runs with raw ``os.fork`` and no limit on this
machine; a hang is a failure, because the child ends itself after 40 s with every stack."""
from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import faulthandler, json, sys, threading, time
faulthandler.dump_traceback_later(40, exit=True)  # a hang ends with the stacks and exit 1
from research_repo import proc
proc.single_threaded_blas()
import numpy as np
from threadpoolctl import threadpool_info

blas = [(i["prefix"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
stop = False

def multiply():
    x = np.random.default_rng(0).random((256, 256))
    while not stop:
        x @ x

def answer(conn):
    conn.send(1)

threading.Thread(target=multiply, daemon=True).start()
forks, start = 0, time.monotonic()
while time.monotonic() - start < 8:
    with proc.forked(answer) as (child, receiver):
        assert receiver.poll(10) and receiver.recv() == 1
    forks += 1
stop = True
print(json.dumps({"forks": forks, "blas": blas}))
"""


def test_forking_beside_a_matrix_multiplication_does_not_hang():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the forking process hung or failed:\n{done.stderr[-4000:]}"
    said = json.loads(done.stdout)
    assert said["forks"] > 100, "too few forks to have tested anything"
    assert said["blas"] and all(threads == 1 for _lib, threads in said["blas"]), said["blas"]
