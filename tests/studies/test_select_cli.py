"""``paretune select``: each kind of limit, nothing feasible, bad input.

The installed ``paretune`` command runs in a subprocess for the end-to-end cases; the tables
call the same entry point (``paretune.studies.main``) in-process to stay fast on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from paretune.search import candidates_from_trials, make_storage, parse_limit, select_strategy
from paretune.search.study import add_synthetic_trials, create_synthetic_study
from paretune.studies import main

optuna.logging.set_verbosity(optuna.logging.WARNING)

NAME = "mini"
OBJECTIVES = ["accuracy", "size_bits", "latency_ms"]


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("select")
    storage = f"journal:///{folder}/mini.log"  # Optuna's journal file: fast to write
    study = create_synthetic_study(
        storage=make_storage(storage), study_name=NAME, objectives=OBJECTIVES
    )
    add_synthetic_trials(study, n_trials=60, seed=11)
    (folder / "mini.toml").write_text(
        f'name = "{NAME}"\ntask = "digits-mlp"\nobjectives = {json.dumps(OBJECTIVES)}\n'
        f'storage = "{storage}"\n\n[space]\nlr = {{ low = 1e-3, high = 0.1, log = true }}\n'
    )
    return folder


def _select(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it."""
    command = shutil.which("paretune")
    prefix = [command] if command else [sys.executable, "-m", "paretune.studies"]
    return subprocess.run(
        [*prefix, "select", *args], cwd=folder, capture_output=True, text=True, timeout=300
    )


def _select_here(
    folder: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> subprocess.CompletedProcess[str]:
    """The same entry point in-process (``main`` returns the exit code)."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        code = main(["select", *args])
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code or 0)
    finally:
        os.chdir(before)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["paretune", "select", *args], code, out, err)


def _expected(folder: Path, **kwargs: Any) -> int | None:
    study = optuna.load_study(
        study_name=NAME, storage=make_storage(f"journal:///{folder}/mini.log")
    )
    candidates = candidates_from_trials(study.trials)
    chosen = select_strategy(candidates, objectives=OBJECTIVES, **kwargs).chosen
    return None if chosen is None else chosen.number


@pytest.mark.parametrize(
    ("flags", "kwargs"),
    [
        (["--max", "size_bits=1.2kB"], {"limits": {"size_bits": 9600.0}}),
        (["--max", "latency_ms=150us"], {"limits": {"latency_ms": 0.15}}),
        (
            ["--max", "size_bits=12kbit", "--max", "latency_ms=0.2ms"],
            {"limits": {"size_bits": 12000.0, "latency_ms": 0.2}},
        ),
        (["--max", "bitops=60k"], {"limits": {"bitops": 60000.0}}),
        (["--min-accuracy", "0.9"], {"min_accuracy": 0.9}),
        (["--min-accuracy", "90%"], {"min_accuracy": 0.9}),
        (["--knee"], {"knee": True}),
        ([], {}),
    ],
)
def test_each_kind_of_limit(
    study_dir: Path, capsys: pytest.CaptureFixture[str], flags: list[str], kwargs: dict[str, Any]
) -> None:
    done = _select_here(study_dir, capsys, "mini.toml", "--json", *flags)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    expected = _expected(study_dir, **kwargs)
    assert expected is not None
    assert document["chosen"]["trial"] == expected
    assert document["feasible"] is True and document["reason"]
    for cost, limit in document["limits"].items():
        assert document["chosen"]["costs"][cost] <= limit


def test_text_output_says_why(study_dir: Path) -> None:
    done = _select(study_dir, "--storage", f"journal:///{study_dir}/mini.log", "--study", NAME,
                   "--max", "size_bits=1.2kB")  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = _expected(study_dir, limits={"size_bits": parse_limit("size_bits=1.2kB")[1]})
    assert f"chosen: trial {expected} (most accurate)" in done.stdout
    assert "why: Trial" in done.stdout and "size_bits <= 9.6 kbit" in done.stdout
    assert "strategy:" in done.stdout and "optimizer" in done.stdout


def test_nothing_feasible_exits_3_with_the_closest(
    study_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = _select(study_dir, "mini.toml", "--min-accuracy", "0.999", "--max", "size_bits=100bit")
    assert done.returncode == 3
    assert "nothing feasible" in done.stdout and "closest strategies" in done.stdout
    assert done.stdout.count("  trial ") == 5
    as_json = _select_here(study_dir, capsys, "mini.toml", "--json", "--max", "size_bits=100bit")
    assert as_json.returncode == 3
    document = json.loads(as_json.stdout)
    assert document["chosen"] is None and len(document["closest"]) == 5
    assert all(c["misses"]["size_bits"] > 0 for c in document["closest"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mini.toml", "--max", "size_bits=3ms"], "--max size_bits=3ms: The 'size_bits' limit"),
        (["mini.toml", "--max", "speed=3"], "Unknown cost 'speed'. Known: size_bits"),
        (["mini.toml", "--max", "size_bits"], "COST=VALUE"),
        (["mini.toml", "--min-accuracy", "2"], "--min-accuracy must be in [0, 1]"),
        (["mini.toml", "--min-accuracy", "high"], "--min-accuracy must be a number"),
        (["--storage", "sqlite:///nope.db", "--study", "x"], "no study 'x' yet"),
        (["--storage", "runs/x.db", "--study", "x"], "must be a storage URL"),
        ([], "name a study: STUDY"),
        (["missing.toml"], "missing.toml"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(
    study_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    done = _select_here(study_dir, capsys, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("paretune: error:") or "usage:" in done.stderr


def test_bad_input_from_the_installed_command(study_dir: Path) -> None:
    done = _select(study_dir, "mini.toml", "--max", "size_bits=3ms")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "paretune: error: --max size_bits=3ms: The 'size_bits' limit must use a unit of size: "
        "bit, kbit, Mbit, Gbit, B, kB, MB, GB, KiB, MiB, GiB. Got '3ms' instead."
    ]
