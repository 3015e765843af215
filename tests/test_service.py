"""The HTTP service on a real uvicorn server: API, token, size limit, errors, concurrent adds and queries."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from conftest import news_texts, run_cli, small_disk
from reprints.errors import InputError
from reprints.index.api import open_index
from reprints.web import LOCAL_HOSTS
from reprints.web.app import create_app
from reprints.web.processes import Supervisor
from reprints.web.run import FinishedRun

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ARTICLE = EXAMPLES / "000_e2f354f9623a9739.txt"
PAGE = EXAMPLES / "001_d325479854c835f8.txt"
NEWS = EXAMPLES / "news" / "docs.jsonl"


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run `app` on a real uvicorn server on a free local port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def call(
    url: str,
    method: str = "GET",
    body: Any = None,
    raw: bytes | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """(status, parsed JSON body) of one request."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def index_app(tmp_path: Path) -> Iterator[Any]:
    with open_index(tmp_path / "index", create=True) as store:
        yield store


def _docs(n: int, prefix: str) -> list[dict[str, str]]:
    texts = [json.loads(line)["text"] for line in NEWS.read_text(encoding="utf-8").splitlines()]
    return [{"id": f"{prefix}{i}", "text": texts[i % len(texts)], "source": "news"} for i in range(n)]


def test_api_adds_finds_compares_and_removes_documents(index_app: Any) -> None:
    with serving(create_app(store=index_app)) as base:
        article, page = ARTICLE.read_text(encoding="utf-8"), PAGE.read_text(encoding="utf-8")
        status, body = call(base + "/documents", "POST", [{"id": "page", "text": page, "url": "https://x.org/1"}])
        assert status == 201 and body["added"] == 1
        status, body = call(base + "/documents", "POST", {"id": "article", "text": article})
        assert status == 201
        status, body = call(base + "/query", "POST", {"text": article, "id": "article"})
        assert status == 200
        [match] = body["matches"]
        assert (match["id"], match["relation"], match["container"]) == ("page", "contained", "stored")
        assert page[match["spans"][0][2] :].startswith("Trump has Putin trapped")
        status, body = call(base + "/compare?a=article&b=page")
        assert status == 200 and body["pair"]["relation"] == "contained" and body["pair"]["container"] == "b"
        assert body["b"]["text"] == page
        status, body = call(base + "/documents/page")
        assert status == 200 and body["text"] == page and body["url"] == "https://x.org/1"
        assert call(base + "/documents/page", "DELETE")[0] == 200
        assert call(base + "/documents/page")[0] == 404
        assert call(base + "/query", "POST", {"text": article, "id": "article"})[1] == {"matches": []}
        status, body = call(base + "/health")
        assert status == 200 and body["documents"] == 1
        status, body = call(base + "/openapi.json")
        assert status == 200 and {"/documents", "/query", "/compare", "/health"} <= set(body["paths"])


def test_bad_requests_get_json_errors(index_app: Any) -> None:
    with serving(create_app(store=index_app, max_body=10_000)) as base:
        status, body = call(base + "/query", "POST", raw=b'{"text": "unfinished')
        assert status == 400 and "not JSON" in body["error"]
        status, body = call(base + "/query", "POST", {"texts": "x"})
        assert status == 400 and "'text'" in body["error"]
        assert call(base + "/query", "POST", {"text": "x", "limit": 0})[0] == 400
        status, body = call(base + "/documents", "POST", [{"id": "", "text": "x"}])
        assert status == 400 and "'id'" in body["error"]
        status, body = call(base + "/documents/nobody")
        assert status == 404 and "nobody" in body["error"]
        assert call(base + "/documents/nobody", "DELETE")[0] == 404
        assert call(base + "/compare?a=nobody&b=nothing")[0] == 404
        assert call(base + "/compare?a=x")[0] == 400
        status, body = call(base + "/documents", "POST", {"id": "big", "text": "word " * 5000})
        assert status == 413 and "over 10,000 bytes" in body["error"]
        assert call(base + "/health")[1]["documents"] == 0


def test_a_token_guards_the_api_but_not_the_pages(index_app: Any) -> None:
    with serving(create_app(store=index_app, token="s3cret")) as base:
        status, body = call(base + "/query", "POST", {"text": "anything"})
        assert status == 401 and "Bearer" in body["error"]
        for path, method in (("/documents/x", "GET"), ("/documents/x", "DELETE"), ("/compare?a=x&b=y", "GET")):
            assert call(base + path, method)[0] == 401, path
        assert call(base + "/documents", "POST", {"id": "x", "text": "y"})[0] == 401
        assert call(base + "/documents/x", token="s3cret")[0] == 404
        assert call(base + "/query", "POST", {"text": "anything"}, token="wrong")[0] == 401
        assert call(base + "/query", "POST", {"text": "anything"}, token="s3cret") == (200, {"matches": []})
        assert call(base + "/health")[0] == 200
        with urllib.request.urlopen(base + "/", timeout=30) as response:
            assert response.status == 200 and b"<form" in response.read()


def test_regression_the_api_link_of_a_guarded_server_opens(index_app: Any) -> None:
    """The query page links to /openapi.json ("API"), which answered 401 on a server with a token: a browser
    following a link sends no token. The API's description holds no document and is public, as the pages are."""
    with serving(create_app(store=index_app, token="s3cret")) as base:
        with urllib.request.urlopen(base + "/", timeout=30) as response:
            assert b'href="/openapi.json"' in response.read()
        status, body = call(base + "/openapi.json")
        assert status == 200 and "/query" in body["paths"]
        assert call(base + "/documents?id=x")[0] == 401


def test_serving_beyond_localhost_needs_a_token(tmp_path: Path) -> None:
    run_cli("index", "add", "--index", tmp_path / "index", ARTICLE)
    refused = run_cli("serve", "--index", tmp_path / "index", "--host", "0.0.0.0", check=False)
    assert refused.returncode == 2 and "give a --token" in refused.stderr
    assert f"exposes the index {tmp_path / 'index'} beyond" in refused.stderr  # (said "the the index")


def test_queries_answered_in_the_event_loop_or_in_a_thread_alike(
    index_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An article-sized query is answered in the server's event loop, a longer one in a thread: both give what
    `query` gives."""
    from reprints.index.query import query
    from reprints.web import app as module

    where: list[str] = []

    def recorded(*args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
            where.append("event loop")
        except RuntimeError:
            where.append("thread")
        return query(*args, **kwargs)

    monkeypatch.setattr(module, "query", recorded)
    article, page = ARTICLE.read_text(encoding="utf-8"), PAGE.read_text(encoding="utf-8")
    with serving(create_app(store=index_app)) as base:
        call(base + "/documents", "POST", [{"id": "page", "text": page}, *_docs(6, "n")])
        expected = {"matches": [m.to_dict() for m in query(index_app, article)]}
        assert expected["matches"] and len(article) <= module.INLINE_QUERY_CHARS
        answers = []
        for inline in (module.INLINE_QUERY_CHARS, 0):
            monkeypatch.setattr(module, "INLINE_QUERY_CHARS", inline)
            answers.append(call(base + "/query", "POST", {"text": article}))
    assert answers == [(200, expected), (200, expected)]
    assert where == ["event loop", "thread"]


def test_concurrent_adds_and_queries(index_app: Any) -> None:
    """Writers and readers at once: every add is acknowledged and stored, every query answers."""
    article = ARTICLE.read_text(encoding="utf-8")
    with serving(create_app(store=index_app)) as base:
        call(base + "/documents", "POST", {"id": "article", "text": article})

        def writer(n: int) -> int:
            return call(base + "/documents", "POST", _docs(5, f"w{n}-"))[0]

        def reader(_: int) -> Any:
            status, body = call(base + "/query", "POST", {"text": article, "limit": 3})
            return status, [m["id"] for m in body["matches"]][:1]

        with ThreadPoolExecutor(8) as pool:
            writes = [pool.submit(writer, n) for n in range(6)]
            reads = [pool.submit(reader, n) for n in range(24)]
            assert [w.result() for w in writes] == [201] * 6
            assert all(r.result() == (200, ["article"]) for r in reads)
        assert call(base + "/health")[1]["documents"] == 31


def seed_run(tmp_path: Path) -> Path:
    """The seed pair deduplicated by the CLI; returns the --out folder."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for path in (ARTICLE, PAGE):
        (seeds / path.name).write_bytes(path.read_bytes())
    run_cli("dedup", "-q", seeds, "--out", tmp_path / "out")
    return tmp_path / "out"


def test_view_serves_a_finished_run(tmp_path: Path) -> None:
    seed_run(tmp_path)
    with serving(create_app(run=FinishedRun(tmp_path / "out"))) as base:
        status, body = call(base + "/run")
        assert status == 200 and body["summary"]["decisions"] == {"drop": 0, "keep": 1, "trim": 1}
        status, body = call(base + f"/compare?a={PAGE.name}&b={ARTICLE.name}")
        pair = body["pair"]
        assert pair["relation"] == "contained" and pair["container"] == "a"
        assert body["a"]["text"][pair["spans"][0][0] :].startswith("Trump has Putin trapped")
        status, body = call(base + f"/documents/{PAGE.name}")
        assert body["decision"]["decision"] == "trim" and body["related"][0]["id"] == ARTICLE.name
        assert call(base + "/run/documents?offset=0&limit=1")[1]["total"] == 2
        assert call(base + "/query", "POST", {"text": "x"})[0] == 404


def test_regression_view_refuses_inputs_changed_since_the_run(tmp_path: Path) -> None:
    """`reprints view` read the run's inputs back without checking them: an input edited since the run (same
    length: every span still in range) was shown with the run's offsets, highlighting other text as shared. The
    texts read back are now checked against the reading pass' checksums that `summary.json` records: an input
    changed, grown or given in another order is one error line and no server; the same inputs moved and given
    again are served."""
    out = seed_run(tmp_path)
    seeds = tmp_path / "seeds"
    moved = tmp_path / "moved"
    seeds.rename(moved)
    assert FinishedRun(out, [moved]).texts[ARTICLE.name] == ARTICLE.read_text(encoding="utf-8")
    for change in ("edited", "grown", "reordered"):
        seeds.mkdir()
        for path in (ARTICLE, PAGE):
            (seeds / path.name).write_bytes(path.read_bytes())
        inputs = [seeds]
        if change == "edited":
            page = seeds / PAGE.name
            text = page.read_text(encoding="utf-8")
            assert "Putin" in text
            page.write_text(text.replace("Putin", "Petin"), encoding="utf-8")
        elif change == "grown":
            (seeds / "zz-another.txt").write_text("one more document than the run read", encoding="utf-8")
        else:
            inputs = [seeds / PAGE.name, seeds / ARTICLE.name]
        result = subprocess.run(
            [sys.executable, "-m", "reprints", "view", str(out), *map(str, inputs), "--port", str(_free_port())],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1 and "Traceback" not in result.stderr, (change, result.stderr)
        refusal = "given in another order" if change == "reordered" else "not what the run in"
        assert result.stderr.startswith(f"reprints: error: the inputs are {refusal}"), result.stderr
        shutil.rmtree(seeds)


def test_cross_site_requests_are_refused(index_app: Any) -> None:
    """A page elsewhere can post text/plain to a local server without the browser asking, or point its own name
    at this machine: JSON bodies are required, and a local server answers only to local host names."""
    with serving(create_app(store=index_app, hosts=LOCAL_HOSTS)) as base:
        status, body = call(
            base + "/documents", "POST", raw=b'{"id": "x", "text": "y"}', headers={"Content-Type": "text/plain"}
        )
        assert status == 415 and "application/json" in body["error"]
        status, body = call(base + "/health", headers={"Host": "attacker.example:8000"})
        assert status == 403
        assert call(base + "/health", headers={"Host": "localhost:8000"})[0] == 200
        assert call(base + "/health")[1]["documents"] == 0


def test_what_json_and_sqlite_disagree_on_is_a_clear_error_or_kept(index_app: Any, tmp_path: Path) -> None:
    """An unpaired surrogate (JSON allows it, UTF-8 does not) is a 400 and stores nothing of the request;
    NaN in a record's fields (JSON Lines input may hold it) is kept as text, as the outputs write it, and served
    as JSON."""
    with serving(create_app(store=index_app)) as base:
        status, body = call(
            base + "/documents", "POST", raw=b'[{"id": "ok", "text": "fine"}, {"id": "bad", "text": "\\ud800"}]'
        )
        assert status == 400 and "surrogate" in body["error"]
        assert call(base + "/documents/ok")[0] == 404
    records = tmp_path / "nan.jsonl"
    records.write_text('{"id": "n", "text": "a text", "score": NaN, "text2": "x"}\n', encoding="utf-8")
    run_cli("index", "add", "--index", tmp_path / "nan-index", records)
    with open_index(tmp_path / "nan-index") as store, serving(create_app(store=store)) as base:
        status, body = call(base + "/documents/n")
        assert status == 200 and body["score"] == "NaN" and body["text"] == "a text"


def test_view_reads_a_run_written_as_parquet(tmp_path: Path) -> None:
    """Removed spans are structs in Parquet; the pages get them as documents.jsonl has them."""
    run_cli("dedup", "-q", NEWS, "--out", tmp_path / "out", "--format", "parquet")
    jsonl = tmp_path / "jsonl"
    run_cli("dedup", "-q", NEWS, "--out", jsonl)
    finished = FinishedRun(tmp_path / "out")
    expected = [json.loads(line) for line in (jsonl / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert any(row["removed"] for row in expected)
    for row in expected:
        assert finished.documents[row["id"]]["removed"] == row["removed"], row["id"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc (Linux)")
@pytest.mark.parametrize("mapped", [None, "64"])
def test_several_server_processes_share_the_port_and_the_index(tmp_path: Path, mapped: str | None) -> None:
    """`reprints serve --workers 2`: two processes answer on one port from one index (a document added through one
    is found through the other), each mapping its file when `--mapped-mb` asks (by default neither does), a process
    killed is replaced, and SIGTERM stops them all."""
    index = tmp_path / "index"
    run_cli("index", "add", "--index", index, NEWS)
    port = _free_port()
    command = [sys.executable, "-m", "reprints", "serve", "--index", str(index), "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        [*command, *([] if mapped is None else ["--mapped-mb", mapped])],
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if call(base + "/health")[0] == 200:
                    break
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        children = _children(server.pid)
        assert len(children) == 2
        # With `--mapped-mb`, each process reads the index through a mapping of its file (its -shm file is mapped
        # in any case). A process maps it once it has opened the index: one may still be starting when the other
        # answers /health.
        database = str((index / "index.sqlite").resolve())

        def mapping(pid: int) -> bool:
            return any(line.endswith(" " + database) for line in Path(f"/proc/{pid}/maps").read_text().splitlines())

        deadline = time.monotonic() + 60
        while mapped is not None and not all(mapping(pid) for pid in children):
            assert time.monotonic() < deadline, "a server process does not map the index file"
            time.sleep(0.1)
        article = ARTICLE.read_text(encoding="utf-8")
        assert call(base + "/documents", "POST", {"id": "article", "text": article})[0] == 201
        with ThreadPoolExecutor(8) as pool:  # enough at once that both processes answer
            answers = list(pool.map(lambda _: call(base + "/query", "POST", {"text": article}), range(32)))
        assert all(status == 200 and body["matches"][0]["id"] == "article" for status, body in answers)
        assert all(mapping(pid) == (mapped is not None) for pid in children)
        os.kill(children[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(_children(server.pid)) < 2 or children[0] in _children(server.pid):
            assert time.monotonic() < deadline, "the killed process was not replaced"
            time.sleep(0.1)
        assert call(base + "/health")[1]["documents"] == 301
        serving_now = _children(server.pid)
        server.terminate()
        assert server.wait(30) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in serving_now)
        assert "ended (killed by signal 9); starting another" in (server.stderr.read() if server.stderr else "")
    finally:
        server.kill()
        server.wait(10)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def test_regression_server_processes_answer_without_waiting_for_acknowledgements() -> None:
    """Regression: the socket shared by `serve --workers N` was made without naming its protocol, so asyncio did
    not set TCP_NODELAY on its connections and each answer waited for the client's delayed acknowledgement
    (one client's p50 went from 12 to 52 ms). Connections accepted from it by asyncio have TCP_NODELAY."""
    import asyncio

    from reprints.web.processes import _listening_socket

    listener = _listening_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]

    async def accepted_nodelay() -> int:
        loop = asyncio.get_running_loop()
        seen: asyncio.Future[int] = loop.create_future()

        class Seen(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                option = transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                if not seen.done():
                    seen.set_result(option)

        server = await loop.create_server(Seen, sock=listener)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(accepted_nodelay()) != 0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc (Linux)")
def test_regression_server_processes_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    """Regression: `serve --workers 2` killed outright (SIGKILL, which it cannot forward) left its server
    processes serving on the port with nothing to stop them; they now stop by themselves."""
    index = tmp_path / "index"
    run_cli("index", "add", "--index", index, ARTICLE)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "reprints", "serve", "--index", str(index), "--port", str(port), "--workers", "2"],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_children(server.pid)) < 2:
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        children = _children(server.pid)
    finally:
        server.kill()
        server.wait(10)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in children):
        assert time.monotonic() < deadline, "server processes outlived their supervisor"
        time.sleep(0.1)


def _state(pid: int) -> str:
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return ""


SIGNALLED_AT_FORK = textwrap.dedent(
    """
    import os, signal, socket, time
    from reprints.web import processes
    supervisor = processes.Supervisor(lambda: None, socket.socket(), 1, "warning")
    supervisor._serve = lambda: time.sleep(3)  # a server process that serves 3 s, then ends normally
    signal.signal(signal.SIGTERM, supervisor._stop)  # as while the supervisor runs
    fork = os.fork

    def fork_then_stop():  # SIGTERM the new process at once, as `_stop` does when it arrives right then
        pid = fork()
        if pid:
            os.kill(pid, signal.SIGTERM)
        return pid

    os.fork = fork_then_stop
    supervisor._start()
    _, status = os.waitpid(next(iter(supervisor.children)), 0)
    print(os.WTERMSIG(status) if os.WIFSIGNALED(status) else "served on")
    """
)


def test_regression_a_server_process_stopped_as_it_starts_stops(tmp_path: Path) -> None:
    """Found when the suite ran on a loaded machine: SIGTERM to `serve --workers 2` just after it replaced a
    killed server process never ended it. The new process got the supervisor's SIGTERM before it had dropped the
    supervisor's handler, ran that handler (stopping its sibling) and went on serving, and the supervisor waited
    for it forever. Signals are now blocked across the fork: the new process ends on a SIGTERM however early."""
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", SIGNALLED_AT_FORK], capture_output=True, text=True, timeout=60)
        assert result.stdout.split() == [str(int(signal.SIGTERM))], result.stdout + result.stderr


def test_regression_a_stopping_supervisor_starts_no_server_process() -> None:
    """Found in review: a SIGTERM handled between two starts (the first of three, or while logging a restart)
    set `stopping`, and the next start forked a server process no one would stop. A stopping supervisor now
    starts none, and a start leaves the signal mask as it found it."""
    supervisor = Supervisor(lambda: None, socket.socket(), 3, "warning")
    supervisor.stopping = True
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    supervisor._start()
    assert supervisor.children == {}
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
    supervisor.listener.close()


def test_regression_json_python_cannot_read_is_a_400_not_a_500(index_app: Any) -> None:
    """A body nested deeper than Python's stack, or holding an integer of thousands of digits, is valid JSON that
    Python's parser refuses with RecursionError or ValueError: the server answered 500 with a traceback in its
    log. It is the client's input: a 400 saying why."""
    with serving(create_app(store=index_app)) as base:
        for raw, kind in (
            (b'{"text": "x", "n": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "RecursionError"),
            (b'{"text": "x", "n": ' + b"9" * 5000 + b"}", "ValueError"),
        ):
            for path in ("/documents", "/query"):
                status, body = call(base + path, "POST", raw=raw)
                assert status == 400 and kind in body["error"], (path, status, body)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_regression_a_port_out_of_range_or_taken_is_one_error_line(tmp_path: Path, workers: str) -> None:
    """`serve --port 70000` announced port 70000 and listened on 4464 (70000 - 65536) with one process, and gave
    an OverflowError traceback with two; a port taken gave uvicorn's own message and exit 3 with one process. Each
    is now a `reprints: error:` line and exit 1 (or click's usage error, exit 2, for a number out of range)."""
    index = tmp_path / "index"
    open_index(index, create=True).close()

    def serve(port: str) -> subprocess.CompletedProcess[str]:  # (a server that starts would time the test out)
        command = [sys.executable, "-m", "reprints", "serve", "--index", str(index), "--port", port]
        return subprocess.run([*command, "--workers", workers], capture_output=True, text=True, timeout=60)

    wrong = serve("70000")
    assert wrong.returncode == 2 and "70000 is not in the range" in wrong.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = serve(str(port))
    assert busy.returncode == 1 and f"reprints: error: cannot listen on 127.0.0.1:{port}" in busy.stderr
    assert "Traceback" not in busy.stderr
    assert busy.stderr.startswith("reprints: error:"), busy.stderr  # not "serving on" first: it never served


def test_regression_serve_says_where_it_serves_once_it_listens(tmp_path: Path) -> None:
    """`serve` said "serving on" before it tried the port (a port taken then printed it, then the error); it now
    says it once the socket listens, with the port the system chose for `--port 0`. Regression too: `--token` was
    taken on the command line only, where every user of the machine sees it (`ps`); it can come from
    REPRINTS_TOKEN, and guards the API as `--token` does."""
    index = tmp_path / "index"
    open_index(index, create=True).close()
    server = subprocess.Popen(
        [sys.executable, "-m", "reprints", "serve", "--index", str(index), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "REPRINTS_TOKEN": "s3cret"},
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        assert line.startswith("reprints: serving the index") and ":0/" not in line, line
        base = line.split(" on ", 1)[1].split("/ ", 1)[0]
        deadline = time.monotonic() + 30
        while True:
            try:
                assert call(base + "/health")[0] == 200
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.1)
        assert call(base + "/documents/x")[0] == 401
        assert call(base + "/documents/x", token="s3cret")[0] == 404
    finally:
        server.terminate()
        server.wait(30)


def test_regression_errors_of_routing_and_paging_are_json(tmp_path: Path) -> None:
    """A path the server has no route for, or a method a path does not take, was answered in plain text (README:
    errors are JSON); `/run/documents?offset=-1` counted from the end, `limit=-5` answered one row. Now each is
    a JSON error: 404, 405 (with the methods allowed) and 400."""
    seed_run(tmp_path)
    with serving(create_app(run=FinishedRun(tmp_path / "out"))) as base:
        status, body = call(base + "/no/such/path")
        assert status == 404 and "/no/such/path" in body["error"]
        request = urllib.request.Request(base + "/health", method="DELETE")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 405 and "GET" in refused.value.headers["Allow"]
        assert "DELETE /health" in json.loads(refused.value.read())["error"]
        request = urllib.request.Request(base + "/documents/x", method="PUT")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 405 and {"GET", "DELETE"} <= set(refused.value.headers["Allow"].split(", "))
        status, body = call(base + "/run/documents?offset=-1&limit=1")
        assert status == 400 and "offset must be 0 or more" in body["error"]
        assert call(base + "/run/documents?offset=1&limit=1")[1]["documents"][0]["id"] == PAGE.name
        for limit in (0, -5):  # (answered one row)
            status, body = call(base + f"/run/documents?limit={limit}")
            assert status == 400 and "limit must be 1 or more" in body["error"], body


@pytest.mark.parametrize("output", ["jsonl", "parquet"])
def test_regression_view_of_ids_with_an_unpaired_surrogate(tmp_path: Path, output: str) -> None:
    """An id holding an unpaired surrogate (JSON's "\\ud800", which dedup takes) broke `reprints view`: with JSON
    Lines outputs a page of decisions holding it answered 500 (UnicodeEncodeError), with Parquet outputs (ids
    written with U+FFFD) its row was missing and the next page repeated one. Every id and text is now read as the
    outputs write them (U+FFFD, one character for one): each page holds its rows, the document opens."""
    rows = [json.loads(line) for line in NEWS.read_text(encoding="utf-8").splitlines()][:6]
    rows[1]["id"] += "\ud800"
    rows[2]["text"] = "\udc80" + rows[2]["text"]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    run_cli("dedup", "-q", source, "--format", output, "--out", tmp_path / "out")
    wanted = [row["id"].replace("\ud800", "\ufffd") for row in rows]
    with serving(create_app(run=FinishedRun(tmp_path / "out"))) as base:
        pages = [call(base + f"/run/documents?offset={offset}&limit=3") for offset in (0, 3)]
        assert [status for status, _ in pages] == [200, 200]
        assert [row["id"] for _, page in pages for row in page["documents"]] == wanted
        status, body = call(base + "/documents/" + urllib.parse.quote(wanted[1]))
        assert status == 200 and body["text"] == rows[1]["text"] and body["decision"]["id"] == wanted[1]
        status, body = call(base + "/documents/" + urllib.parse.quote(wanted[2]))
        assert status == 200 and body["text"] == "\ufffd" + rows[2]["text"][1:]


def test_regression_the_bearer_scheme_in_any_case_and_only_tokens_every_client_can_send(
    index_app: Any, tmp_path: Path
) -> None:
    """The scheme of `Authorization: bearer TOKEN` was refused in lower case (schemes are case-insensitive, RFC
    9110): accepted now; a wrong token, another scheme or no token still get 401. A token beyond ASCII could never
    match (browsers send header values as Latin-1 bytes, or refuse to send them; the pages then kept asking), one
    not valid UTF-8 gave a 500 on every request, one with spaces or empty could never be sent as given: `serve` and
    `view` refuse them with click's usage error."""
    token = "Tk_9-x.~AZ"
    with serving(create_app(store=index_app, token=token)) as base:

        def status(authorization: bytes | None) -> int:
            request = urllib.request.Request(base + "/documents/none")
            if authorization is not None:
                request.add_header("Authorization", authorization)  # type: ignore[arg-type]  (bytes: sent as given)
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                return int(exc.code)

        for scheme in (b"Bearer ", b"bearer ", b"BEARER  "):
            assert status(scheme + token.encode()) == 404  # let in: no such document
        for wrong in (None, b"Bearer " + token.encode()[:-1], b"Basic " + token.encode(), b"Bearer"):
            assert status(wrong) == 401, wrong
    index = tmp_path / "index"
    open_index(index, create=True).close()
    for bad in ("s\u00e9cret", "\u79d8\u5bc6", " pad ", "", "two words"):
        for command in (["serve", "--index", str(index)], ["view", str(tmp_path / "no-run")]):
            result = subprocess.run(
                [sys.executable, "-m", "reprints", *command, "--token", bad, "--port", "0"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 2 and "is not a token every client can send" in result.stderr, (bad, result)


def test_regression_an_id_repeated_in_one_request_is_named_as_index_add_names_it(index_app: Any) -> None:
    """`POST /documents` with one new id twice stored the second over the first ("added 1, replaced 1") where
    `reprints index add` keeps both, the second as ID#2; the service now names them as the command does (and says
    so in `ids`); re-adding an id in a later request still replaces it."""
    with serving(create_app(store=index_app)) as base:
        docs = [{"id": "x", "text": "the first text of two"}, {"id": "x", "text": "the second text of two"}]
        status, body = call(base + "/documents", "POST", docs)
        assert status == 201 and body["ids"] == ["x", "x#2"] and body["added"] == 2, body
        assert call(base + "/documents/x")[1]["text"] == "the first text of two"
        assert call(base + "/documents/x%232")[1]["text"] == "the second text of two"
        status, body = call(base + "/documents", "POST", {"id": "x", "text": "a later text"})
        assert status == 201 and body["ids"] == ["x"] and body.get("replaced") == 1, body


def _overwrite_inside(database: Path, blob: bytes, fill: bytes) -> None:
    """Overwrite bytes in the middle of where `blob` lies in the database file (each place: an exact copy stores
    the same bytes), keeping every length: as damaged pages of the disk would (SQLite keeps no checksum of its own
    to see it)."""
    data = bytearray(database.read_bytes())
    middle = blob[len(blob) // 2 - 64 : len(blob) // 2 + 64]
    at = data.find(middle)
    assert at > 0, "the blob's middle lies on one page"
    while at >= 0:
        data[at : at + len(fill)] = fill
        at = data.find(middle, at + 1)
    database.write_bytes(bytes(data))


def test_regression_a_damaged_stored_document_or_run_is_an_error_not_wrong_spans(tmp_path: Path) -> None:
    """Bytes overwritten in the middle of a stored document's packed tokens (lengths unchanged) went unseen: a
    query answered with spans past the stored text's end. Its seal now refuses it: `index query` prints one
    'damaged' error line, the service answers 500 with a JSON error (not 400: the request was not at fault), and
    other queries still answer. A damaged run of anchors is refused the same way (its digest was never checked)."""
    folder = tmp_path / "index"
    run_cli("index", "add", "-q", "--index", folder, NEWS)
    database = folder / "index.sqlite"
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        doc_id, text, arrays = db.execute(
            "SELECT d.id, d.text, t.arrays FROM documents d JOIN tokens t USING (num) "
            "ORDER BY length(t.arrays) DESC LIMIT 1"
        ).fetchone()
        run_keys = db.execute("SELECT keys FROM runs WHERE kind = 'anchors' ORDER BY rows DESC LIMIT 1").fetchone()[0]
    healthy = tmp_path / "healthy.sqlite"
    healthy.write_bytes(database.read_bytes())
    query = tmp_path / "query.txt"
    query.write_text(text, encoding="utf-8")
    fine = run_cli("index", "query", "--index", folder, query, "--json")
    assert any(match["id"] == doc_id for match in json.loads(fine.stdout)["matches"])

    _overwrite_inside(database, bytes(arrays), bytes(range(1, 200)) * 2)  # small differences: spans stay sorted
    result = run_cli("index", "query", "--index", folder, query, "--json", check=False)
    assert result.returncode == 1 and result.stdout == "", result.stdout[:300]
    assert (
        result.stderr.startswith("reprints: error:") and "damaged" in result.stderr and "Traceback" not in result.stderr
    )
    other = tmp_path / "other.txt"
    other.write_text("a short text that shares nothing with the stored news at all, not one passage", encoding="utf-8")
    assert run_cli("index", "query", "--index", folder, other).returncode == 0
    with open_index(folder) as store, serving(create_app(store=store)) as base:
        status, body = call(base + "/query", "POST", {"text": text})
        assert status == 500 and "damaged" in body["error"], body

    database.write_bytes(healthy.read_bytes())
    _overwrite_inside(database, bytes(run_keys), b"\x00" * 64)
    result = run_cli("index", "query", "--index", folder, query, check=False)
    assert result.returncode == 1 and "run" in result.stderr and "damaged" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("damage", "removed"),
    [
        ("UPDATE documents SET line_tokens = x'0100000000000000' WHERE id = 'd000001'", "d000000"),
        ("UPDATE documents SET site = 1 WHERE num % 2 = 0", "d000001"),
        (
            "UPDATE meta SET value = replace(value, '\"min_passage\": 30', '\"min_passage\": 80') "
            "WHERE key = 'parameters'",
            "d000000",
        ),
        # a column given another type (SQLite keeps any type in any column): was a TypeError traceback
        ("UPDATE documents SET site = 'zz' WHERE id = 'd000001'", "d000001"),
        ("UPDATE documents SET sketch = 'x' WHERE id = 'd000001'", "d000001"),
        ("UPDATE tokens SET arrays = 'x' WHERE num = (SELECT num FROM documents WHERE id = 'd000001')", "d000001"),
    ],
    ids=["line_tokens", "site", "parameters", "site_type", "sketch_type", "arrays_type"],
)
def test_regression_damage_to_what_boilerplate_learning_reads_is_an_error_line(
    tmp_path: Path, damage: str, removed: str
) -> None:
    """A stored document's tokens per line and site were under no seal (boilerplate learning reads them, not the
    sealed packed tokens): tokens per line cut short made `index remove` of another document sharing a line with
    it stop with a numba IndexError traceback; a changed site silently changed a query's coverages; a parameter
    changed to another value reprints takes (min_passage 30 to 80) went unseen. Each is one 'damaged' error line
    now (index format 7: each document's row sealed, and the format and parameters)."""
    texts = {row["id"]: row["text"] for row in map(json.loads, NEWS.read_text(encoding="utf-8").splitlines())}
    query = tmp_path / "query.txt"
    query.write_text(texts["d000001"], encoding="utf-8")
    index = tmp_path / "index"
    run_cli("index", "add", "-q", "--index", index, NEWS)
    with contextlib.closing(sqlite3.connect(index / "index.sqlite")) as db:
        before = list(db.iterdump())
        db.execute(damage)
        db.commit()
        assert list(db.iterdump()) != before
    for command in (["query", query], ["remove", removed]):
        result = run_cli("index", command[0], "--index", index, command[1], check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.startswith("reprints: error:") and "damaged" in result.stderr, result.stderr


def test_regression_a_damaged_run_kind_or_meta_row_is_an_error_line(tmp_path: Path) -> None:
    """One bit flipped in a run's kind ('anchors' read 'anchorr') dropped the run from every lookup: queries
    silently missed matches and `index stats` counted no anchors. A damaged format or parameters row in `meta`
    gave a traceback in every command. Each is one 'damaged' error line now."""
    source = tmp_path / "a.txt"
    source.write_text(ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    for column, damage in (
        ("kind", "UPDATE runs SET kind = 'anchorr' WHERE kind = 'anchors'"),
        ("format", "UPDATE meta SET value = '?' WHERE key = 'format'"),
        ("parameters", "UPDATE meta SET value = substr(value, 1, 20) WHERE key = 'parameters'"),
    ):
        index = tmp_path / column
        run_cli("index", "add", "-q", "--index", index, source)
        with contextlib.closing(sqlite3.connect(index / "index.sqlite")) as db:
            db.execute(damage)
            db.commit()
        for command in (["query", source], ["stats"]):
            result = run_cli("index", command[0], "--index", index, *command[1:], check=False)
            assert result.returncode == 1 and "Traceback" not in result.stderr, (column, result.stderr)
            assert result.stderr.startswith("reprints: error:") and "damaged" in result.stderr, result.stderr


def test_regression_paths_a_command_cannot_take_are_named_plainly(tmp_path: Path) -> None:
    """`index add --index FILE` (a file where the index's folder goes) said 'File exists: FILE'; `view OUT PATH`
    with a PATH the user gave that does not exist said the run's input 'is gone'. Each names what is wrong."""
    not_a_folder = tmp_path / "index"
    not_a_folder.write_text("notes", encoding="utf-8")
    for command in (["add", ARTICLE], ["query", ARTICLE], ["stats"]):
        result = run_cli("index", command[0], "--index", not_a_folder, *command[1:], check=False)
        assert result.returncode == 1 and "is a file; an index is a folder" in result.stderr, result.stderr
    assert not_a_folder.read_text(encoding="utf-8") == "notes"
    out = seed_run(tmp_path)
    result = run_cli("view", out, tmp_path / "nonexistent", check=False)
    assert result.returncode == 1 and "gone" not in result.stderr, result.stderr
    assert f"input {tmp_path / 'nonexistent'} does not exist" in result.stderr, result.stderr


def test_regression_view_of_inputs_in_another_order_names_the_order(tmp_path: Path) -> None:
    """The run's input files given to `view` in another order were refused as 'documents 0 to 1 differ', which
    reads as damage. The refusal names the order the run read them in."""
    files = []
    for path in (ARTICLE, PAGE):
        files.append(tmp_path / path.name)
        files[-1].write_bytes(path.read_bytes())
    run_cli("dedup", "-q", *files, "--out", tmp_path / "out")
    command = [sys.executable, "-m", "reprints", "view", str(tmp_path / "out"), *map(str, reversed(files))]
    result = subprocess.run([*command, "--port", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "another order" in result.stderr, result.stderr
    assert f"give them in its order: {ARTICLE.name} {PAGE.name}" in result.stderr, result.stderr


def test_regression_index_query_of_a_file_of_records_queries_each_record(tmp_path: Path) -> None:
    """`index query --index DIR docs.jsonl` took the whole JSON Lines file as one raw text (its JSON syntax
    included) and said nothing. Each record of a JSON Lines file is a query document now, named by its id, as
    `index add` reads it; a record that cannot be read is a warning."""
    index = tmp_path / "index"
    run_cli("index", "add", "-q", "--index", index, NEWS)
    lines = NEWS.read_text(encoding="utf-8").splitlines()[:3]
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join([*lines, '{"id": "broken", "text": 5}']) + "\n", encoding="utf-8")
    result = run_cli("index", "query", "--index", index, "--json", queries, ARTICLE)
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    ids = [json.loads(line)["id"] for line in lines]
    assert [answer["query"] for answer in answers] == [*ids, ARTICLE.name]
    for doc_id, answer in zip(ids, answers, strict=False):
        assert answer["matches"][0]["id"] == doc_id and answer["matches"][0]["relation"] == "exact", answer
    assert "q.jsonl:4" in result.stderr and "not a string" in result.stderr, result.stderr
    renamed = tmp_path / "renamed.jsonl"  # the reading options of `index add` (a fourth adversarial test)
    renamed.write_text(
        "".join(json.dumps({"key": f"k{n}", "body": json.loads(line)["text"]}) + "\n" for n, line in enumerate(lines)),
        encoding="utf-8",
    )
    result = run_cli("index", "query", "--index", index, "--json", "--id-field", "key", "--text-field", "body", renamed)
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["query"], a["matches"][0]["id"]) for a in answers] == [(f"k{n}", ids[n]) for n in range(3)], answers


def test_regression_index_query_names_each_query_once_and_checks_its_files_first(tmp_path: Path) -> None:
    """Three gaps of `index query` (a fourth adversarial test): the same id in two files of records gave two
    answers named alike (which was which?); a folder, or a path that does not exist, after other files failed
    only once their answers were printed ('cannot read (Is a directory)'); '-' given twice read stdin once and
    answered the second with an empty text. Now a repeated name becomes `NAME#2` with a warning, as `dedup`
    renames a repeated id; a folder is read as `index add` reads one; the files are checked before any answer."""
    index = tmp_path / "index"
    run_cli("index", "add", "-q", "--index", index, NEWS)
    lines = NEWS.read_text(encoding="utf-8").splitlines()[:2]
    ids = [json.loads(line)["id"] for line in lines]
    first, folder = tmp_path / "a.jsonl", tmp_path / "more"
    folder.mkdir()
    for path in (first, folder / "b.jsonl"):
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("index", "query", "--index", index, "--json", first, folder)
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [answer["query"] for answer in answers] == [*ids, *(f"{doc_id}#2" for doc_id in ids)], answers
    assert all(answer["matches"][0]["id"] == answer["query"].removesuffix("#2") for answer in answers), answers
    assert f"duplicate id {ids[0]!r}" in result.stderr, result.stderr
    for late, message in ((tmp_path / "missing.txt", "no such file"), (tmp_path / "empty", "folder holds no")):
        if message == "folder holds no":
            late.mkdir()
        result = run_cli("index", "query", "--index", index, first, late, check=False)
        assert result.returncode == 1 and result.stdout == "", result.stdout  # no answer before the error
        assert f"{late}: {message}" in result.stderr and "Traceback" not in result.stderr, result.stderr
    result = run_cli("index", "query", "--index", index, "-", "-", input_text=ARTICLE.read_text(), check=False)
    assert result.returncode == 1 and result.stdout == "" and "more than once" in result.stderr, result.stderr


def test_regression_index_query_limit_says_how_many_documents_match(tmp_path: Path) -> None:
    """`index query --limit 1` printed 'NAME: 1 matching document' for a query that five stored documents match
    (the header counted the matches shown). The header counts every match and says how many are shown; the JSON
    answer holds the count as `found`."""
    index = tmp_path / "index"
    run_cli("index", "add", "-q", "--index", index, NEWS)
    query = tmp_path / "q.jsonl"
    query.write_text(NEWS.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    every = json.loads(run_cli("index", "query", "--index", index, "--json", query).stdout)
    found = len(every["matches"])
    assert found > 1 and every["found"] == found, every  # the news examples hold copies of this article
    one = json.loads(run_cli("index", "query", "--index", index, "--json", "--limit", "1", query).stdout)
    assert one["found"] == found and one["matches"] == every["matches"][:1], one
    header = run_cli("index", "query", "--index", index, "--limit", "1", query).stdout.splitlines()[0]
    assert header == f"{every['query']}: {found} matching documents (best 1 shown)", header
    header = run_cli("index", "query", "--index", index, query).stdout.splitlines()[0]
    assert header == f"{every['query']}: {found} matching documents", header


def test_regression_view_refuses_ids_that_differ_only_in_surrogates(tmp_path: Path) -> None:
    """Two ids differing only in an unpaired surrogate ("s\\ud800", "s\\udfff": two documents to dedup) both read
    "s\\ufffd" in `view`, which then showed one document's text with the other's decision and called the pair of
    two different texts exact. `view` refuses such a run, saying why (a fourth adversarial test)."""
    rows = [json.loads(line) for line in NEWS.read_text(encoding="utf-8").splitlines()][:2]
    source = tmp_path / "in.jsonl"
    ids = ["s\ud800", "s\udfff"]
    source.write_text("".join(json.dumps({"id": i, "text": r["text"]}) + "\n" for i, r in zip(ids, rows, strict=True)))
    run_cli("dedup", "-q", source, "--out", tmp_path / "out")
    command = [sys.executable, "-m", "reprints", "view", str(tmp_path / "out"), "--port", "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)  # (a server that starts: fails)
    assert result.returncode == 1 and "cannot show them apart" in result.stderr, result.stderr


def test_regression_view_names_the_order_of_inputs_of_one_name(tmp_path: Path) -> None:
    """The order check compared file names only: a run over x/docs.jsonl and y/docs.jsonl, given to `view` the
    other way round, was refused as changed inputs. It names the order, by path (a fourth adversarial test)."""
    lines = NEWS.read_text(encoding="utf-8").splitlines()
    files = [tmp_path / "x" / "docs.jsonl", tmp_path / "y" / "docs.jsonl"]
    for number, path in enumerate(files):
        path.parent.mkdir()
        path.write_text("\n".join(lines[number * 5 : number * 5 + 5]) + "\n", encoding="utf-8")
    run_cli("dedup", "-q", *files, "--out", tmp_path / "out")
    command = [sys.executable, "-m", "reprints", "view", str(tmp_path / "out"), *map(str, reversed(files))]
    result = subprocess.run([*command, "--port", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and f"give them in its order: {files[0]} {files[1]}" in result.stderr, result.stderr


def test_regression_a_page_sqlite_cannot_read_is_a_damaged_index_in_the_service(tmp_path: Path) -> None:
    """A page of the index SQLite itself finds malformed (the `tokens` table's root page overwritten) made the
    service answer 'internal error: DatabaseError ...'; the CLI already said the index is damaged. The service
    answers a 500 saying so, and goes on answering what does not read the page (a fourth adversarial test)."""
    folder = tmp_path / "index"
    run_cli("index", "add", "-q", "--index", folder, NEWS)
    database = folder / "index.sqlite"
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'tokens'").fetchone()[0]
    with database.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xff" * page_size)
    text = json.loads(NEWS.read_text(encoding="utf-8").splitlines()[0])["text"]
    with open_index(folder) as store, serving(create_app(store=store)) as base:
        status, body = call(base + "/query", "POST", {"text": text})
        assert status == 500 and "the index is damaged" in body["error"] and "internal" not in body["error"], body
        assert call(base + "/health")[0] == 200


def test_regression_a_busy_index_answers_503_not_damaged(tmp_path: Path) -> None:
    """A write lock another process held for longer than the index waits answered 500 "the index is damaged". Now
    a write answers 503 with Retry-After and says another process is writing; queries answer meanwhile; the same
    write succeeds once the lock is released."""
    with open_index(tmp_path / "index", create=True, wait=0.3) as store, serving(create_app(store=store)) as base:
        assert call(f"{base}/documents", "POST", _docs(2, "d"))[0] == 201
        with contextlib.closing(sqlite3.connect(store.path, isolation_level=None)) as holder:
            holder.execute("BEGIN IMMEDIATE")
            request = urllib.request.Request(
                f"{base}/documents", json.dumps(_docs(1, "x")).encode(), {"Content-Type": "application/json"}
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=60)
            assert refused.value.code == 503 and refused.value.headers["Retry-After"], refused.value.headers
            message = json.loads(refused.value.read())["error"]
            assert "another process has been writing" in message and "damaged" not in message, message
            assert call(f"{base}/documents/d0", "DELETE")[0] == 503
            status, found = call(f"{base}/query", "POST", {"text": _docs(1, "q")[0]["text"]})
            assert status == 200 and {match["id"] for match in found["matches"]} >= {"d0"}, found
            holder.execute("ROLLBACK")
        assert call(f"{base}/documents", "POST", _docs(1, "x"))[0] == 201


def test_regression_a_full_disk_answers_507_and_keeps_what_it_acknowledged(tmp_path: Path) -> None:
    """A full disk answered 500 "the index is damaged". A real server on a real 2 MB disk (tmpfs): documents are
    added until the disk is full, which answers 507 saying so; every document acknowledged (201) before it is
    still there, and queries still answer."""
    disk, first = tmp_path / "disk", tmp_path / "a.txt"
    first.write_text(news_texts()[0], encoding="utf-8")
    port = _free_port()
    reprints = f"{sys.executable} -m reprints"
    script = f'{reprints} index add -q --index "$0/idx" {first} && exec {reprints} serve --index "$0/idx" --port {port}'
    server = subprocess.Popen([*small_disk(disk, 2), "sh", "-c", script, str(disk)], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            with contextlib.suppress(OSError):
                if call(f"{base}/health")[0] == 200:
                    break
            time.sleep(0.1)
        texts, acknowledged = news_texts(), []
        for batch in range(100):
            docs = [{"id": f"{batch}-{n}", "text": f"{batch} {text}"} for n, text in enumerate(texts[:30])]
            status, body = call(f"{base}/documents", "POST", docs)
            if status != 201:
                break
            acknowledged += [doc["id"] for doc in docs]
        assert status == 507 and "disk holding the index is full" in body["error"], (status, body)
        assert "damaged" not in body["error"] and acknowledged, body
        for doc_id in acknowledged:
            assert call(f"{base}/documents/{doc_id}")[0] == 200, doc_id
        status, found = call(f"{base}/query", "POST", {"text": texts[0]})
        assert status == 200 and "a.txt" in {match["id"] for match in found["matches"]}, found
    finally:
        server.terminate()
        server.wait(30)


def test_regression_any_id_reaches_its_own_document_and_no_other(index_app: Any) -> None:
    """`/documents/victim%0A` answered (and DELETE removed) the document `victim`: Starlette's path parameter stops
    at a line end and its `$` matches before a final one; an id with a line end inside could not be fetched at all.
    Ids `.` and `..` could not be put in a URL path (clients resolve them away). Every id reaches its own document
    through the path, and through `/documents?id=`."""
    ids = ["victim", "victim\n", "a\nb", "\n", "x/../y", "tab\there", " spaced ", ".", ".."]
    with serving(create_app(store=index_app)) as base:
        status, body = call(base + "/documents", "POST", [{"id": i, "text": f"text of {i!r}"} for i in ids])
        assert status == 201 and body["ids"] == ids, body
        for doc_id in ids:
            by_query = call(base + "/documents?id=" + urllib.parse.quote(doc_id, safe=""))
            assert by_query == (200, {"id": doc_id, "text": f"text of {doc_id!r}"}), (doc_id, by_query)
            if doc_id not in (".", ".."):
                assert call(base + "/documents/" + urllib.parse.quote(doc_id, safe="")) == by_query, doc_id
        status, body = call(base + "/documents/" + urllib.parse.quote("victim\n", safe=""), "DELETE")
        assert (status, body) == (200, {"removed": "victim\n"})
        status, body = call(base + "/documents?id=..", "DELETE")
        assert (status, body) == (200, {"removed": ".."})
        assert call(base + "/documents/victim")[0] == 200
        assert call(base + "/documents?id=..")[0] == 404 and call(base + "/documents?id=.")[0] == 200
        status, body = call(base + "/documents")
        assert status == 400 and "/documents?id=ID" in body["error"]


def test_regression_unpaired_surrogates_and_nan_are_400_and_stored_ones_are_sent(
    index_app: Any, tmp_path: Path
) -> None:
    """A metadata field holding an unpaired surrogate was stored, then its document answered 500 for good (the
    response could not be encoded); a query `id` holding one answered 500; NaN and Infinity (not JSON) were taken
    and came back as strings. Requests holding them are a 400 now; a document `index add` stored with one (JSON
    Lines can hold `\\ud800`) is sent with U+FFFD in its place."""
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "filed", "text": "a text", "note": "x\ud800y"}) + "\n", encoding="utf-8")
    run_cli("index", "add", "-q", "--index", index_app.folder, source)
    with serving(create_app(store=index_app)) as base:
        assert call(base + "/documents/filed") == (200, {"note": "x\ufffdy", "id": "filed", "text": "a text"})
        for path, raw in (
            ("/documents", b'{"id": "n", "text": "t", "m": "\\ud800"}'),
            ("/documents", b'{"id": "n", "text": "t", "m": {"deep": ["\\udc80"]}}'),
            ("/query", b'{"text": "abc", "id": "\\ud800"}'),
            ("/query", b'{"text": "abc", "source": "\\ud800"}'),
        ):
            status, body = call(base + path, "POST", raw=raw)
            assert status == 400 and "unpaired surrogate" in body["error"], (path, raw, status, body)
        for constant in (b"NaN", b"Infinity", b"-Infinity"):
            for path in ("/documents", "/query"):
                status, body = call(base + path, "POST", raw=b'{"id": "n", "text": "t", "score": ' + constant + b"}")
                assert status == 400 and constant.decode().lstrip("-") in body["error"], (path, constant, body)
        assert call(base + "/documents/n")[0] == 404  # nothing of the refused requests was stored


@pytest.mark.parametrize(
    ("name", "damage", "said"),
    [
        ("documents.jsonl", lambda text: text[:300], "documents.jsonl line 2 is damaged"),
        ("documents.jsonl", lambda text: text + "\n", "documents.jsonl line 3 is damaged"),
        ("documents.jsonl", lambda text: text.replace('"decision": "keep"', '"decision": 1', 1), "'decision' is 1"),
        ("summary.json", lambda text: text[:100], "summary.json is damaged"),
        ("summary.json", lambda text: "[1]", "a list where an object was expected"),
        ("summary.json", lambda text: text.replace('"relations"', '"relation"', 1), "no 'relations'"),
        (
            "pairs.jsonl",
            lambda text: text.replace('"spans"', '"spams"', 1),
            "pairs.jsonl line 1 is damaged (no 'spans')",
        ),
        ("clusters.jsonl", lambda text: "{}\n", "no 'cluster'"),
    ],
)
def test_regression_view_of_damaged_outputs_is_an_error_line(
    tmp_path: Path, name: str, damage: Callable[[str], str], said: str
) -> None:
    """`reprints view` of a run folder whose outputs were cut short, hold a blank line, or lack a field the pages
    read, printed a traceback (JSONDecodeError, KeyError, AttributeError), or started and then answered 500 or
    broke its pages. It is one error line naming the file, the line and what is wrong."""
    out = seed_run(tmp_path)
    path = out / name
    path.write_text(damage(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(said)):
        FinishedRun(out)
    if name == "summary.json":
        result = run_cli("view", out, "--port", "0", check=False)
        assert result.returncode == 1 and result.stderr.startswith("reprints: error:"), result.stderr
        assert "Traceback" not in result.stderr
