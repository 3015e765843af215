"""The HTTP service over an index (`reprints serve`) and over a finished run (`reprints view`), with the web pages.

JSON API (OpenAPI at `/openapi.json`): `POST /documents`, `GET|DELETE /documents/{id}`, `POST /query`,
`GET /compare?a=ID&b=ID`, `GET /health`; for a finished run also `GET /run` (summary and clusters) and
`GET /run/documents` (decisions). Errors are JSON: `{"error": message}` with a 4xx status. With a token every
API request must carry `Authorization: Bearer TOKEN` (compared in constant time); the pages themselves are static
and send the token the user gives them.

Needs the `serve` extra (Starlette and uvicorn).
"""

from __future__ import annotations

import hmac
import json
import logging
import sqlite3
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from reprints import __version__
from reprints.errors import IndexDamaged, IndexReadOnly, ReprintsError, database_failure
from reprints.index.build import add_documents, remove_documents
from reprints.index.query import Match, pair, query
from reprints.index.store import Store
from reprints.io.sources import Names
from reprints.io.writers import valid_unicode
from reprints.types import Document
from reprints.web.run import FinishedRun

MAX_BODY = 16 * 1024 * 1024  # bytes of one request
MAX_PAGE = 1000  # rows of one page of a run's decisions (`GET /run/documents?limit=`)
COMPUTING_THREADS = 1  # queries and comparisons computed at once in one process (CPU-bound: see `create_app`)
RETRY_BUSY_SECONDS = 5  # Retry-After of a 503 answered while another process held the index's write lock
INLINE_QUERY_CHARS = 20_000  # a query text up to this long is answered in the event loop, not in a thread
STATIC = resources.files("reprints.web") / "static"
PAGES = {"/": "index.html", "/pair": "pair.html", "/doc": "doc.html"}
log = logging.getLogger(__name__)


class AnyText(Convertor[str]):
    """A path parameter of any characters, `/` and line ends included (Starlette's `path` stops at a line end, and
    its `$` matches before a final one: `/documents/a%0A` answered for the document `a`)."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anytext", AnyText())


class JSON(JSONResponse):
    """A JSON response; a stored string holding an unpaired surrogate (metadata `index add` read from a file, which
    JSON Lines can write) is sent with U+FFFD in its place, as the outputs' Parquet keeps it, not as a 500."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return super().render(valid_unicode(content))


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _hostname(host: str) -> str:
    """The name in a Host header, without its port."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _authorized(headers: list[tuple[bytes, bytes]], token: str) -> bool:
    """Whether the request carries the bearer token: the scheme in any case (RFC 9110), the token compared as
    bytes in constant time (a token beyond ASCII is sent as its UTF-8 bytes)."""
    given = next((value for key, value in headers if key.lower() == b"authorization"), b"")
    scheme, _, credentials = given.strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), token.encode("utf-8"))


def error(status: int, message: str) -> JSON:
    return JSON({"error": message}, status_code=status)


class Guard:
    """ASGI middleware: the request size limit and the bearer token (API paths only; pages, /health and
    /openapi.json are public)."""

    def __init__(self, app: ASGIApp, token: str | None, max_body: int, hosts: frozenset[str] | None) -> None:
        self.app, self.token, self.max_body, self.hosts = app, token, max_body, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin1").lower(): value.decode("latin1") for key, value in scope["headers"]}
        path = scope["path"]
        if self.hosts is not None and _hostname(headers.get("host", "")) not in self.hosts:
            # A page elsewhere whose name was pointed at this machine (DNS rebinding) names its own host.
            await error(403, "unexpected Host header for a server on this machine")(scope, receive, send)
            return
        # The pages, /health and the API's description hold none of the index's documents (the query page links
        # to /openapi.json: a browser opening the link sends no token).
        public = path in PAGES or path.startswith("/static/") or path in ("/health", "/openapi.json")
        if self.token is not None and not public and not _authorized(scope["headers"], self.token):
            await error(401, "missing or wrong token: send 'Authorization: Bearer TOKEN'")(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await error(413, f"request body over {self.max_body:,} bytes")(scope, receive, send)
            return
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise HTTPError(413, f"request body over {self.max_body:,} bytes")
            return message

        try:
            await self.app(scope, limited, send)
        except HTTPError as exc:
            await error(exc.status, exc.message)(scope, receive, send)


async def _json(request: Request) -> Any:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        # A page on another site can post text/plain to a local server without asking; JSON needs its consent.
        raise HTTPError(415, "send the body as JSON, with 'Content-Type: application/json'")
    body = await request.body()
    try:
        return json.loads(body, parse_constant=_not_json)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPError(400, f"the body is not JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits, nesting past Python's stack
        raise HTTPError(400, f"the body cannot be read: {type(exc).__name__}: {exc}") from None


def _not_json(name: str) -> Any:
    """Python's `json` reads NaN and Infinity, which JSON lacks (they would come back as strings)."""
    raise HTTPError(400, f"the body is not JSON: {name} is not a JSON value")


def _unicode(value: Any, what: str) -> None:
    """Refuse a string (or the strings in a structure) holding an unpaired surrogate: not Unicode text, it could be
    stored but never sent back (JSON's `\\ud800` escapes can write one)."""
    try:  # (a text is encoded as it is, not serialized first: a document's text can be megabytes)
        (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)).encode("utf-8")
    except UnicodeEncodeError:
        raise HTTPError(400, f"{what} holds an unpaired surrogate (not Unicode text)") from None


def _documents(body: Any) -> list[Document]:
    """The documents of a `POST /documents` body (one object or a list), a repeated id renamed `ID#2`, `ID#3`...
    as `reprints index add` names them (re-adding an id in a later request replaces that document)."""
    names = Names("skip", report=False)
    documents = [_document(row, position) for position, row in enumerate(body if isinstance(body, list) else [body])]
    return [replace(doc, id=names.name(doc.id, f"document {doc.index}")) for doc in documents]


def _doc_id(request: Request) -> str:
    """The id of `/documents/{id}`, or of `/documents?id=` (for ids a URL path cannot carry: `.` and `..`, which
    browsers and clients resolve away)."""
    if "doc_id" in request.path_params:
        return str(request.path_params["doc_id"])
    doc_id = request.query_params.get("id")
    if not doc_id:
        raise HTTPError(400, "give a document id: /documents/ID or /documents?id=ID")
    return doc_id


def _document(row: Any, position: int) -> Document:
    if not isinstance(row, dict):
        raise HTTPError(400, f"document {position}: expected an object with 'id' and 'text'")
    doc_id, text = row.get("id"), row.get("text")
    if not isinstance(doc_id, str) or not doc_id:
        raise HTTPError(400, f"document {position}: 'id' must be a non-empty string")
    if not isinstance(text, str):
        raise HTTPError(400, f"document {position}: 'text' must be a string")
    metadata = {key: value for key, value in row.items() if key not in ("id", "text")}
    for name, value in (("'id'", doc_id), ("'text'", text), ("a metadata field", metadata)):
        _unicode(value, f"document {position}: {name}")
    return Document(doc_id, text, position, metadata)


def _handled(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except HTTPError as exc:
            return error(exc.status, exc.message)
        except IndexDamaged as exc:  # the server's fault, not the request's
            log.error("request %s %s: %s", request.method, request.url.path, exc)
            return error(500, str(exc))
        except IndexReadOnly as exc:  # a change asked of an index served from a read-only disk
            return error(403, str(exc))
        except ReprintsError as exc:
            return error(400, str(exc))
        except sqlite3.DatabaseError as exc:  # (only the index is SQLite) busy, a full disk... or a damaged page
            kind, status, message = database_failure(exc)
            log.error("request %s %s: %s", request.method, request.url.path, message)
            answer = error(status, message)
            if kind == "busy":
                answer.headers["Retry-After"] = str(RETRY_BUSY_SECONDS)
            return answer
        except Exception as exc:
            log.exception("request %s %s failed", request.method, request.url.path)
            return error(500, f"internal error: {type(exc).__name__}: {exc}")

    return run


def create_app(
    store: Store | None = None,
    run: FinishedRun | None = None,
    *,
    token: str | None = None,
    max_body: int = MAX_BODY,
    hosts: frozenset[str] | None = None,
) -> Starlette:
    """The application over an index (`store`) or a finished run (`run`). With `hosts`, requests naming another
    host are refused (`reprints.web.LOCAL_HOSTS` for a server bound to this machine)."""
    import anyio.to_thread
    from starlette.concurrency import run_in_threadpool

    writing = threading.Lock()  # one writer at a time in this process (SQLite also locks across processes)
    limiters: list[anyio.CapacityLimiter] = []

    async def computed(work: Callable[[], Any]) -> Any:
        """`work()` (a query or a comparison) in a thread, COMPUTING_THREADS of them at once in this process.
        They are CPU-bound Python: more at once in one process only share its one interpreter, each holding
        its working memory (and a thread's allocator arena) the while; more processes (`serve --workers`) answer
        more at once."""
        if not limiters:  # made in the event loop, on first use
            limiters.append(anyio.CapacityLimiter(COMPUTING_THREADS))
        return await anyio.to_thread.run_sync(work, limiter=limiters[0])

    async def health(request: Request) -> Response:
        body: dict[str, Any] = {"status": "ok", "version": __version__}
        if store is not None:
            body["documents"] = await run_in_threadpool(store.count)
            body["serving"] = "index"
        if run is not None:
            body["documents"] = len(run.ids)
            body["serving"] = "run"
        return JSON(body)

    async def post_documents(request: Request) -> Response:
        index = _need(store)
        documents = _documents(await _json(request))

        def add() -> dict[str, int]:
            with writing:  # one request, one batch: one transaction (all stored, or none)
                return add_documents(index, documents, batch_chars=sys.maxsize)

        counts = await run_in_threadpool(add)
        return JSON({**counts, "ids": [doc.id for doc in documents]}, status_code=201)

    async def get_document(request: Request) -> Response:
        doc_id = _doc_id(request)
        if run is not None:
            row = run.document(doc_id)
            if row is None:
                raise HTTPError(404, f"no document {doc_id!r} in this run")
            return JSON(row)
        [found] = await run_in_threadpool(_need(store).fetch, doc_id)
        if found is None:
            raise HTTPError(404, f"no document {doc_id!r} in the index")
        return JSON({**found.metadata, "id": found.id, "text": found.text})

    async def delete_document(request: Request) -> Response:
        index = _need(store)
        doc_id = _doc_id(request)

        def remove() -> list[str]:
            with writing:
                return remove_documents(index, [doc_id])

        if await run_in_threadpool(remove):
            raise HTTPError(404, f"no document {doc_id!r} in the index")
        return JSON({"removed": doc_id})

    async def one_document(request: Request) -> Response:  # one route, so that a 405 allows both methods
        return await (delete_document if request.method == "DELETE" else get_document)(request)

    async def documents(request: Request) -> Response:  # /documents: POST adds, GET and DELETE take ?id=
        return await (post_documents if request.method == "POST" else one_document)(request)

    async def post_query(request: Request) -> Response:
        index = _need(store)
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise HTTPError(400, "expected an object with a 'text' string")
        limit = body.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise HTTPError(400, "'limit' must be a positive integer")
        doc_id = body.get("id")
        if doc_id is not None and not isinstance(doc_id, str):
            raise HTTPError(400, "'id' must be a string")
        metadata = {key: value for key, value in body.items() if key not in ("id", "text", "limit")}
        _unicode(body, "the query")

        def answer() -> list[Any]:
            return query(index, body["text"], doc_id=doc_id, metadata=metadata or None, limit=limit)

        # An article-sized query takes a few milliseconds: answered here, it saves the hand-over to a thread and
        # back (and the two threads taking turns with the interpreter) that would cost a good share of that.
        matches = answer() if len(body["text"]) <= INLINE_QUERY_CHARS else await computed(answer)
        return JSON({"matches": [match.to_dict() for match in matches]})

    async def compare(request: Request) -> Response:
        a, b = request.query_params.get("a"), request.query_params.get("b")
        if not a or not b:
            raise HTTPError(400, "give two document ids: /compare?a=ID&b=ID")
        if run is not None:
            found = run.pair(a, b)
            if found is None:
                raise HTTPError(404, f"no document {a!r} or {b!r} in this run")
            return JSON(found)
        index = _need(store)
        texts = {}
        for doc_id, doc in zip((a, b), await run_in_threadpool(index.fetch, a, b), strict=True):
            if doc is None:
                raise HTTPError(404, f"no document {doc_id!r} in the index")
            texts[doc_id] = doc.text
        match = await computed(lambda: pair(index, a, b))
        return JSON({"a": {"id": a, "text": texts[a]}, "b": {"id": b, "text": texts[b]}, "pair": _pair_row(match)})

    async def run_overview(request: Request) -> Response:
        return JSON(_need_run(run).overview())

    async def run_documents(request: Request) -> Response:
        finished = _need_run(run)
        try:
            offset = int(request.query_params.get("offset", "0"))
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            raise HTTPError(400, "offset and limit must be integers") from None
        if offset < 0:
            raise HTTPError(400, f"offset must be 0 or more (got {offset})")
        if limit < 1:
            raise HTTPError(400, f"limit must be 1 or more (got {limit}); at most {MAX_PAGE} rows are answered")
        return JSON(finished.decisions(offset, min(limit, MAX_PAGE)))

    async def openapi(request: Request) -> Response:
        return JSON(OPENAPI)

    def page(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return FileResponse(str(STATIC / name), media_type="text/html")

        return serve

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        target = STATIC / name
        if "/" in name or name.startswith(".") or not target.is_file():
            raise HTTPError(404, f"no file {name!r}")
        kinds = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".png": "image/png"}
        return FileResponse(str(target), media_type=kinds.get(Path(name).suffix, "application/octet-stream"))

    routes = [
        Route("/health", _handled(health)),
        Route("/documents", _handled(documents), methods=["GET", "POST", "DELETE"]),
        Route("/documents/{doc_id:anytext}", _handled(one_document), methods=["GET", "DELETE"]),
        Route("/query", _handled(post_query), methods=["POST"]),
        Route("/compare", _handled(compare)),
        Route("/run", _handled(run_overview)),
        Route("/run/documents", _handled(run_documents)),
        Route("/openapi.json", openapi),
        Route("/static/{name}", _handled(static)),
        *(Route(path, page("view.html" if run is not None and path == "/" else name)) for path, name in PAGES.items()),
    ]
    guard = Middleware(Guard, token=token, max_body=max_body, hosts=hosts)
    return Starlette(routes=routes, middleware=[guard], exception_handlers={HTTPException: _routing_error})


async def _routing_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such path, a method the path does not take) as JSON errors like the others."""
    assert isinstance(exc, HTTPException)
    response = error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")
    response.headers.update(exc.headers or {})
    return response


def _pair_row(match: Match | None) -> dict[str, Any] | None:
    if match is None:
        return None
    return {
        "relation": match.relation,
        "coverage_a": match.coverage_query,
        "coverage_b": match.coverage_stored,
        "container": {"query": "a", "stored": "b"}.get(match.container or ""),
        "spans": [list(span) for span in match.spans],
    }


def _need(store: Store | None) -> Store:
    if store is None:
        raise HTTPError(404, "this server shows a finished run; it has no index")
    return store


def _need_run(run: FinishedRun | None) -> FinishedRun:
    if run is None:
        raise HTTPError(404, "this server answers from an index; `reprints view OUT` shows a finished run")
    return run


_MATCH = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "relation": {"enum": ["exact", "near_duplicate", "contained", "partial"]},
        "container": {"enum": ["query", "stored", None]},
        "coverage_query": {"type": "number"},
        "coverage_stored": {"type": "number"},
        "spans": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "minItems": 4}},
    },
}
_ERROR = {"description": "error", "content": {"application/json": {"schema": {"properties": {"error": {}}}}}}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "reprints", "version": __version__},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/documents": {
            "post": {
                "summary": (
                    "Add one document {id, text, ...fields} or a list of them (a stored id is replaced; an id "
                    "repeated in the request is named ID#2, ID#3...)"
                ),
                "responses": {
                    "201": {"description": "stored durably"},
                    "400": _ERROR,
                    "403": _ERROR,  # the index is on a read-only disk or folder
                    "413": _ERROR,
                    "503": _ERROR,  # another process held the write lock (Retry-After), or a disk failed
                    "507": _ERROR,  # the disk is full
                },
            },
            "get": {
                "summary": "A stored document (?id=ID: as /documents/{id}, for any id, `.` and `..` included)",
                "responses": {"200": {"description": "ok"}, "400": _ERROR, "404": _ERROR},
            },
            "delete": {
                "summary": "Remove a document (?id=ID)",
                "responses": {
                    "200": {"description": "ok"},
                    "400": _ERROR,
                    "403": _ERROR,
                    "404": _ERROR,
                    "503": _ERROR,
                    "507": _ERROR,
                },
            },
        },
        "/documents/{id}": {
            "get": {"summary": "A stored document", "responses": {"200": {"description": "ok"}, "404": _ERROR}},
            "delete": {
                "summary": "Remove a document",
                "responses": {"200": {"description": "ok"}, "403": _ERROR, "404": _ERROR, "503": _ERROR, "507": _ERROR},
            },
        },
        "/query": {
            "post": {
                "summary": "Every stored document sharing a passage with {text, id?, limit?}",
                "responses": {
                    "200": {
                        "description": "matches, best covered first",
                        "content": {
                            "application/json": {
                                "schema": {"properties": {"matches": {"type": "array", "items": _MATCH}}}
                            }
                        },
                    },
                    "400": _ERROR,
                },
            }
        },
        "/compare": {
            "get": {
                "summary": "Two stored documents side by side: texts and their pair (?a=ID&b=ID)",
                "responses": {"200": {"description": "ok"}, "404": _ERROR},
            }
        },
        "/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "ok"}}}},
    },
}
