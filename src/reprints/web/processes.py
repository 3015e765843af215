"""Serving from several processes: one listening socket, shared by forked server processes.

A query is CPU-bound Python (tokenizing, fingerprinting and aligning the query with its candidates), so one
process answers one query at a time whatever its threads. `serve` binds the socket once, then forks `workers`
processes that each build their own application (their own connections to the index: an SQLite connection
must not cross a fork) and accept connections from that socket; the kernel hands each new connection to one of
them. The parent only watches: it starts a process again if one dies, and stops them all on SIGINT or SIGTERM;
a server process whose parent is killed outright stops by itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from reprints.errors import ReprintsError

log = logging.getLogger(__name__)

QUICK_DEATHS = 5  # processes dying this soon after starting, in a row, stop the server: it cannot start
QUICK = 2.0  # seconds
WATCH_SECONDS = 0.5  # how often a server process checks that its supervisor is still there


def serve(
    factory: Callable[[], Any],
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str = "warning",
    listening: Callable[[int], None] | None = None,
) -> None:
    """Serve the ASGI application `factory()` makes on `host:port` with uvicorn, from `workers` processes;
    `listening` is told the port once the socket listens (the one the system chose for port 0)."""

    if workers < 1:
        raise ReprintsError(f"--workers must be at least 1 (got {workers})")
    if workers > 1 and not hasattr(os, "fork"):
        raise ReprintsError("serving from several processes needs fork (POSIX); use --workers 1 here")
    listener = _listening_socket(host, port)  # a port taken or out of range is one error line, either way
    if listening is not None:
        listening(int(listener.getsockname()[1]))
    if workers == 1:
        _serve_on(factory, listener, log_level)
        return
    Supervisor(factory, listener, workers, log_level).run()


def _serve_on(factory: Callable[[], Any], listener: socket.socket, log_level: str) -> None:
    """Run uvicorn with the application `factory()` makes, accepting from `listener`."""
    import uvicorn

    uvicorn.Server(uvicorn.Config(factory(), log_level=log_level)).run(sockets=[listener])


def _listening_socket(host: str, port: int) -> socket.socket:
    """The socket every server process accepts from. Made with the protocol named (IPPROTO_TCP): asyncio sets
    TCP_NODELAY only on connections of such sockets, and without it a response waits for the client's delayed
    acknowledgement (40 ms here) whenever it is written in more than one piece."""
    if not 0 <= port <= 65535:
        raise ReprintsError(f"--port must be from 0 to 65535 (got {port})")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host.strip("[]"), port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        raise ReprintsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    listener.set_inheritable(True)
    return listener


class Supervisor:
    """Forks the server processes and keeps `workers` of them running until told to stop."""

    def __init__(self, factory: Callable[[], Any], listener: socket.socket, workers: int, log_level: str) -> None:
        self.factory = factory
        self.listener = listener
        self.workers = workers
        self.log_level = log_level
        self.children: dict[int, float] = {}  # pid -> when it started
        self.stopping = False

    def run(self) -> None:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        quick_deaths = 0
        try:
            for _ in range(self.workers):
                self._start()
            while self.children:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                started = self.children.pop(pid, None)
                if started is None or self.stopping:
                    continue
                quick_deaths = quick_deaths + 1 if time.monotonic() - started < QUICK else 0
                if quick_deaths >= QUICK_DEATHS:
                    self._stop(signal.SIGTERM, None)
                    raise ReprintsError(
                        f"server processes keep dying as they start (last: {_ended(status)}); see the errors above"
                    )
                log.warning("a server process ended (%s); starting another", _ended(status))
                self._start()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.listener.close()

    def _start(self) -> None:
        """Fork a server process. SIGINT and SIGTERM are blocked across the fork: a signal reaching the new
        process before it drops the supervisor's handler ran that handler there (it stopped the other server
        processes and went on serving, so the supervisor waited for it forever); blocked, it waits until the
        process has the default handling, and one reaching the supervisor waits until the new process is
        known, so it is stopped too."""
        parent = os.getpid()
        stops = {signal.SIGINT, signal.SIGTERM}
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        try:
            if self.stopping:  # told to stop since the caller decided to start one: a new one would never be
                return  # told (found in review)
            pid = os.fork()
            if pid == 0:  # the child: serve until told to stop, then leave without the parent's clean-up
                code = 1
                try:
                    for sig in stops:
                        signal.signal(sig, signal.SIG_DFL)
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                    _stop_when_gone(parent)
                    self._serve()
                    code = 0
                except BaseException as exc:
                    log.error("server process %d: %s", os.getpid(), exc)
                finally:
                    os._exit(code)
            self.children[pid] = time.monotonic()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def _serve(self) -> None:
        _serve_on(self.factory, self.listener, self.log_level)

    def _stop(self, signum: int, frame: Any) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):  # ended already
                os.kill(pid, signal.SIGTERM)


def _stop_when_gone(parent: int) -> None:
    """In a server process: stop (SIGTERM to itself, which uvicorn answers by shutting down) once the supervisor
    is gone, killed outright, so that no server is left serving without it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def _ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
