"""``paretune report``: from a study file or from ``--storage --study``; escaped output name."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from paretune.search.study import add_synthetic_trials, create_synthetic_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

EVIL = "<script>alert(1)</script>"


def _paretune(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("paretune")
    prefix = [command] if command else [sys.executable, "-m", "paretune.studies"]
    return subprocess.run([*prefix, *args], cwd=folder, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    (root / "runs").mkdir()
    for name in ("mini", EVIL):
        study = create_synthetic_study(storage=f"sqlite:///{root}/runs/mini.db", study_name=name)
        add_synthetic_trials(study, n_trials=25, seed=3)
    (root / "mini.toml").write_text(
        'name = "mini"\ntask = "digits-mlp"\nobjectives = ["accuracy", "size_bits"]\n'
        'storage = "sqlite:///runs/mini.db"\n\n[space]\nbits = [2, 4, 8]\n'
    )
    return root


def test_report_from_a_study_file(folder: Path) -> None:
    done = _paretune(folder, "report", "mini.toml")
    assert done.returncode == 0, done.stderr
    path = folder / "reports" / "mini.html"
    assert path.is_file()
    assert str(path.resolve()) in done.stdout  # the last line says where the report is
    assert "strategies on the Pareto front" in done.stdout
    text = path.read_text(encoding="utf-8")
    assert "paretune report — mini" in text and "Pareto front" in text


def test_report_from_storage_only_with_an_evil_name(folder: Path) -> None:
    done = _paretune(
        folder, "report", "--storage", f"sqlite:///{folder}/runs/mini.db", "--study", EVIL,
        "-o", "out/evil.html",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = (folder / "out" / "evil.html").read_text(encoding="utf-8")
    assert EVIL not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    hover = text.split('id="paretune-hover">')[1].split("</script>")[0]
    assert isinstance(json.loads(hover), list)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--storage", "sqlite:///runs/none.db", "--study", "x"], "no study 'x' yet"),
        (["report", "--storage", "sqlite:///runs/mini.db", "--study", "x"], "no study 'x' in"),
        (["report"], "name a study"),
        (["report", "mini.toml", "--importance-trials", "1"], "--importance-trials"),
    ],
)
def test_bad_input_exits_2(
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    from paretune.studies import main

    monkeypatch.chdir(folder)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("paretune: error:") and message in err
    assert not (folder / "runs" / "none.db").exists()  # a report never creates a storage


def test_bad_input_message_from_the_installed_command(folder: Path) -> None:
    done = _paretune(folder, "report", "--storage", "sqlite:///runs/mini.db", "--study", "x")
    assert done.returncode == 2
    assert "paretune: error: no study 'x' in sqlite:///runs/mini.db" in done.stderr
    assert "Traceback" not in done.stderr
