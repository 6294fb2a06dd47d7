"""The ``paretune`` command's conventions, through the installed command in subprocesses.

``--version``; global flags before or after the subcommand; ``--study``/``--storage`` on every
command that reads a study; one exit code per situation; ``paretune trials`` as CSV and JSON;
the progress bar (ETA, per-epoch moves); human-friendly numbers; shell completion.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import itertools
import json
import math
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from paretune.search import OutcomeState, Progress, StudySpec, TrialOutcome, run_local
from paretune.search.report import format_quantity, parse_quantity
from paretune.spaces import FloatDistribution, StrategySpace
from paretune.studies import ProgressBar, format_number

EXE = shutil.which("paretune")
pytestmark = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

TINY = """\
name = "tiny"
task = "synthetic"
task_options = { n_samples = 200 }
objectives = ["accuracy", "size_bits"]
sampler = "random"
n_trials = 3
seed = 3

[space]
optimizer = ["sgd", "momentum", "adam"]
lr = { low = 1e-4, high = 0.3, log = true }
prune_rate = { low = 0.0, high = 0.5 }
bits = [4, 8, 32]
epochs = 2
"""

READERS = ("status", "report", "select", "trials")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def paretune(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    return subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env()
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A finished 3-trial study (2 epochs each) in ``folder/runs/tiny.db``, and its run."""
    folder = tmp_path_factory.mktemp("conventions")
    (folder / "tiny.toml").write_text(TINY)
    done = paretune("run", "tiny.toml", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder, done


def _storage(folder: Path) -> str:
    return f"sqlite:///{folder}/runs/tiny.db"


def _trials(folder: Path) -> list[Any]:
    import optuna

    study = optuna.load_study(study_name="tiny", storage=_storage(folder))
    return list(study.get_trials(deepcopy=False))


# --- 1. --version ------------------------------------------------------------------------------


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    done = paretune("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"paretune {importlib.metadata.version('paretune')}\n"


# --- 2. global flags anywhere ------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_traceback_is_taken_before_or_after_the_subcommand(tmp_path: Path, where: str) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "bad.db").write_text("this file is not an SQLite database")
    command = ["status", "--storage", "sqlite:///runs/bad.db", "--study", "x"]
    args = ["--traceback", *command] if where == "before" else [*command, "--traceback"]
    shown = paretune(*args, cwd=tmp_path)
    assert shown.returncode == 1, shown.stderr  # a storage that cannot be read: failed
    assert "Traceback (most recent call last)" in shown.stderr
    assert "paretune: error:" in shown.stderr and "not a database" in shown.stderr
    quiet = paretune(*command, cwd=tmp_path)
    assert quiet.returncode == 1
    # a storage file problem is named in one line; no traceback (and no hint: it is not a bug)
    assert "Traceback" not in quiet.stderr
    assert quiet.stderr.strip().splitlines() == [
        "paretune: error: cannot use storage file runs/bad.db: not a database "
        "(SQLite: file is not a database)"
    ]


# --- 3. --study / --storage on every command that reads a study --------------------------------


def _reader_args(command: str, folder: Path) -> list[str]:
    extra = {"report": ["-o", str(folder / "report.html")], "trials": ["--format", "json"]}
    return [command, *extra.get(command, [])]


@pytest.mark.parametrize("command", READERS)
def test_every_reader_takes_storage_and_study(
    tiny: tuple[Path, Any], tmp_path: Path, command: str
) -> None:
    folder, _ = tiny
    # another folder, no study file: the storage URL and the name are enough
    done = paretune(
        *_reader_args(command, tmp_path),
        "--storage",
        _storage(folder),
        "--study",
        "tiny",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    said = {"status": "study tiny in", "report": "study tiny:", "select": "chosen: trial"}
    assert said.get(command, '"study": "tiny"') in done.stdout


@pytest.mark.parametrize("command", READERS)
def test_study_overrides_the_study_files_name(tiny: tuple[Path, Any], command: str) -> None:
    folder, _ = tiny
    done = paretune(*_reader_args(command, folder), "tiny.toml", "--study", "other", cwd=folder)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "paretune: error: no study 'other' in sqlite:///runs/tiny.db; "
        "start it with: paretune run tiny.toml"
    ]


# --- 4. one exit code per situation ------------------------------------------------------------


@pytest.mark.parametrize("command", READERS)
def test_a_missing_study_is_bad_input_in_every_command(
    tiny: tuple[Path, Any], command: str
) -> None:
    folder, _ = tiny
    done = paretune(
        *_reader_args(command, folder), "--storage", _storage(folder), "--study", "nope", cwd=folder
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"paretune: error: no study 'nope' in {_storage(folder)}; start it with: paretune run STUDY"
    ]


@pytest.mark.parametrize("command", READERS)
def test_a_study_file_never_run_is_bad_input(tmp_path: Path, command: str) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    done = paretune(*_reader_args(command, tmp_path), "tiny.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "paretune: error: no study 'tiny' yet: runs/tiny.db does not exist; "
        "start it with: paretune run tiny.toml"
    ]
    assert not (tmp_path / "runs").exists()  # reading never creates a storage


@pytest.mark.parametrize(
    "args",
    [["select", "tiny.toml"], ["trials", "tiny.toml", "--format", "json"], ["--help"]],
    ids=["select", "trials", "help"],
)
def test_a_closed_stdout_ends_quietly_with_0(tiny: tuple[Path, Any], args: list[str]) -> None:
    folder, _ = tiny
    assert EXE is not None
    process = subprocess.Popen(
        [EXE, *args], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before paretune writes a byte
    err = process.stderr.read().decode()
    assert process.wait(timeout=300) == 0, err
    assert err == ""


def test_head_in_a_shell_pipeline_exits_0(tiny: tuple[Path, Any]) -> None:
    folder, _ = tiny
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; '{EXE}' trials tiny.toml --format json | head -1"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "{\n" and done.stderr == ""


def test_a_bad_flag_value_exits_2(tiny: tuple[Path, Any]) -> None:
    folder, _ = tiny
    done = paretune("trials", "tiny.toml", "--format", "xml", cwd=folder)
    assert done.returncode == 2
    assert "invalid choice: 'xml'" in done.stderr


# --- 5. paretune trials ------------------------------------------------------------------------


def _same(text: str, value: Any) -> bool:
    """A CSV cell holds ``value`` exactly (full precision)."""
    if value is None:
        return text == ""
    if isinstance(value, bool | str):
        return text == str(value)
    if isinstance(value, int | float):
        return float(text) == value
    return bool(json.loads(text) == value)


def test_trials_csv_has_every_attribute_of_every_trial(tiny: tuple[Path, Any]) -> None:
    folder, _ = tiny
    done = paretune("trials", "tiny.toml", cwd=folder)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    trials = _trials(folder)
    assert [int(r["number"]) for r in rows] == [t.number for t in trials]
    for row, trial in zip(rows, trials, strict=True):
        assert row["state"] == trial.state.name == "COMPLETE"
        assert float(row["values_accuracy"]) == trial.values[0]
        assert float(row["values_size_bits"]) == trial.values[1]
        assert datetime.fromisoformat(row["datetime_start"]) == trial.datetime_start
        assert datetime.fromisoformat(row["datetime_complete"]) == trial.datetime_complete
        assert float(row["duration_s"]) == pytest.approx(trial.duration.total_seconds())
        for name, value in trial.params.items():
            assert _same(row[f"params_{name}"], value), name
        for name, value in trial.user_attrs.items():
            assert _same(row[f"user_attrs_{name}"], value), name
        curve = json.loads(row["user_attrs_curve"])  # the per-epoch curve: a JSON string
        assert [p["epoch"] for p in curve] == [1, 2]
        steps = json.loads(row["intermediate_values"] or "{}")
        assert {int(k): v for k, v in steps.items()} == trial.intermediate_values
    assert {"user_attrs_strategy", "user_attrs_test_accuracy", "user_attrs_size_bits"} <= set(
        rows[0]
    )


def test_trials_json_to_a_file(tiny: tuple[Path, Any], tmp_path: Path) -> None:
    folder, _ = tiny
    out = tmp_path / "deep" / "trials.json"
    done = paretune("trials", "tiny.toml", "--format", "json", "-o", str(out), cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"3 trials of study tiny written to {out}\n"
    document = json.loads(out.read_text())
    assert document["objectives"] == ["accuracy", "size_bits"]
    assert document["directions"] == ["maximize", "minimize"]
    trials = _trials(folder)
    assert len(document["trials"]) == len(trials)
    for record, trial in zip(document["trials"], trials, strict=True):
        assert record["number"] == trial.number and record["state"] == "COMPLETE"
        assert record["values"] == {"accuracy": trial.values[0], "size_bits": trial.values[1]}
        assert record["params"] == trial.params  # full precision
        assert record["user_attrs"] == trial.user_attrs
        assert isinstance(record["user_attrs"]["curve"], list)
        assert record["duration_s"] == pytest.approx(trial.duration.total_seconds())
        steps = {int(k): v for k, v in record["intermediate_values"].items()}
        assert steps == trial.intermediate_values


# --- 6. progress -------------------------------------------------------------------------------

_LINE = re.compile(
    r"^(\d+)/3 trials: +(\d+)%\|.{10}\| \d\d:\d\d<(\d\d:\d\d|\?), "
    r"done=(\d)/3, pruned=0, failed=0, front=\d, epochs=(\d+)$"
)


def test_the_progress_bar_moves_per_epoch_with_an_eta(tiny: tuple[Path, Any]) -> None:
    _, done = tiny
    assert "\r" not in done.stderr  # not a terminal: one plain line per change
    lines = [m.groups() for m in map(_LINE.match, done.stderr.splitlines()) if m]
    assert len(lines) == len(done.stderr.splitlines()), done.stderr
    percents = [int(p) for _, p, _, _, _ in lines]
    assert percents == sorted(percents) and percents[-1] == 100
    # the bar moves while the first trial runs: one epoch of two is reported before it ends
    assert ("0", "17", "1") in [(d, p, e) for _, p, _, d, e in lines]
    assert lines[-1][3] == "3" and lines[-1][4] == "6"
    assert any(eta not in ("?", "") for _, _, eta, _, _ in lines)


def test_progress_bar_draws_one_line_per_change() -> None:
    out = io.StringIO()
    bar = ProgressBar(total=2, stream=out, epochs_per_trial=4)

    def state(complete: int, epochs: int) -> Progress:
        return Progress(
            n_trials=2,
            complete=complete,
            pruned=0,
            failed=0,
            running=1,
            front_size=complete,
            epochs_spent=4 * complete,
            elapsed_s=0.0,
            running_epochs=epochs,
        )

    for complete, epochs in ((0, 0), (0, 1), (0, 1), (0, 2), (1, 0), (1, 4), (2, 0)):
        bar.show(state(complete, epochs))
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    heads = [line.split("|")[0] for line in text.splitlines()]
    assert heads == [
        "0/2 trials:   0%",
        "0/2 trials:  12%",
        "0/2 trials:  25%",
        "1/2 trials:  50%",
        "1/2 trials:  98%",  # a running trial never fills its whole share
        "2/2 trials: 100%",
    ]


def test_a_budget_bar_counts_the_studys_epochs_as_the_closing_line_does() -> None:
    """A resumed study that had spent 6 of 18 epochs, then trials of 4 epochs; the last
    one started before the budget was reached and passes it."""
    out = io.StringIO()
    bar = ProgressBar(total=100, stream=out, epochs_per_trial=4, budget=18)
    for complete, running in ((1, 0), (2, 2), (4, 0), (5, 0)):
        bar.show(
            Progress(
                n_trials=100,
                complete=complete,
                pruned=0,
                failed=0,
                running=1 if running else 0,
                front_size=1,
                epochs_spent=2 + 4 * complete,
                elapsed_s=0.0,
                running_epochs=running,
            )
        )
    bar.close()
    lines = out.getvalue().splitlines()
    assert [line.split("|")[0] for line in lines] == [
        "6/18 epochs:  33%",
        "12/18 epochs:  67%",
        "18/18 epochs: 100%",
        "22/18 epochs: 100%",
    ]
    assert lines[-1].endswith("done=5, pruned=0, failed=0, front=1, epochs=22")


def test_a_study_with_nothing_to_run_draws_no_bar() -> None:
    out = io.StringIO()
    ProgressBar(total=3, stream=out).close()
    assert out.getvalue() == ""


def test_progress_stays_backward_compatible() -> None:
    old = Progress(
        n_trials=4, complete=1, pruned=1, failed=0, running=0, front_size=1, epochs_spent=9,
        elapsed_s=1.0,
    )  # fmt: skip
    assert old.running_epochs == 0 and old.epochs_run == 9 and old.done == 2


def _three_epochs(params: dict[str, Any], report: Any, checkpoint_dir: Any = None) -> TrialOutcome:
    for epoch in (1, 2, 3):
        report(epoch, {"val_accuracy": params["lr"]})
    return TrialOutcome(
        state=OutcomeState.COMPLETE,
        strategy=params,
        measurements={"val_accuracy": params["lr"], "epochs": 3},
    )


def test_run_local_reports_progress_per_epoch(tmp_path: Path) -> None:
    spec = StudySpec(
        name="epochs",
        storage=f"sqlite:///{tmp_path}/epochs.db",
        objectives=("accuracy",),
        sampler="random",
        space=StrategySpace(params={"lr": FloatDistribution(low=0.0, high=1.0)}),
    )
    seen: list[Progress] = []
    run_local(spec, objective_factory=lambda: _three_epochs, n_trials=2, progress=seen.append)
    moves = [(p.done, p.running_epochs, p.epochs_spent) for p in seen]
    assert moves == [
        (0, 0, 0),  # before the first trial
        (0, 1, 0),
        (0, 2, 0),
        (0, 3, 0),
        (1, 0, 3),  # the first trial ended
        (1, 1, 3),
        (1, 2, 3),
        (1, 3, 3),
        (2, 0, 6),
    ]
    assert [p.epochs_run for p in seen] == sorted(p.epochs_run for p in seen)


@pytest.mark.slow
def test_jobs_progress_moves_per_epoch(tmp_path: Path) -> None:
    # epochs long enough for the parent's poll (every 0.2 s) to see them: 20,000 samples,
    # about 0.16 s an epoch alone on this machine, longer on busy cores
    slower = TINY.replace("epochs = 2", "epochs = 3").replace(
        "n_samples = 200", "n_samples = 20000"
    )
    (tmp_path / "tiny.toml").write_text(slower)
    done = paretune("run", "tiny.toml", "--jobs", "2", "--storage", "journal:///runs/t.log",
                    cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    # epochs counted in the workers, seen by the parent while their trials run: the bar moves
    # with no trial ending (not necessarily before the first one ends: on 2 busy cores the
    # parent's poll can miss a trial's first epochs)
    shown = [
        (int(found[1]), int(found[2]))
        for line in done.stderr.splitlines()
        if (found := re.search(r"done=(\d+)/3, pruned=0, failed=0, front=\d+, epochs=(\d+)", line))
    ]
    moved = [(a, b) for a, b in itertools.pairwise(shown) if a[0] == b[0] and b[1] > a[1]]
    assert moved, done.stderr


# --- 7. human-friendly numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "digits", "shown"),
    [
        (0.027534892647275325, 3, "0.0275"),
        (1.2e-05, 4, "1.2e-05"),
        (0.00012345, 3, "0.000123"),
        (47.25, 4, "47.25"),
        (29176.0, 4, "29176"),
        (123456789.0, 3, "1.23e+08"),
        (-0.5, 3, "-0.5"),
        (0.99996, 3, "1"),
        (0.0, 3, "0"),
        (7, 3, "7"),
        (math.inf, 3, "inf"),
    ],
)
def test_format_number(value: float, digits: int, shown: str) -> None:
    assert format_number(value, digits=digits) == shown


def test_status_and_select_show_few_digits_and_json_keeps_all(tiny: tuple[Path, Any]) -> None:
    folder, _ = tiny
    trials = {t.number: t for t in _trials(folder)}
    shown = paretune("status", "tiny.toml", cwd=folder)
    assert shown.returncode == 0, shown.stderr
    table = shown.stdout.split("Pareto front (")[1].splitlines()
    head = table[1].split()
    for line in table[3:]:
        cells = dict(zip(head, line.split(), strict=False))
        lr = trials[int(cells["trial"])].params["lr"]
        assert cells["lr"] == format_number(lr, digits=3)
        size = trials[int(cells["trial"])].values[1]  # with its unit, right-aligned
        assert cells["size_bits"] == format_quantity(
            size, cost="size_bits", in_bytes=False
        ).replace(" ", "")
        assert cells["size_bits"].endswith("bit")
        assert parse_quantity(cells["size_bits"], cost="size_bits") == pytest.approx(size, rel=5e-3)
    chosen = paretune("select", "tiny.toml", cwd=folder)
    assert chosen.returncode == 0, chosen.stderr
    number = int(re.search(r"chosen: trial (\d+)", chosen.stdout).group(1))  # type: ignore[union-attr]
    lr = trials[number].params["lr"]
    assert f"  lr              {format_number(lr, digits=3)}\n" in chosen.stdout
    as_json = paretune("select", "tiny.toml", "--json", cwd=folder)
    assert json.loads(as_json.stdout)["chosen"]["strategy"]["lr"] == lr


# --- 8. shell completion -----------------------------------------------------------------------


def _complete(line: str, cwd: Path) -> list[str]:
    """Ask the installed command for completions as the shell hook does: argcomplete's
    environment protocol, the answer on file descriptor 8, separated by vertical tabs."""
    pytest.importorskip("argcomplete", reason="the 'completion' extra is not installed")
    env = _env(_ARGCOMPLETE="1", COMP_LINE=line, COMP_POINT=str(len(line)))
    done = subprocess.run(
        ["bash", "-c", '"$0" 8>&1 9>/dev/null 1>/dev/null 2>&1 </dev/null', str(EXE)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return [word.strip() for word in done.stdout.split("\013")]


def test_completion_of_subcommands_and_flags(tmp_path: Path) -> None:
    assert _complete("paretune st", tmp_path) == ["status"]
    assert set(_complete("paretune ", tmp_path)) >= {"run", "status", "trials", "select"}
    assert _complete("paretune trials x --form", tmp_path) == ["--format"]
    assert set(_complete("paretune trials x --format ", tmp_path)) == {"csv", "json"}
    assert "--traceback" in _complete("paretune status x --", tmp_path)


def test_completion_through_the_readme_shell_line(tmp_path: Path) -> None:
    pytest.importorskip("argcomplete", reason="the 'completion' extra is not installed")
    if shutil.which("register-python-argcomplete") is None:
        pytest.skip("register-python-argcomplete is not on PATH")
    script = (
        'eval "$(register-python-argcomplete paretune)"; '
        'COMP_LINE="paretune tr"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(paretune tr); '
        'COMP_CWORD=1; _python_argcomplete paretune; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env=_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["trials"]


# --- the README's "The `paretune` command" section ---------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## The `paretune` command\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_documents_every_convention() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## The `paretune` command\n", 1)[1].split("\n## ", 1)[0]
    for command in ("paretune trials STUDY", "paretune --version", "register-python-argcomplete"):
        assert command in section
    codes = re.findall(r"^\| (\d+) \| ", section, flags=re.MULTILINE)
    assert codes == ["0", "1", "2", "3", "130", "143"]


@pytest.mark.slow
def test_the_readme_commands_run(tmp_path: Path) -> None:
    # a tiny study under the built-in study's name and storage, so that the examples read it
    (tmp_path / "tiny.toml").write_text(TINY.replace('name = "tiny"', 'name = "digits-quick"'))
    assert paretune("run", "tiny.toml", "--quiet", cwd=tmp_path).returncode == 0
    blocks = _readme_blocks()
    assert len(blocks) == 2 and "register-python-argcomplete" in blocks[1]
    if shutil.which("register-python-argcomplete") is None:
        blocks = blocks[:1]  # the completion extra is not installed
    for block in blocks:
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env=_env(),
        )
        assert done.returncode == 0, (block, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
    rows = list(csv.DictReader((tmp_path / "trials.csv").open(newline="")))
    assert len(rows) == 3


def test_a_failing_progress_callback_fails_the_run_not_the_trial(tmp_path: Path) -> None:
    spec = StudySpec(
        name="broken",
        storage=f"sqlite:///{tmp_path}/broken.db",
        objectives=("accuracy",),
        sampler="random",
        space=StrategySpace(params={"lr": FloatDistribution(low=0.0, high=1.0)}),
    )

    def progress(state: Progress) -> None:
        if state.running_epochs == 2:
            raise RuntimeError("the display broke")

    with pytest.raises(RuntimeError, match="the display broke"):
        run_local(spec, objective_factory=lambda: _three_epochs, n_trials=2, progress=progress)
    import optuna

    trials = optuna.load_study(study_name="broken", storage=spec.storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE"]  # the trial itself went on


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "x.toml", "--timeout", "0"], "argument --timeout: must be a duration > 0"),
        (["run", "x.toml", "--n-trials", "1.5"], "argument --n-trials: invalid int value: '1.5'"),
        (["run", "x.toml", "--fuse", "abc"], "argument --fuse: invalid int value: 'abc'"),
        (["trials", "x", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["bogus"], "argument COMMAND: invalid choice: 'bogus'"),
        (["run"], "the following arguments are required: STUDY"),
    ],
)
def test_a_flag_argparse_refuses_is_one_line_too(
    tmp_path: Path, argv: list[str], words: str
) -> None:
    done = paretune(*argv, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paretune: error: "), done.stderr
    assert words in lines[0] and lines[0].endswith("--help)")
