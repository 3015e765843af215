"""The fork server that starts the local engine's worker processes, started as early as the command line can.

A run with workers forks them from a server process that imports what they need first (`worker_start`; for a run
whose batches take the compiled kernels, `worker_warm`, which loads them): about 0.7 s on a 2-core machine, which
the run used to wait for when it opened its engine. `dedup` on the command line starts the server before it imports
the pipeline (`start_early`), so both import at once; the engine then finds it running. This module imports
nothing of reprints, so that starting the server waits on nothing else.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from multiprocessing.context import BaseContext


def context() -> BaseContext:
    """The context the local engine starts its workers with: a fork server where the platform has one (each worker
    a fork of a process that holds only what workers need), else spawning."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def preload(warm: bool) -> None:
    """Have the fork server (once started) import what workers need: for a `warm` run, the compiled kernels too.
    (A process starts one fork server, with the modules set when it starts it.)"""
    chosen = context()
    if chosen.get_start_method() == "forkserver":
        warm_modules = ["reprints.engines.worker_warm"] if warm else []
        chosen.set_forkserver_preload(["reprints.engines.worker_start", *warm_modules])


def start_early(warm: bool) -> None:
    """Start the fork server now, in the background (the call returns at once: the server imports while this
    process goes on), for an engine of a `warm` run or not opened later (`LocalEngine`)."""
    preload(warm)
    if context().get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()
