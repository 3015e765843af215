"""Parameters, one frozen dataclass per stage; every default is written here and nowhere else.

How each parameter trades recall, precision and speed is documented in README.md ("Parameters").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from reprints.errors import ConfigError


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _default(instance: object, name: str) -> object:
    """The declared default of one of a config dataclass's fields (for error messages)."""
    return next(f.default for f in fields(instance) if f.name == name)  # type: ignore[arg-type]


# How much of an index's database file a server's connections map into memory (`reprints serve --mapped-mb`,
# `reprints.index.store.Store(mapped_mb=...)`); by default nothing. Mapped, SQLite reads pages straight from the OS's
# file cache, without a system call and a copy each: a 1,000-word query against the bulk corpus costs 5-10% less
# CPU in-process (6 alternating pairs: medians 4.54 and 4.35 ms, median pair ratio 0.90), and a loaded 2-process
# server answers about as many queries a second (mapped and not: 355 and 344 in one benchmark run, 319 and 318 in
# another, 333 and 327 in a third: within the machine's noise). But the mapped pages count in each process' resident
# set as they are touched (the file cache's, shared): with 1024 MB mapped a 2-process server on the bulk corpus
# showed 859 MB resident against 464 MB with nothing mapped (BENCHMARKS.md). Not worth doubling what a server seems
# to hold by default.
SERVE_MAPPED_MB = 0
# How long a connection to an index waits for another process' write lock (SQLite's busy timeout) before it gives
# up with "database is locked" (`reprints index add --wait`, `Store(wait=...)`). A server's writes wait as long.
INDEX_WAIT_SECONDS = 60.0
MAX_WAIT_SECONDS = 2_000_000.0  # SQLite takes the wait in milliseconds as a C int: longer overflows to no wait
EXTRACT_MODES = ("main", "page")  # the text of an HTML page: its main text, or all its visible text


@dataclass(frozen=True, kw_only=True, slots=True)
class ReadConfig:
    """How input records are read."""

    id_field: str = "id"
    text_field: str = "text"
    on_error: str = "skip"
    max_doc_chars: int = 64_000_000  # a longer document is reported unreadable: ~25 bytes of memory per character
    html_field: str | None = None  # a JSON Lines or Parquet field holding HTML to extract the text from
    extract: str = "main"  # the text of an HTML page: "main" (its main text) or "page" (all visible text)

    def __post_init__(self) -> None:
        _require(
            self.max_doc_chars >= 1,
            f"max_doc_chars={self.max_doc_chars} must be at least 1 ({_default(self, 'max_doc_chars')} is the default)",
        )
        _require(
            self.on_error in ("skip", "fail"),
            f"on_error={self.on_error!r} is unknown: use 'skip' (report bad records and go on) or 'fail' (stop at the "
            "first)",
        )
        _require(bool(self.id_field), "id_field is empty: give the name of the field holding each record's id")
        _require(bool(self.text_field), "text_field is empty: give the name of the field holding each record's text")
        _require(
            self.extract in EXTRACT_MODES,
            f"extract={self.extract!r} is unknown: use 'main' (the main text of an HTML page) or 'page' (all its "
            "visible text)",
        )
        _require(self.html_field != "", "html_field is empty: give the name of the field holding each record's HTML")


@dataclass(frozen=True, kw_only=True, slots=True)
class FingerprintConfig:
    """Shingles and anchors."""

    shingle_size: int = 5
    window: int = 12
    seed: int = 0

    def __post_init__(self) -> None:
        _require(
            1 <= self.shingle_size <= 32,
            f"shingle_size={self.shingle_size} is out of range: use 1..32 tokens "
            f"({_default(self, 'shingle_size')} is the default)",
        )
        _require(
            1 <= self.window <= 256,
            f"window={self.window} is out of range: use 1..256 shingles ({_default(self, 'window')} is the default)",
        )
        _require(0 <= self.seed < 2**63, f"seed={self.seed} must be a non-negative 63-bit integer")


@dataclass(frozen=True, kw_only=True, slots=True)
class BoilerplateConfig:
    """Learning each site's repeated lines, keeping them out of matching, stripping them on request."""

    boilerplate: bool = True
    boilerplate_min_docs: int = 8
    boilerplate_max_context: int = 20
    site_field: str | None = None
    strip_boilerplate: bool = False

    def __post_init__(self) -> None:
        _require(
            self.boilerplate_min_docs >= 2,
            f"boilerplate_min_docs={self.boilerplate_min_docs} is too small: a line must recur in at least 2 "
            f"documents to be learned ({_default(self, 'boilerplate_min_docs')} is the default)",
        )
        _require(
            self.boilerplate_max_context >= 1,
            f"boilerplate_max_context={self.boilerplate_max_context} must be at least 1 token "
            f"({_default(self, 'boilerplate_max_context')} is the default)",
        )
        _require(
            self.boilerplate or not self.strip_boilerplate,
            "strip_boilerplate needs boilerplate learning: drop --no-boilerplate or --strip-boilerplate",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class CandidateConfig:
    """The anchor join."""

    anchor_df_cap: int = 50

    def __post_init__(self) -> None:
        _require(
            self.anchor_df_cap >= 2,
            f"anchor_df_cap={self.anchor_df_cap} is too small: an anchor must be allowed in at least 2 documents "
            f"to link them ({_default(self, 'anchor_df_cap')} is the default)",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class AlignConfig:
    """Chaining matched shingles into passages."""

    min_passage: int = 30
    max_gap: int = 12

    def __post_init__(self) -> None:
        _require(
            self.min_passage >= 1,
            f"min_passage={self.min_passage} must be at least 1 token ({_default(self, 'min_passage')} is the default)",
        )
        _require(0 <= self.max_gap <= 1000, f"max_gap={self.max_gap} is out of range: use 0..1000 tokens")


@dataclass(frozen=True, kw_only=True, slots=True)
class DecideConfig:
    """Relations and keep-first deduplication."""

    duplicate_coverage: float = 0.8
    order_by: str | None = None

    def __post_init__(self) -> None:
        _require(
            0.5 < self.duplicate_coverage <= 1.0,
            f"duplicate_coverage={self.duplicate_coverage} is out of range: use a fraction in (0.5, 1.0] "
            f"({_default(self, 'duplicate_coverage')} is the default)",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class RunConfig:
    """How the engine runs the stages (none of this changes the results)."""

    engine: str = "local"  # or "spark" (the optional extra `reprints[spark]`)
    master: str | None = None  # the Spark master URL [default: spark-submit's, else local[*]]
    spark_conf: tuple[str, ...] = ()  # Spark settings as "KEY=VALUE"
    workers: int = 0  # 0: as many as the machine has cores, for inputs large enough to need them (`workers_for`)
    batch_chars: int = 1_000_000
    # Pairs per alignment batch: a batch reads its documents' match rows once, so larger batches read each row again
    # less often (align 4.6 -> 3.8 s at 160,000 generated documents from 4,000 to 16,000; a worker's peak +15 MB).
    batch_pairs: int = 16_000
    output_format: str = "jsonl"
    progress: bool = False
    resume: bool = False
    work_dir: str | None = None
    keep_work: bool = False

    def workers_for(self, input_bytes: int) -> int:
        """Worker processes for inputs of this size: `workers` if set, else one per core the process may use, but
        no more than one per 4 batches of input (starting workers costs more than it saves on a small corpus).
        Results are identical for any number."""
        if self.workers:
            return self.workers
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(1, min(cores, input_bytes // (4 * self.batch_chars)))

    def spark_options(self) -> list[tuple[str, str]]:
        """`spark_conf` as (key, value) pairs, in the order given."""
        pairs = [setting.partition("=") for setting in self.spark_conf]
        return [(key.strip(), value.strip()) for key, _, value in pairs]

    def __post_init__(self) -> None:
        given: Any = self.spark_conf
        if isinstance(given, Mapping):  # the Python API may give a dict
            given = [f"{key}={value}" for key, value in given.items()]
        object.__setattr__(self, "spark_conf", tuple(str(setting) for setting in given))
        _require(
            0 <= self.workers <= 256,
            f"workers={self.workers} is out of range: use 1..256 processes, or 0 for one per core",
        )
        _require(self.engine in ("local", "spark"), f"engine={self.engine!r} is unknown: use 'local' or 'spark'")
        _require(
            self.engine == "spark" or (self.master is None and not self.spark_conf),
            "master and spark_conf are settings of the Spark engine: add engine='spark' (--engine spark)",
        )
        for setting in self.spark_conf:
            key, equals, _ = setting.partition("=")
            _require(
                bool(equals) and bool(key.strip()),
                f"spark_conf {setting!r} is not KEY=VALUE (e.g. spark.executor.memory=4g)",
            )
        _require(self.batch_chars >= 1000, f"batch_chars={self.batch_chars} is too small: use at least 1000")
        _require(self.batch_pairs >= 1, f"batch_pairs={self.batch_pairs} must be at least 1")
        _require(
            self.output_format in ("jsonl", "parquet"),
            f"output_format={self.output_format!r} is unknown: use 'jsonl' or 'parquet'",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    """All parameters of a run."""

    read: ReadConfig = field(default_factory=ReadConfig)
    fingerprint: FingerprintConfig = field(default_factory=FingerprintConfig)
    boilerplate: BoilerplateConfig = field(default_factory=BoilerplateConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    decide: DecideConfig = field(default_factory=DecideConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        _require(
            self.align.min_passage >= self.fingerprint.shingle_size,
            f"min_passage={self.align.min_passage} is shorter than shingle_size={self.fingerprint.shingle_size}: "
            "a passage must hold at least one shingle; raise min_passage or lower shingle_size",
        )
        text_fields = {self.read.text_field: "the text field", self.read.html_field: "the HTML field"}
        _require(
            self.decide.order_by is None or self.decide.order_by not in text_fields,
            f"order_by={self.decide.order_by!r} is {text_fields.get(self.decide.order_by)}: documents are ranked by "
            "a field of their metadata (a date, a source's rank) or by their id",
        )

    @property
    def guaranteed_passage(self) -> int:
        """Length in tokens of the shortest shared passage the anchors are sure to find."""
        return self.fingerprint.window + self.fingerprint.shingle_size - 1

    def parameters(self) -> dict[str, Any]:
        """Every parameter that shapes the results, as written to `summary.json`."""
        out: dict[str, Any] = {}
        for stage in ("read", "fingerprint", "boilerplate", "candidates", "align", "decide"):
            out.update(asdict(getattr(self, stage)))
        return out

    @classmethod
    def from_options(cls, **options: Any) -> Config:
        """Build a Config from flat keyword options such as `shingle_size=5, workers=2`.

        Raises:
            ConfigError: an option is unknown or out of range.
        """
        stages = {
            "read": ReadConfig,
            "fingerprint": FingerprintConfig,
            "boilerplate": BoilerplateConfig,
            "candidates": CandidateConfig,
            "align": AlignConfig,
            "decide": DecideConfig,
            "run": RunConfig,
        }
        fields_of = {name: {f.name for f in fields(kind)} for name, kind in stages.items()}
        per_stage: dict[str, dict[str, Any]] = {name: {} for name in stages}
        for key, value in options.items():
            owner = next((name for name, names in fields_of.items() if key in names), None)
            if owner is None:
                known = ", ".join(sorted(set().union(*fields_of.values())))
                raise ConfigError(f"unknown option {key!r}; known options: {known}")
            per_stage[owner][key] = value
        built = {name: stages[name](**values) for name, values in per_stage.items()}
        return cls(**built)
