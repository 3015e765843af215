"""The command line: thin commands over the library."""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from reprints import __version__
from reprints.allocator import hold_freed_memory
from reprints.config import (
    EXTRACT_MODES,
    INDEX_WAIT_SECONDS,
    MAX_WAIT_SECONDS,
    SERVE_MAPPED_MB,
    AlignConfig,
    BoilerplateConfig,
    CandidateConfig,
    DecideConfig,
    FingerprintConfig,
    ReadConfig,
    RunConfig,
)
from reprints.engines import stopping
from reprints.engines.stopping import Terminated
from reprints.errors import InputError, ReprintsError

if TYPE_CHECKING:
    from reprints.io.records import Record

FINGERPRINT, ALIGN, DECIDE = FingerprintConfig(), AlignConfig(), DecideConfig()
READ, CANDIDATES, RUN, BOILERPLATE = ReadConfig(), CandidateConfig(), RunConfig(), BoilerplateConfig()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reprints")
def cli() -> None:
    """Find every copy of every passage in a corpus of news and web text."""


def _stack(function: Any, options: list[Any]) -> Any:
    """`function` with the click options applied, listed in the order `--help` shows them."""
    for option in reversed(options):
        function = option(function)
    return function


def _parameters(function: Any) -> Any:
    """Options shared by `dedup` and `compare`: the matching parameters."""
    options = [
        click.option(
            "--shingle-size", type=int, default=None, help=f"Tokens per shingle [default: {FINGERPRINT.shingle_size}]."
        ),
        click.option(
            "--window", type=int, default=None, help=f"Winnowing window, in shingles [default: {FINGERPRINT.window}]."
        ),
        click.option(
            "--min-passage",
            type=int,
            default=None,
            help=f"Shortest shared passage reported, in tokens [default: {ALIGN.min_passage}].",
        ),
        click.option(
            "--max-gap",
            type=int,
            default=None,
            help=f"Longest edit bridged inside a passage, in tokens [default: {ALIGN.max_gap}].",
        ),
        click.option(
            "--duplicate-coverage",
            type=float,
            default=None,
            help=f"Coverage from which a side counts as mostly copied [default: {DECIDE.duplicate_coverage}].",
        ),
    ]
    return _stack(function, options)


def _boilerplate_options(function: Any) -> Any:
    """Options shared by `dedup` and `boilerplate`: how boilerplate is learned."""
    options = [
        click.option(
            "--boilerplate-min-docs",
            type=int,
            default=None,
            help=f"Documents a line must recur in [default: {BOILERPLATE.boilerplate_min_docs}].",
        ),
        click.option(
            "--boilerplate-max-context",
            type=int,
            default=None,
            help="Largest median shared context of a boilerplate line, in tokens "
            f"[default: {BOILERPLATE.boilerplate_max_context}].",
        ),
        click.option(
            "--site-field",
            default=None,
            help="Field naming each record's site [default: host of a 'url' field, else one site].",
        ),
    ]
    return _stack(function, options)


EXTRACT_HELP = (
    f"Text of an HTML page: 'main' (the main text, as trafilatura finds it) or 'page' (all visible text) "
    f"[default: {READ.extract}]."
)


def _read_options(function: Any) -> Any:
    """The options saying where each record's id and text are, shared by the commands that read a corpus."""
    options = [
        click.option("--id-field", default=None, help=f"Field holding each record's id [default: {READ.id_field}]."),
        click.option(
            "--text-field", default=None, help=f"Field holding each record's text [default: {READ.text_field}]."
        ),
        click.option(
            "--html-field",
            default=None,
            help="Field holding each record's HTML: its text is extracted (see --extract) [default: none].",
        ),
        click.option("--extract", type=click.Choice(EXTRACT_MODES), default=None, help=EXTRACT_HELP),
    ]
    return _stack(function, options)


_anchor_cap = click.option(
    "--anchor-df-cap",
    type=int,
    default=None,
    help=f"Ignore anchors held by more documents than this [default: {CANDIDATES.anchor_df_cap}].",
)
_on_error = click.option(
    "--on-error",
    type=click.Choice(["skip", "fail"]),
    default=None,
    help=f"Bad input: report it and go on (skip) or stop at once (fail) [default: {READ.on_error}].",
)
WORKERS_HELP = "Worker processes; 0: one per core, for inputs over 4 batches [default: 0]."


def _given(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _start_workers_early(inputs: Sequence[str], options: dict[str, Any]) -> None:
    """Start the fork server of a run that will have workers before importing the pipeline, so that both import
    at once (`reprints.engines.server`). Only when every input is a file: their size is then all the pipeline
    decides from (`RunConfig.workers_for`, `reprints.kernels.worth_loading`); for folders the engine starts the
    server when it opens, as before. A server started for a run that stops early (bad options) exits with it."""
    if (options.get("engine") or RUN.engine) != "local":
        return
    try:
        paths = [Path(name) for name in inputs]
        if not paths or not all(path.is_file() for path in paths):
            return
        size = sum(path.stat().st_size for path in paths)
    except (OSError, ValueError):  # a path the pipeline will report
        return
    batch_chars = options.get("batch_chars") or RUN.batch_chars
    if RunConfig(workers=max(0, options.get("workers") or 0), batch_chars=batch_chars).workers_for(size) > 1:
        from reprints.engines.server import start_early
        from reprints.kernels import worth_loading

        start_early(worth_loading(size, batch_chars))


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
@_read_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["jsonl", "parquet"]),
    default=None,
    help=f"Format of the output files [default: {RUN.output_format}].",
)
@_parameters
@_anchor_cap
@click.option(
    "--order-by",
    default=None,
    help="Field ranking documents for keep-first, after standalone-before-container [default: input order].",
)
@click.option(
    "--boilerplate/--no-boilerplate",
    "boilerplate",
    default=None,
    help="Learn boilerplate lines and keep them out of matching [default: on].",
)
@_boilerplate_options
@click.option(
    "--strip-boilerplate",
    is_flag=True,
    default=None,
    help="Remove boilerplate lines from the deduplicated output (recorded in documents.jsonl).",
)
@click.option("--workers", type=int, default=None, help=WORKERS_HELP)
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default=None,
    help="Where the batches run: this machine's processes, or Apache Spark (extra reprints[spark]) [default: local].",
)
@click.option(
    "--master", default=None, help="Spark master URL, e.g. local[2] or spark://host:7077 [default: local[*]]."
)
@click.option(
    "--spark-conf",
    "spark_conf",
    multiple=True,
    metavar="KEY=VALUE",
    help="A Spark setting, e.g. spark.executor.memory=4g (repeatable).",
)
@_on_error
@click.option(
    "--resume",
    is_flag=True,
    default=None,
    help="Continue an interrupted run from its work directory, redoing no finished batch.",
)
@click.option(
    "--work-dir", type=click.Path(path_type=Path), default=None, help="Folder for checkpoints [default: OUT/.work]."
)
@click.option("--keep-work", is_flag=True, default=None, help="Keep the work directory after a successful run.")
@click.option(
    "--max-doc-chars",
    type=int,
    default=None,
    help=f"Longer documents are reported unreadable: tokenizing takes about 25 bytes per character "
    f"[default: {READ.max_doc_chars:,}].",
)
@click.option(
    "--batch-chars", type=int, default=None, help=f"Characters per fingerprint batch [default: {RUN.batch_chars}]."
)
@click.option(
    "--batch-pairs", type=int, default=None, help=f"Candidate pairs per alignment batch [default: {RUN.batch_pairs}]."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or log lines.")
def dedup(inputs: tuple[str, ...], out_dir: Path, quiet: bool, **options: Any) -> None:
    """Find copies in INPUTS (files and folders; with --engine spark also URIs: hdfs://, s3a://, file://...),
    deduplicate keep-first and write the results to --out."""
    _start_workers_early(inputs, options)
    from reprints.pipeline import dedup as run

    if options.get("work_dir") is not None:
        options["work_dir"] = str(options["work_dir"])
    if not options.get("spark_conf"):
        options.pop("spark_conf", None)
    summary = run(inputs, out_dir, progress=not quiet, **_given(**options))
    if _LIMIT.hidden:
        click.echo(f"reprints: warning: {_LIMIT.hidden} more input problems not shown", err=True)
    if summary.unreadable:
        click.echo(
            f"reprints: warning: {summary.unreadable} documents could not be read; they are rows of "
            f"{out_dir}/documents.{options.get('output_format') or RUN.output_format} with reason 'unreadable: ...'",
            err=True,
        )
    if not quiet:
        decisions = ", ".join(f"{count} {name}" for name, count in summary.decisions.items())
        relations = ", ".join(f"{count} {name}" for name, count in summary.relations.items())
        click.echo(f"{summary.documents} documents: {decisions}", err=True)
        click.echo(f"pairs: {relations}; {summary.clusters} clusters", err=True)
        click.echo(f"wrote {out_dir}/ in {summary.timings['total']:.1f} s", err=True)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@_read_options
@_boilerplate_options
@click.option("--workers", type=int, default=None, help=WORKERS_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line instead of a table.")
def boilerplate(inputs: tuple[Path, ...], as_json: bool, **options: Any) -> None:
    """List the boilerplate lines learned from INPUTS, with how many documents hold each."""
    from reprints.io.writers import dumps
    from reprints.pipeline import boilerplate_lines

    for line in boilerplate_lines(inputs, **_given(**options)):
        if as_json:
            click.echo(dumps(line.to_dict()))
        else:
            site = f"{line.site}  " if line.site else ""
            click.echo(f"{line.documents:>7}  {site}{line.text}")


def _query_files(files: Sequence[Path]) -> list[Path]:
    """`index query`'s FILES as the files to read, checked before any query is answered: each folder becomes the
    supported files inside it (as `dedup` and `index add` read a folder), a path that does not exist is an error,
    and so is '-' (standard input) given twice (it can be read once).

    Raises:
        InputError: a path that does not exist, a folder holding no supported file, '-' given twice.
    """
    from reprints.io.sources import expand_inputs

    if sum(str(path) == "-" for path in files) > 1:
        raise InputError("'-' (standard input) is given more than once: it can be read once")
    out: list[Path] = []
    for path in files:
        if str(path) != "-" and path.is_dir():
            out.extend(expand_inputs([path], on_error="fail"))
        elif str(path) != "-" and not path.exists():
            raise InputError(f"{path}: no such file or folder")
        else:
            out.append(path)
    return out


def _query_documents(files: Sequence[Path], read: ReadConfig) -> Iterator[tuple[str, str]]:
    """The query documents of `index query`'s FILES (`_query_files`), each (name, text): a text or HTML file, or
    stdin ('-'), is one, named by the file; each record of a file of records (JSON Lines, Parquet, WARC) is one,
    named by its id, as `index add` reads it, with the same reading options (a record that cannot be read is a
    warning, and skipped). A name given before is renamed `NAME#2`, `NAME#3`... with a warning, as `dedup`
    renames a repeated id, so that each answer names one query."""
    from reprints.io import iter_documents
    from reprints.io.sources import HTML_SUFFIXES, Names, kind_of

    names = Names(on_error="skip")
    for path in files:
        kind = kind_of(path)
        if str(path) == "-":
            yield names.name("-", "standard input"), sys.stdin.read()
        elif kind is None or kind in (".txt", *HTML_SUFFIXES) or not path.is_file():
            yield names.name(path.name, str(path)), _read_text(path, read.extract)
        else:
            for doc in iter_documents([path], read):
                if doc.error is None:
                    yield names.name(doc.id, f"{path}, record {doc.index + 1}"), doc.text


def _read_text(path: Path, extract: str) -> str:
    """A file read exactly as `dedup` reads it: an HTML page (`.html`, `.htm`) extracted, a WARC file's one HTML
    page extracted, any other file decoded as a `.txt` input is (BOM removed, line endings kept)."""
    from reprints.io.decode import read_text_file
    from reprints.io.html import read_html

    if not path.exists():
        raise ReprintsError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith((".html", ".htm")):
        return _page_text(path, next(read_html(path, extract)))
    if name.endswith((".warc", ".warc.gz")):
        return _page_text(path, _one_page(path, extract))
    decoded = read_text_file(path)
    if decoded.text is None:
        raise ReprintsError(f"{path}: cannot read ({decoded.error})")
    if decoded.warning is not None:
        logging.getLogger("reprints").warning("%s: %s", path, decoded.warning)
    return decoded.text


def _one_page(path: Path, extract: str) -> Record:
    """The one HTML page of a WARC file, to extract (`compare` takes one text per file).

    Raises:
        ReprintsError: the file holds no page or more than one, or a record of it cannot be read.
    """
    from reprints.io.warc import read_warc

    pages: list[Record] = []
    for record in read_warc(path, extract):
        if record.error is not None:
            raise ReprintsError(record.error.removeprefix("unreadable: "))
        pages.append(record)
        if len(pages) > 1:
            break
    if len(pages) != 1:
        held = "no HTML page" if not pages else "more than one HTML page"
        raise ReprintsError(
            f"{path}: holds {held}; compare takes one text per file (a text file, an HTML page, or a WARC file "
            "holding one page): to compare the pages of a crawl, use `reprints dedup` or `reprints index query`"
        )
    return pages[0]


def _page_text(path: Path, pending: Record) -> str:
    """The text extracted from a page read from `path`, its warning logged."""
    from reprints.io.html import finish_page

    record = finish_page(pending)
    if record.text is None:
        raise ReprintsError((record.error or f"{path}: cannot read").removeprefix("unreadable: "))
    if record.warning is not None:
        logging.getLogger("reprints").warning("%s: %s", path, record.warning)
    return record.text


@cli.command()
@click.argument("file_a", type=click.Path(path_type=Path))
@click.argument("file_b", type=click.Path(path_type=Path))
@_parameters
@click.option("--extract", type=click.Choice(EXTRACT_MODES), default=READ.extract, help=EXTRACT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def compare(file_a: Path, file_b: Path, as_json: bool, extract: str, **options: Any) -> None:
    """Show how two texts (text files, HTML pages, or WARC files of one page) relate, with each aligned passage
    side by side."""
    from reprints.io.writers import dumps
    from reprints.pipeline import compare as run
    from reprints.report.compare import describe

    text_a, text_b = _read_text(file_a, extract), _read_text(file_b, extract)
    pair = run(text_a, text_b, id_a=file_a.name, id_b=file_b.name, **_given(**options))
    if as_json:
        row = pair.to_dict()
        click.echo(
            dumps(
                {
                    key: row[key]
                    for key in ("relation", "coverage_a", "coverage_b", "spans", "container", "a", "b")
                    if key in row
                }
            )
        )
    else:
        click.echo(describe(pair, text_a, text_b))


@cli.group()
def index() -> None:
    """An index on disk that remembers documents: add to it, query it, remove from it."""


INDEX_HELP = "Index folder (created by the first add)."
_wait = click.option(
    "--wait",
    type=click.FloatRange(min=0, max=MAX_WAIT_SECONDS),
    default=INDEX_WAIT_SECONDS,
    show_default=True,
    help="Seconds to wait while another process writes to the index, then give up.",
)


@index.command("add")
@click.option("--index", "folder", required=True, type=click.Path(path_type=Path), help=INDEX_HELP)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@_read_options
@_parameters
@_anchor_cap
@click.option("--boilerplate/--no-boilerplate", "boilerplate", default=None, help="Learn boilerplate [default: on].")
@_boilerplate_options
@click.option("--workers", type=int, default=None, help=WORKERS_HELP)
@_on_error
@_wait
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
def index_add(folder: Path, inputs: tuple[Path, ...], quiet: bool, wait: float, **options: Any) -> None:
    """Add the documents of INPUTS to the index (an id already stored is replaced). The matching parameters
    are fixed when the index is created."""
    import time

    from reprints.index.api import add

    began = time.perf_counter()
    counts = add(folder, inputs, wait=wait, progress=not quiet, **_given(**options))
    if not quiet:
        click.echo(
            f"{counts['added']} added, {counts['replaced']} replaced, {counts['unreadable']} unreadable; "
            f"{folder} in {time.perf_counter() - began:.1f} s",
            err=True,
        )


@index.command("query")
@click.option("--index", "folder", required=True, type=click.Path(path_type=Path), help=INDEX_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per query document.")
@click.option("--limit", type=int, default=None, help="At most this many matches per query document.")
@_read_options
def index_query(folder: Path, files: tuple[Path, ...], as_json: bool, limit: int | None, **options: Any) -> None:
    """Every stored document sharing a passage with each FILE (text or HTML; '-' reads stdin; each record of a
    JSON Lines, Parquet or WARC file, named by its id; a folder: the files in it), best covered first."""
    from reprints.index.api import open_index
    from reprints.index.query import query
    from reprints.io.writers import dumps

    if limit is not None and limit < 1:
        raise click.BadParameter("must be at least 1", param_hint="--limit")
    with open_index(folder, mapped_mb=SERVE_MAPPED_MB) as store:  # read as a server reads it
        for name, text in _query_documents(_query_files(files), ReadConfig(**_given(**options))):
            found = query(store, text)
            matches = found[:limit]
            if as_json:
                answer = {"query": name, "found": len(found), "matches": [match.to_dict() for match in matches]}
                click.echo(dumps(answer))
                continue
            shown = f" (best {len(matches)} shown)" if len(matches) < len(found) else ""
            click.echo(f"{name}: {len(found)} matching document{'s' if len(found) != 1 else ''}{shown}")
            for match in matches:
                where = f", container: {match.container}" if match.container else ""
                passages = f"{len(match.spans)} passage{'s' if len(match.spans) != 1 else ''}"
                click.echo(
                    f"  {match.id}  {match.relation}{where}  coverage {match.coverage_query:.0%} of the query, "
                    f"{match.coverage_stored:.0%} of it; {passages}"
                )


@index.command("remove")
@click.option("--index", "folder", required=True, type=click.Path(path_type=Path), help=INDEX_HELP)
@click.argument("ids", nargs=-1, required=True)
@_wait
def index_remove(folder: Path, ids: tuple[str, ...], wait: float) -> None:
    """Remove the documents with these IDS from the index."""
    from reprints.index.api import remove

    missing = remove(folder, ids, wait=wait)
    for doc_id in missing:
        click.echo(f"reprints: warning: {doc_id!r} is not in the index", err=True)
    click.echo(f"removed {len(ids) - len(missing)} document{'s' if len(ids) - len(missing) != 1 else ''}", err=True)


@index.command("stats")
@click.option("--index", "folder", required=True, type=click.Path(path_type=Path), help=INDEX_HELP)
def index_stats(folder: Path) -> None:
    """Documents, anchors, boilerplate lines, size on disk and parameters of the index (JSON)."""
    from reprints.index.api import stats
    from reprints.io.writers import dumps

    click.echo(dumps(stats(folder)))


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _checked_token(ctx: click.Context, param: click.Parameter, token: str | None) -> str | None:
    """A token the pages and any HTTP client can send as it is: printable ASCII without spaces (browsers send
    header values as Latin-1 bytes, and cannot send other characters at all; a space or an empty token could
    never be matched as given)."""
    if token is not None and not (token and all("!" <= char <= "~" for char in token)):
        raise click.BadParameter(
            f"{token!r} is not a token every client can send: use printable ASCII characters without spaces "
            "(e.g. from `python3 -c 'import secrets; print(secrets.token_urlsafe())'`)"
        )
    return token


def _server_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--host`, `--port` and `--token`, as `serve` and `view` take them."""
    for option in reversed(
        [
            click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on."),
            click.option(
                "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on."
            ),
            click.option(
                "--token",
                default=None,
                envvar="REPRINTS_TOKEN",
                callback=_checked_token,
                help=(
                    "Bearer token every API request must carry (required off localhost): printable ASCII, no spaces. "
                    "Also read from REPRINTS_TOKEN, which other users cannot see in the process list."
                ),
            ),
        ]
    ):
        command = option(command)
    return command


def _serve_app(
    factory: Callable[[], Any], host: str, port: int, token: str | None, what: str, workers: int = 1
) -> None:
    """Serve the ASGI app `factory()` makes with uvicorn (the `serve` extra) from `workers` processes, refusing a
    non-loopback bind without a token."""
    if host not in LOOPBACK and not token:
        raise click.UsageError(f"--host {host} exposes {what} beyond this machine: give a --token too")
    try:
        import uvicorn  # noqa: F401  (checked here, for a clear message)
    except ImportError:
        raise ReprintsError("the service needs the serve extra: pip install 'reprints[serve]'") from None
    from reprints.web.processes import serve as serve_processes

    processes = "" if workers == 1 else f" from {workers} processes"
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host

    def listening(bound: int) -> None:  # said once the port is ours: a port taken is an error line instead
        click.echo(f"reprints: serving {what} on http://{shown}:{bound}/{processes} (Ctrl-C stops)", err=True)

    serve_processes(factory, host=host, port=port, workers=workers, listening=listening)


def _local_hosts(host: str) -> frozenset[str] | None:
    """Host names a server bound to this machine answers to (None: bound elsewhere, any name)."""
    from reprints.web import LOCAL_HOSTS

    return LOCAL_HOSTS if host in LOOPBACK else None


def _web_app(**kwargs: Any) -> Any:
    try:
        from reprints.web.app import create_app
    except ImportError as exc:
        raise ReprintsError(f"the service needs the serve extra: pip install 'reprints[serve]' ({exc})") from None
    return create_app(**kwargs)


@cli.command()
@click.option("--index", "folder", required=True, type=click.Path(path_type=Path), help="Index folder.")
@_server_options
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes sharing the port (a query is CPU-bound: one process answers one at a time).",
)
@click.option(
    "--mapped-mb",
    type=click.IntRange(min=0),
    default=SERVE_MAPPED_MB,
    show_default=True,
    help="Megabytes of the index file each server process maps into memory to read it (0: none).",
)
def serve(folder: Path, host: str, port: int, token: str | None, workers: int, mapped_mb: int) -> None:
    """Serve an index over HTTP: the JSON API (OpenAPI at /openapi.json) and the query pages."""
    from reprints.index.api import open_index

    open_index(folder).close()  # a missing or foreign index is reported before the port is taken

    def app() -> Any:
        from reprints.kernels import prefer_compiled

        prefer_compiled()  # each server process answers many small queries
        return _web_app(store=open_index(folder, mapped_mb=mapped_mb), token=token, hosts=_local_hosts(host))

    _serve_app(app, host, port, token, f"the index {folder}", workers)


@cli.command()
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@_server_options
def view(out_dir: Path, inputs: tuple[Path, ...], host: str, port: int, token: str | None) -> None:
    """Show a finished run in the browser: clusters, decisions with their reasons and removed spans, any pair
    side by side. The texts are read from the run's inputs (as summary.json lists them, or INPUTS)."""
    from reprints.web.run import FinishedRun

    run = FinishedRun(out_dir, inputs)
    app = _web_app(run=run, token=token, hosts=_local_hosts(host))
    _serve_app(lambda: app, host, port, token, f"the run {out_dir}")


class _WarningLimit(logging.Filter):
    """Lets the first SHOWN warnings through and counts the rest."""

    SHOWN = 20

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.hidden = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        self.seen += 1
        if self.seen > self.SHOWN:
            self.hidden += 1
            return False
        return True


_LIMIT = _WarningLimit()


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("reprints: %(levelname)s: %(message)s"))
    handler.addFilter(_LIMIT)
    logging.addLevelName(logging.WARNING, "warning")
    logging.addLevelName(logging.ERROR, "error")
    logging.addLevelName(logging.INFO, "info")
    root = logging.getLogger("reprints")
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def _resume_hint(argv: list[str]) -> str:
    return "; run the same command again with --resume to continue from the last checkpoint" if "dedup" in argv else ""


def _os_error(exc: OSError, argv: list[str]) -> str:
    """One line for an operating-system failure, with what to do about it."""
    where = f": {exc.filename}" if exc.filename else ""
    what = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        advice = "free some space (or choose a --work-dir and --out on a disk with room)" + _resume_hint(argv)
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "choose folders you can write to"
    else:
        advice = "check the disk and the paths" + _resume_hint(argv)
    return f"{what}{where}; {advice}"


# Raised by click 8.2 on for a group given no command (click 8.1 printed the group's help and exited 0 itself).
NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _leave_at_once() -> None:
    """End the process as soon as a command that loaded the compiled kernels has finished: the interpreter's own
    teardown then took 0.15-0.2 s (numba's and LLVM's finalizers), at the end of every such run. The output
    streams and log handlers are flushed first; nothing else of reprints needs the teardown (the engine's workers
    stop when the command ends, files and databases are closed by then). Not after Spark, whose session's JVM is
    stopped by handlers the teardown runs."""
    if "numba" not in sys.modules or "pyspark" in sys.modules:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; errors become one line on stderr and exit status 1 (2 for bad usage, 130 when interrupted,
    143 when terminated)."""
    _configure_logging()
    # Passed on to multiprocessing's resource tracker: when the run is killed outright (SIGKILL), the tracker
    # removes the semaphores the run's pool left; its warning that it did so is not the user's concern.
    sys.warnoptions.append("ignore::UserWarning:multiprocessing.resource_tracker")
    args = sys.argv[1:] if argv is None else argv
    stopping.install()
    hold_freed_memory()
    # reprints does no linear algebra; NumPy's OpenBLAS otherwise starts a thread per core when NumPy is imported,
    # which spins for about 0.1 s of CPU in this process and in the workers' fork server while both start.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        cli.main(args=argv, prog_name="reprints", standalone_mode=False)
        _leave_at_once()
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except NO_ARGS_IS_HELP as exc:  # `reprints` or `reprints index` alone: its help, as `--help` prints it
        click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
        sys.exit(0)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "reprints"
        click.echo(f"reprints: error: {exc.format_message()} (see '{command} --help')", err=True)
        sys.exit(2)
    except (click.Abort, KeyboardInterrupt):
        click.echo(f"reprints: interrupted{_resume_hint(args)}", err=True)
        sys.exit(130)
    except Terminated as exc:
        click.echo(f"reprints: terminated by signal {exc.number}{_resume_hint(args)}", err=True)
        sys.exit(128 + exc.number)
    except (ReprintsError, click.ClickException) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"reprints: error: {message}", err=True)
        sys.exit(1)
    except Exception as exc:
        _fail(exc, args)


def _fail(exc: Exception, args: list[str]) -> NoReturn:
    """Exit with one line for a failure `main` knows (a damaged index, a dead worker, no memory, a system error);
    re-raise any other. (Their kinds are imported here, on failure: their modules cost the start of every command
    about 25 ms, during which the workers' fork server could already have been starting.)"""
    import sqlite3
    from concurrent.futures.process import BrokenProcessPool

    from reprints.errors import database_failure

    if isinstance(exc, sqlite3.DatabaseError):  # only an index is SQLite
        click.echo(f"reprints: error: {database_failure(exc)[2]}", err=True)
        sys.exit(1)
    if isinstance(exc, BrokenProcessPool):
        click.echo(
            f"reprints: error: a worker process died (killed, or out of memory: try fewer --workers or a smaller "
            f"--batch-chars){_resume_hint(args)}",
            err=True,
        )
        sys.exit(1)
    if isinstance(exc, MemoryError):
        click.echo(f"reprints: error: out of memory; try a smaller --batch-chars{_resume_hint(args)}", err=True)
        sys.exit(1)
    if isinstance(exc, OSError):
        click.echo(f"reprints: error: {_os_error(exc, args)}", err=True)
        sys.exit(1)
    raise exc
