"""The bad-input corpus: command-line flags, storage URLs, study files and ``select``
arguments a user (or a script) can get wrong, each answered by the real ``paretune`` entry
point with exit code 2 and one line ``paretune: error: ...`` naming the key or flag and the
value, never a traceback; and the study already in a storage is never touched.

``tests/studies/test_cli.py`` runs 25 more through the installed command, one process each.
Here, to keep 60+ cases fast, the cases of one class run one after another in one fresh
process through :func:`paretune.studies.main` (the console script's function), each with its
own working directory and its own standard output and error (file descriptors 1 and 2 are
redirected, so nothing printed escapes the capture). Every case fails before training.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import pytest

EXE = shutil.which("paretune")
pytestmark = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

#: Runs the cases of one class in one process: each in its folder, its output captured.
DRIVER = r"""
import json, os, sys, traceback
from paretune.studies import main

cases = json.loads(open(sys.argv[1]).read())
codes = []
for case in cases:
    os.chdir(case["cwd"])
    sys.stdout.flush(); sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    out = os.open("stdout.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = os.open("stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 1); os.dup2(err, 2)
    try:
        code = main(case["argv"])
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = -1
    sys.stdout.flush(); sys.stderr.flush()
    os.dup2(saved[0], 1); os.dup2(saved[1], 2)
    for fd in (out, err, *saved):
        os.close(fd)
    codes.append(code)
open(sys.argv[2], "w").write(json.dumps(codes))
"""

HEAD = 'name = "bad"\ntask = "synthetic"\ntask_options = { n_samples = 60 }\nn_trials = 1\n'
SPACE = "[space]\nlr = 0.01\nepochs = 1\n"
GOOD = HEAD + SPACE
#: The study every storage and ``select`` case points at: it must come out untouched.
KEPT = 'name = "kept"\ntask = "synthetic"\ntask_options = { n_samples = 80 }\nn_trials = 2\n'
KEPT_SPACE = "[space]\nlr = { low = 1e-3, high = 0.1, log = true }\nepochs = 1\n"
KEPT_DB = "sqlite:///{kept}/runs/kept.db"
HUGE = "x" * 10_000_000  # the 10 MB value of the issue
LONG = "x" * 100_000


class Case(NamedTuple):
    """One bad input: its class, the files in its folder, the arguments after ``paretune``
    (``{kept}`` is the folder of the kept study), the exit code and the error's pattern."""

    kind: str
    files: dict[str, str]
    argv: list[str]
    pattern: str
    code: int = 2


def _file(text: str) -> dict[str, str]:
    return {"s.toml": text}


def _run(text: str, *flags: str, pattern: str, code: int = 2) -> Case:
    return Case("study-file", _file(text), ["run", "s.toml", *flags], pattern, code)


def _flag(*flags: str, pattern: str) -> Case:
    return Case("flags", _file(GOOD), ["run", "s.toml", *flags], pattern)


def _storage(url: str, pattern: str, *, command: str = "run", text: str = GOOD) -> Case:
    argv = (
        [command, "s.toml", "--storage", url]
        if command == "run"
        else [command, "--storage", url, "--study", "kept"]
    )
    return Case("storage", _file(text), argv, pattern)


def _select(*flags: str, pattern: str, code: int = 2) -> Case:
    argv = ["select", "--storage", KEPT_DB, "--study", "kept", *flags]
    return Case("select", {}, argv, pattern, code)


CASES: dict[str, Case] = {
    # --- command-line flags ------------------------------------------------------------------
    "flag-n-trials-negative": _flag(
        "--n-trials", "-3", pattern=r"--n-trials: must be an integer >= 1 \(got -3\)"
    ),
    "flag-n-trials-float": _flag(
        "--n-trials", "1.5", pattern=r"argument --n-trials: invalid int value: '1\.5'"
    ),
    "flag-jobs-zero": _flag("--jobs", "0", pattern=r"--jobs: must be an integer >= 1 \(got 0\)"),
    "flag-jobs-word": _flag(
        "--jobs", "many", pattern=r"argument --jobs: invalid int value: 'many'"
    ),
    "flag-seed-negative": _flag(
        "--seed", "-1", pattern=r"--seed: must be an integer in \[0, 4294967295\] \(got -1\)"
    ),
    "flag-seed-too-large": _flag(
        "--seed",
        "4294967296",
        pattern=r"--seed: must be an integer in \[0, 4294967295\] \(got 4294967296\)",
    ),
    "flag-timeout-zero": _flag(
        "--timeout", "0", pattern=r"argument --timeout: must be a duration > 0"
    ),
    "flag-timeout-unit": _flag("--timeout", "10x", pattern=r"argument --timeout: .*\(got '10x'\)"),
    "flag-max-total-epochs-zero": _flag(
        "--max-total-epochs", "0", pattern=r"--max-total-epochs: must be an integer >= 1 \(got 0\)"
    ),
    "flag-backend-empty": _flag(
        "--backend", "", pattern=r"--backend: must be one of \"local\", \"ray\" \(got \"\"\)"
    ),
    "flag-device-cuda-absent": _flag(
        "--device", "cuda:7", pattern=r"--device: is not usable on this machine \(got \"cuda:7\"\)"
    ),
    "flag-device-mps": _flag(
        "--device", "mps", pattern=r"--device: must be \"auto\", .* or \"cuda:N\" \(got \"mps\"\)"
    ),
    "flag-device-upper": _flag(
        "--device", "CPU", pattern=r"--device: must be \"auto\", .*\(got \"CPU\"\)"
    ),
    "flag-workers-zero": _flag(
        "--workers-per-trial",
        "0",
        pattern=r"--workers-per-trial: must be an integer >= 1 \(got 0\)",
    ),
    "flag-gpus-nan": _flag(
        "--backend",
        "ray",
        "--gpus-per-trial",
        "nan",
        pattern=r"--gpus-per-trial: must be a finite number >= 0\.0 \(got nan\)",
    ),
    "flag-cpus-zero": _flag(
        "--backend",
        "ray",
        "--cpus-per-trial",
        "0",
        pattern=r"--cpus-per-trial: must be an integer >= 1 \(got 0\)",
    ),
    "flag-max-concurrent-zero": _flag(
        "--backend",
        "ray",
        "--max-concurrent",
        "0",
        pattern=r"--max-concurrent: must be an integer >= 1 \(got 0\)",
    ),
    "flag-unknown": _flag("--n-trails", "3", pattern=r"unrecognized arguments: --n-trails 3"),
    "flag-study-missing": Case(
        "flags", {}, ["run"], r"the following arguments are required: STUDY"
    ),
    "flag-study-a-folder": Case("flags", {"d/x.toml": GOOD}, ["run", "d"], r"d: is not a file"),
    "flag-status-names-nothing": Case(
        "flags", {}, ["status"], r"name a study: STUDY .*or --storage URL --study NAME"
    ),
    "flag-report-importance": Case(
        "flags",
        _file(GOOD),
        ["report", "s.toml", "--importance-trials", "2"],
        r"--importance-trials must be an integer >= 3 \(got 2\)",
    ),
    "flag-report-output-folder": Case(
        "flags",
        {"out/keep.txt": "x"},
        ["report", "--storage", KEPT_DB, "--study", "kept", "-o", "out"],
        r"-o: out is a folder; name the HTML file to write \(out/kept\.html\)",
    ),
    "flag-trials-format": Case(
        "flags",
        {},
        ["trials", "--storage", KEPT_DB, "--study", "kept", "--format", "xml"],
        r"argument --format: invalid choice: 'xml'",
    ),
    # --- storage URLs: the kept study must come out untouched ------------------------------
    "storage-scheme-redis": _storage(
        "redis://localhost/0", r"--storage: is not usable \(got \"redis://localhost/0\"\)"
    ),
    "storage-scheme-upper-case": _storage(
        "SQLITE:///runs/u.db", r"must write its scheme in lower case \(sqlite://\.\.\.\)"
    ),
    "storage-sqlite-query": _storage(
        "sqlite:///runs/x.db?mode=ro", r"by its plain path, without a query string or %-escapes"
    ),
    "storage-sqlite-escapes": _storage(
        "sqlite:///runs/%2e%2e/y.db", r"by its plain path, without a query string or %-escapes"
    ),
    "storage-empty": _storage("", r"--storage: must be a non-empty string \(got \"\"\)"),
    "storage-sqlite-no-path": _storage(
        "sqlite:///", r"--storage: is not usable \(got \"sqlite:///\"\)"
    ),
    "storage-journal-no-path": _storage(
        "journal:///", r"--storage: is not usable \(got \"journal:///\"\)"
    ),
    "storage-plain-path": _storage(
        "runs/kept.db", r"--storage: is not usable \(got \"runs/kept\.db\"\)"
    ),
    "storage-file-scheme": _storage(
        "file:///tmp/x.db", r"--storage: is not usable \(got \"file:///tmp/x\.db\"\)"
    ),
    "storage-postgres-malformed": _storage(
        "postgresql://::::/x", r"--storage: is not usable \(got \"postgresql://::::/x\"\): Port"
    ),
    "storage-status-missing-file": _storage(
        "sqlite:///nowhere.db", r"no study 'kept' yet: nowhere\.db does not exist", command="status"
    ),
    "flag-report-output-unwritable": Case(
        "flags",
        {},
        ["report", "--storage", KEPT_DB, "--study", "kept", "-o", "/proc/r.html"],
        r"-o /proc/r\.html: cannot be written \(No such file or directory\)",
    ),
    "flag-trials-output-unwritable": Case(
        "flags",
        {},
        ["trials", "--storage", KEPT_DB, "--study", "kept", "-o", "/proc/t.csv"],
        r"-o /proc/t\.csv: cannot be written \(No such file or directory\)",
    ),
    "storage-report-missing-study": _storage(
        KEPT_DB.replace("kept.db", "other.db"),
        r"no study 'kept' yet: .*other\.db does not exist",
        command="report",
    ),
    "storage-select-missing-study": Case(
        "storage",
        {},
        ["select", "--storage", KEPT_DB, "--study", "nope"],
        r"no study 'nope' in sqlite:///.*kept\.db",
    ),
    "storage-kept-other-space": _storage(
        KEPT_DB,
        r"space\.lr = 0\.5 differs: the study 'kept' .* was created with",
        text=KEPT + "[space]\nlr = 0.5\nepochs = 1\n",
    ),
    "storage-kept-other-task": _storage(
        KEPT_DB,
        r"s\.toml: task = \"digits-mlp\" differs: the study 'kept' .* was created with "
        r"\"synthetic\"",
        text=KEPT.replace('"synthetic"', '"digits-mlp"').replace(
            "task_options = { n_samples = 80 }\n", ""
        )
        + KEPT_SPACE,
    ),
    "storage-kept-other-task-options": _storage(
        KEPT_DB,
        r"s\.toml: task_options = \{ n_samples = 90 \} differs: .*\{ n_samples = 80 \}",
        text=KEPT.replace("80", "90") + KEPT_SPACE,
    ),
    "storage-kept-other-data-dir": _storage(
        KEPT_DB,
        r"s\.toml: data_dir = \"/tmp\" differs: .* was created with \(not set\);",
        text=KEPT + 'data_dir = "/tmp"\n' + KEPT_SPACE,
    ),
    "storage-kept-other-objectives": _storage(
        KEPT_DB,
        r"objectives = \[\"accuracy\", \"size_bits\"\] differs",
        text=KEPT + 'objectives = ["accuracy", "size_bits"]\n' + KEPT_SPACE,
    ),
    "storage-key-a-number": _run(
        HEAD + "storage = 5\n" + SPACE,
        pattern=r"s\.toml: storage must be a non-empty string \(got 5\)",
    ),
    "storage-jobs-on-sqlite": _run(
        HEAD + "jobs = 2\n" + SPACE, pattern=r"s\.toml: jobs must be 1 with a SQLite storage"
    ),
    # --- study files: TOML, types, ranges, unknown keys, depth, size ------------------------
    "toml-duplicate-key": _run(
        HEAD + 'name = "again"\n' + SPACE, pattern=r"s\.toml: is not valid TOML: .*"
    ),
    "toml-unterminated-string": _run('name = "bad\n', pattern=r"s\.toml: is not valid TOML: .*"),
    "toml-not-utf8": Case(
        "study-file", {}, ["run", "bin.toml"], r"bin\.toml: cannot be read: .*utf-8"
    ),
    "toml-empty": _run("", pattern=r"s\.toml: has no task"),
    "toml-nested-5000": _run(
        HEAD + "[space]\nlr = " + "[" * 5000 + "1" + "]" * 5000 + "\n",
        pattern=r"s\.toml: nests arrays or tables too deeply to be read \(at most 16 levels\)",
    ),
    "toml-nested-30": _run(
        HEAD + "[space]\nlr = " + "[" * 30 + "1" + "]" * 30 + "\n",
        pattern=r"s\.toml: space\.lr\[0\].* nests arrays or tables more than 16 levels deep",
    ),
    "huge-name": _run(
        f'name = "{LONG}"\ntask = "synthetic"\n' + SPACE,
        pattern=r"s\.toml: name must be a name of at most 512 characters "
        r"\(got \"x{79}… \(100002 chars\)\)$",
    ),
    "huge-file": _run(
        HEAD + f'[space]\noptimizer = "{HUGE}"\n',
        pattern=r"s\.toml: is 100001\d\d bytes; a study file holds at most 1048576 bytes",
    ),
    "huge-choice": _run(
        HEAD + f'[space]\noptimizer = "{LONG}"\n',
        pattern=r"s\.toml: space\.optimizer is not allowed \(got \"x{79}… \(100002 chars\)\)",
    ),
    "huge-key": _run(
        HEAD + LONG + " = 1\n" + SPACE,
        pattern=r"s\.toml: x{80}… \(100000 chars\) is not a known key",
    ),
    "huge-list": _run(
        HEAD + "[space]\nbatch_size = [" + ", ".join(["0"] * 100_000) + "]\n",
        pattern=r"s\.toml: space\.batch_size\[0\] ",
    ),
    "type-n-trials-string": _run(
        HEAD.replace("n_trials = 1", 'n_trials = "ten"') + SPACE,
        pattern=r"s\.toml: n_trials must be an integer >= 1 \(got \"ten\"\)",
    ),
    "type-n-trials-bool": _run(
        HEAD.replace("n_trials = 1", "n_trials = true") + SPACE,
        pattern=r"s\.toml: n_trials must be an integer >= 1 \(got true\)",
    ),
    "type-seed-float": _run(
        HEAD + "seed = 1.5\n" + SPACE,
        pattern=r"s\.toml: seed must be an integer in \[0, 4294967295\] \(got 1\.5\)",
    ),
    "type-name-number": _run(
        'name = 5\ntask = "synthetic"\n' + SPACE, pattern=r"s\.toml: name must be .*\(got 5\)"
    ),
    "type-objectives-empty": _run(
        HEAD + "objectives = []\n" + SPACE, pattern=r"s\.toml: objectives must be .*\(got \[\]\)"
    ),
    "type-objectives-repeated": _run(
        HEAD + 'objectives = ["accuracy", "accuracy"]\n' + SPACE,
        pattern=r"s\.toml: objectives\[1\] repeats the objective \"accuracy\"",
    ),
    "type-task-options-number": _run(
        HEAD.replace("task_options = { n_samples = 60 }", "task_options = 5") + SPACE,
        pattern=r"s\.toml: task_options must be a table \(got 5\)",
    ),
    "type-device-number": _run(
        HEAD + "device = 5\n" + SPACE, pattern=r"s\.toml: device must be \"auto\", .*\(got 5\)"
    ),
    "type-data-dir-number": _run(
        HEAD + "data_dir = 5\n" + SPACE,
        pattern=r"s\.toml: data_dir must be a non-empty string \(got 5\)",
    ),
    "type-timeout-negative": _run(
        HEAD + "timeout = -1\n" + SPACE, pattern=r"s\.toml: timeout must be a duration > 0"
    ),
    "unknown-sampler-option": _run(
        HEAD + 'sampler = { name = "nsga2", populaton_size = 4 }\n' + SPACE,
        pattern=r"s\.toml: sampler is not usable .*Unknown option 'populaton_size'.*"
        r"population_size",
    ),
    "mo-asha-cost-first": _run(
        HEAD + 'objectives = ["size_bits", "accuracy"]\npruner = "mo-asha"\n' + SPACE,
        pattern=r"s\.toml: pruner is not usable \(got \"mo-asha\"\): The mo-asha pruner ranks "
        r"trials by one metric and costs; the study's first objective must be 'accuracy' .*"
        r"Got \['size_bits', 'accuracy'\] instead\.",
    ),
    "unknown-sampler-no-name": _run(
        HEAD + "sampler = { population_size = 4 }\n" + SPACE,
        pattern=r"s\.toml: sampler needs 'name'",
    ),
    "unknown-ray-key": _run(
        HEAD + 'backend = "ray"\n[ray]\ngpus = 1\n' + SPACE,
        pattern=r"s\.toml: ray\.gpus is not a known key",
    ),
    "space-fp16-on-cpu": _run(
        HEAD + 'device = "cpu"\n[space]\nlr = 0.01\nepochs = 1\nprecision = "fp16"\n',
        pattern=r"s\.toml: space\.precision cannot use \"fp16\" on the CPU this run trains on "
        r"\(device = \"cpu\"\): fp16 needs a CUDA device",
    ),
    "ray-address-unreachable": _run(
        HEAD + 'backend = "ray"\n[ray]\naddress = "127.0.0.1:1"\n' + SPACE,
        pattern=r"s\.toml: Cannot reach the Ray cluster at '127\.0\.0\.1:1': nothing answers "
        r"there \(Connection refused\)\. Start it \(ray start --head\)",
    ),
    "unknown-tracking-key": _run(
        HEAD + "[tracking]\nwandb = 1\n" + SPACE,
        pattern=r"s\.toml: tracking\.wandb is not a known key",
    ),
    "unknown-range-key": _run(
        HEAD + "[space]\nlr = { low = 0.1, high = 0.5, lg = true }\n",
        pattern=r"s\.toml: space\.lr\.lg is not a known key \(did you mean 'log'\?\)",
    ),
    "unknown-task-option": _run(
        HEAD.replace("n_samples = 60", "n_sample = 60") + SPACE,
        pattern=r"s\.toml: task_options?.*n_sample",
    ),
    "missing-space": _run(HEAD, pattern=r"s\.toml: has no \[space\] table"),
    "range-no-high": _run(
        HEAD + "[space]\nlr = { low = 0.1 }\n", pattern=r"s\.toml: space\.lr needs 'high'"
    ),
    "range-reversed": _run(
        HEAD + "[space]\nlr = { low = 0.5, high = 0.1 }\n",
        pattern=r"s\.toml: space\.lr\.high must be >= low = 0\.5 \(got 0\.1\)",
    ),
    "range-lr-overflow": _run(
        HEAD + "[space]\nlr = { low = 1e-3, high = 1e308, log = true }\nepochs = 1\n",
        pattern=r"s\.toml: space\.lr\.high must be a number between .*3\.4028234663852886e\+38"
        r".*\(got 1e\+308\)",
    ),
    "range-lr-fixed-overflow": _run(
        HEAD + "[space]\nlr = 1e39\nepochs = 1\n",
        pattern=r"s\.toml: space\.lr must be a number between .*\(got 1e\+39\)",
    ),
    "range-epochs-2-63": _run(
        HEAD + "[space]\nlr = 0.01\nepochs = 9223372036854775807\n",
        pattern=r"s\.toml: space\.epochs must be an integer <= 2147483647 "
        r"\(got 9223372036854775807\)",
    ),
    "range-epochs-range-huge": _run(
        HEAD + "[space]\nlr = 0.01\nepochs = { low = 1, high = 9223372036854775807 }\n",
        pattern=r"s\.toml: space\.epochs\.high must be an integer <= 2147483647",
    ),
    "range-batch-choices-huge": _run(
        HEAD + "[space]\nbatch_size = [32, 4294967296]\nepochs = 1\n",
        pattern=r"s\.toml: space\.batch_size\[1\] must be an integer <= 2147483647",
    ),
    "range-epochs-zero": _run(
        HEAD + "[space]\nepochs = 0\n", pattern=r"s\.toml: space\.epochs is not allowed \(got 0\)"
    ),
    "range-epochs-float": _run(
        HEAD + "[space]\nepochs = 1.5\n",
        pattern=r"s\.toml: space\.epochs must be an integer \(got 1\.5\)",
    ),
    "range-lr-nan": _run(
        HEAD + "[space]\nlr = nan\n",
        pattern=r"s\.toml: space\.lr must be a finite number \(got nan\)",
    ),
    "range-lr-inf": _run(
        HEAD + "[space]\nlr = { low = 1e-3, high = inf }\n",
        pattern=r"s\.toml: space\.lr\.high must be",
    ),
    "range-log-and-step": _run(
        HEAD + "[space]\nlr = { low = 1e-3, high = 0.1, log = true, step = 0.01 }\n",
        pattern=r"s\.toml: space\.lr cannot have both log = true and a step",
    ),
    "range-on-a-string": _run(
        HEAD + "[space]\nschedule = { low = 1, high = 2 }\n",
        pattern=r"s\.toml: space\.schedule cannot be a range",
    ),
    "choices-empty": _run(
        HEAD + "[space]\nbatch_size = []\n",
        pattern=r"s\.toml: space\.batch_size must be a non-empty list of choices",
    ),
    "choices-repeated": _run(
        HEAD + "[space]\nbatch_size = [32, 32]\n",
        pattern=r"s\.toml: space\.batch_size\[1\] repeats the choice 32",
    ),
    "choices-bits": _run(
        HEAD + "[space]\nbits = [4, 64]\n",
        pattern=r"s\.toml: space\.bits\[1\] is not allowed \(got 64\)",
    ),
    "choices-lr-word": _run(
        HEAD + '[space]\nlr = "fast"\n',
        pattern=r"s\.toml: space\.lr must be a number \(got \"fast\"\)",
    ),
    # --- select arguments --------------------------------------------------------------------
    "select-unknown-cost": _select("--max", "speed=1", pattern=r"--max speed=1: .*speed"),
    "select-cost-no-value": _select(
        "--max", "size_bits", pattern=r"--max size_bits: A limit must be written COST=VALUE"
    ),
    "select-cost-bad-number": _select("--max", "size_bits=lots", pattern=r"--max size_bits=lots: "),
    "select-cost-bad-unit": _select(
        "--max", "size_bits=5parsecs", pattern=r"--max size_bits=5parsecs: "
    ),
    "select-accuracy-word": _select("--min-accuracy", "high", pattern=r"--min-accuracy.*high"),
    "select-accuracy-over-100": _select("--min-accuracy", "150%", pattern=r"--min-accuracy.*150%"),
    "select-min-unknown-metric": _select("--min", "val_f1=0.5", pattern=r"--min val_f1=0\.5: "),
    "select-export-into-a-file": Case(
        "select",
        {"f.txt": "x"},
        ["select", "--storage", KEPT_DB, "--study", "kept", "--export", "f.txt"],
        r"--export f\.txt: f\.txt exists and is not a folder",
    ),
    "select-device-bad": _select(
        "--export",
        "out",
        "--device",
        "gpu",
        pattern=r"--device: is not usable on this machine \(got \"gpu\"\)",
    ),
    "select-no-study-named": Case(
        "select", {}, ["select", "--min-accuracy", "0.5"], r"name a study: STUDY"
    ),
    "select-storage-only": Case(
        "select", {}, ["select", "--storage", KEPT_DB], r"name a study: STUDY"
    ),
}


def _kept_trials(folder: Path) -> list[tuple[int, str, Any, Any]]:
    import optuna

    study = optuna.load_study(study_name="kept", storage=KEPT_DB.format(kept=folder))
    return [(t.number, t.state.name, t.values, t.params) for t in study.get_trials()]


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Any]]]:
    """A real study of two trials (one ``paretune run``), and its trials as stored."""
    folder = tmp_path_factory.mktemp("kept")
    (folder / "kept.toml").write_text(KEPT + KEPT_SPACE)
    assert EXE is not None
    ran = subprocess.run(
        [EXE, "run", "kept.toml", "--quiet"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    yield folder, _kept_trials(folder)


class Outcome(NamedTuple):
    code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def outcomes(
    kept: tuple[Path, list[Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Every case, one process per class (two processes at a time: two cores here)."""
    root = tmp_path_factory.mktemp("corpus")
    by_kind: dict[str, list[tuple[str, Path, list[str]]]] = {}
    for name, case in CASES.items():
        folder = root / name
        folder.mkdir()
        for file, text in case.files.items():
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            (folder / file).write_text(text)
        if name == "toml-not-utf8":
            (folder / "bin.toml").write_bytes(b'name = "\xff\xfe"\n')
        argv = [a.replace("{kept}", str(kept[0])) for a in case.argv]
        by_kind.setdefault(case.kind, []).append((name, folder, argv))

    def run_kind(kind: str) -> list[int]:
        cases = [{"cwd": str(folder), "argv": argv} for _, folder, argv in by_kind[kind]]
        (root / f"{kind}.json").write_text(json.dumps(cases))
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, str(root / f"{kind}.json"), str(root / f"{kind}.out")],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        codes: list[int] = json.loads((root / f"{kind}.out").read_text())
        return codes

    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = dict(zip(by_kind, pool.map(run_kind, by_kind), strict=True))
    results: dict[str, Outcome] = {}
    for kind, entries in by_kind.items():
        for (name, folder, _), code in zip(entries, codes[kind], strict=True):
            results[name] = Outcome(
                code,
                (folder / "stdout.txt").read_text(errors="replace"),
                (folder / "stderr.txt").read_text(errors="replace"),
            )
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_exit_2(outcomes: dict[str, Outcome], name: str) -> None:
    case, outcome = CASES[name], outcomes[name]
    assert outcome.code == case.code, (outcome.stdout[-2000:], outcome.stderr[-2000:])
    assert "Traceback" not in outcome.stderr + outcome.stdout
    lines = [line for line in outcome.stderr.splitlines() if line.startswith("paretune")]
    assert len(lines) == 1, outcome.stderr[-2000:]
    assert re.search(case.pattern.replace("{kept}", ""), lines[0]), lines[0][:2000]
    assert len(lines[0]) < 2000, "a value must be cut in the message"


@pytest.mark.slow
def test_the_kept_study_is_untouched_by_every_storage_case(
    kept: tuple[Path, list[Any]], outcomes: dict[str, Outcome]
) -> None:
    folder, before = kept
    assert outcomes  # every case has run
    assert _kept_trials(folder) == before


def test_the_corpus_covers_every_class_with_60_cases() -> None:
    kinds = {case.kind for case in CASES.values()}
    assert kinds == {"flags", "storage", "study-file", "select"}
    assert len(CASES) >= 60
