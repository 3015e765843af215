"""The README documents every command and option, the public API is curated, and CI runs the README's tests."""

from __future__ import annotations

import re

import click
import pytest

import reprints
from conftest import ROOT
from reprints.cli import cli

README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands() -> list[tuple[str, click.Command]]:
    assert isinstance(cli, click.Group)
    return sorted(cli.commands.items())


@pytest.mark.parametrize("name", [name for name, _ in commands()])
def test_command_documented(name: str) -> None:
    assert re.search(rf"### `reprints {name}\b", README), f"README has no section for `reprints {name}`"


@pytest.mark.parametrize(
    ("name", "option"),
    [
        (name, opt)
        for name, command in commands()
        for param in command.params
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    ],
)
def test_option_documented(name: str, option: str) -> None:
    section = README.split(f"### `reprints {name}")[1].split("\n## ")[0].split("\n### ")[0]
    assert f"`{option}" in section or f"{option}`" in section or f", `{option}" in section, (
        f"`reprints {name} {option}` is not documented in its README section"
    )


def test_all_is_sorted_and_complete() -> None:
    assert reprints.__all__ == sorted(reprints.__all__)
    public = {
        name
        for name in vars(reprints)
        if not name.startswith("_") and not isinstance(getattr(reprints, name), type(reprints))
    }
    assert public <= set(reprints.__all__), f"public but not in __all__: {public - set(reprints.__all__)}"
    for name in reprints.__all__:
        assert hasattr(reprints, name)


def test_ci_runs_the_readme_test_command() -> None:
    setup = README.split("## Set-up")[1].split("```")[1].strip().splitlines()
    assert len(setup) == 2, "the README's set-up is two commands"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert setup[1].strip() in ci
    assert "pip install" in setup[0] and "reprints dedup" in setup[0]


def test_readme_defaults_match_config() -> None:
    from reprints.cli import ALIGN, BOILERPLATE, CANDIDATES, DECIDE, FINGERPRINT, RUN

    expected = {
        "--shingle-size": FINGERPRINT.shingle_size,
        "--window": FINGERPRINT.window,
        "--min-passage": ALIGN.min_passage,
        "--max-gap": ALIGN.max_gap,
        "--duplicate-coverage": DECIDE.duplicate_coverage,
        "--anchor-df-cap": CANDIDATES.anchor_df_cap,
        "--workers": RUN.workers,
        "--boilerplate-min-docs": BOILERPLATE.boilerplate_min_docs,
        "--boilerplate-max-context": BOILERPLATE.boilerplate_max_context,
    }
    for option, value in expected.items():
        row = re.search(rf"^\| `{option} [A-Z]+` \| ([^|]+) \|", README, re.MULTILINE)
        assert row, f"README's option table has no row for {option}"
        assert row.group(1).strip() == str(value), f"README says {option} defaults to {row.group(1)}, config {value}"
        name = option[2:].replace("-", "_")
        assert f"| `{name}` ({value}) |" in README, f"README's parameter table disagrees on {name}"
