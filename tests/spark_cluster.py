"""A Spark standalone cluster on this machine, for the Spark engine's tests and benchmark: a master and a worker
started with PySpark's own `spark-class` (no Spark download), each a JVM of its own, the worker's executors
launched by it. The cluster manager, the executors' JVMs and the shipping of tasks over the network are the real
ones; only the machines are one."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(log: Path, line: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if line in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the Spark {log.stem} did not start: no {line!r} in {log.name}:\n{tail}")


@contextlib.contextmanager
def standalone_cluster(folder: Path, cores: int = 2, memory: str = "2g") -> Iterator[str]:
    """A master and one worker of `cores` cores and `memory` for executors, logging to `folder`; yields the
    master URL (`spark://127.0.0.1:PORT`). Both are stopped at the end, with the executors they started."""
    import pyspark

    home = Path(pyspark.__file__).parent
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    url = f"spark://127.0.0.1:{_free_port()}"
    daemons = {
        "master": ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1]],
        "worker": ["org.apache.spark.deploy.worker.Worker", url, "--cores", str(cores), "--memory", memory],
    }
    ready = {"master": "I have been elected leader", "worker": "Successfully registered with master"}
    started: list[subprocess.Popen[bytes]] = []
    try:
        for name, arguments in daemons.items():
            log = folder / f"{name}.log"
            with log.open("wb") as output:
                started.append(
                    subprocess.Popen(
                        [str(home / "bin" / "spark-class"), *arguments, "--webui-port", str(_free_port())],
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        env={**env, "SPARK_WORKER_DIR": str(folder / "worker")},
                        start_new_session=True,  # its executors too are stopped with its process group
                    )
                )
            _wait_for(log, ready[name], started[-1])
        yield url
    finally:
        for process in reversed(started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
