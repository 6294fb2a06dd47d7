"""``paretune select`` and the report say when front points differ by less than timing noise.

A study crafted with known latencies and measured spreads (issue 12, item 5): trials 0 and 1
are 5 % apart with a 10 % spread each (indistinguishable), trial 2 is far faster.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import optuna
import pytest
from paretune.search import build_report_data, make_storage, render_report_html
from paretune.search.report import NoiseSource
from paretune.search.study import create_synthetic_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

NAME = "timed"
#: (accuracy, latency_ms, latency_ms_spread) per trial, in trial-number order.
TRIALS = [(0.90, 1.00, 0.10), (0.95, 1.05, 0.10), (0.80, 0.40, 0.01), (0.85, 2.00, 0.10)]
NOTE = "latency_ms: the chosen trial 1 (1.05 ms) and trial 0 (1 ms) differ by less than the "


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('noise')}/timed.db"
    study = create_synthetic_study(
        storage=make_storage(url), study_name=NAME, objectives=("accuracy", "latency_ms")
    )
    for number, (accuracy, latency, spread) in enumerate(TRIALS):
        attrs = {
            "val_accuracy": accuracy,
            "test_accuracy": accuracy,
            "latency_ms": latency,
            "latency_ms_spread": spread,
            "size_bits": 1000.0 * (number + 1),
            "params": 1000 + number,  # no two trials did equal work
            "epochs": 3,
            "strategy": {"optimizer": "adam", "lr": 0.01 * (number + 1), "epochs": 3},
        }
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE,
                values=[accuracy, latency],
                user_attrs=attrs,
            )
        )
    return url


def _select(storage: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("paretune")
    prefix = [command] if command else [sys.executable, "-m", "paretune.studies"]
    return subprocess.run(
        [*prefix, "select", "--storage", storage, "--study", NAME, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_select_says_the_chosen_point_is_within_the_noise_of_its_neighbour(storage: str) -> None:
    done = _select(storage)
    assert done.returncode == 0, done.stderr
    assert "chosen: trial 1 (most accurate)" in done.stdout
    (note,) = [line for line in done.stdout.splitlines() if line.startswith("note: ")]
    assert note.startswith("note: " + NOTE)
    assert "measured spread" in note and "equally good" in note


@pytest.mark.slow
def test_select_json_lists_the_noise_and_is_silent_when_it_does_not_apply(storage: str) -> None:
    done = _select(storage, "--json")
    assert done.returncode == 0, done.stderr
    (noise,) = json.loads(done.stdout)["timing_noise"]
    assert noise["cost"] == "latency_ms" and noise["source"] == "measured"
    assert [pair["trials"] for pair in noise["pairs"]] == [[0, 1]]
    assert noise["near_chosen"] == [0] and noise["note"].startswith(NOTE)

    fast = _select(storage, "--json", "--max", "latency_ms=0.5ms")  # trial 2, far from others
    (noise,) = json.loads(fast.stdout)["timing_noise"]
    assert json.loads(fast.stdout)["chosen"]["trial"] == 2
    assert noise["near_chosen"] == [] and noise["note"] == ""


@pytest.mark.slow
def test_the_report_notes_the_pair_under_the_latency_front(storage: str) -> None:
    data = build_report_data(optuna.load_study(study_name=NAME, storage=storage))
    (noise,) = data.timing
    assert noise.cost == "latency_ms" and noise.source is NoiseSource.MEASURED
    assert [(p.first, p.second) for p in noise.pairs] == [(0, 1)]
    html = render_report_html(data)
    expected = "latency_ms: trials 0 and 1 (1 ms vs 1.05 ms) differ by less than the timing noise"
    assert html.count(expected) == 1
    assert html.index(expected) > html.index('id="plot-front-0"')  # under the front plot
