"""Study-file defaults (issue 16): the benchmark's best sampler and pruner when only pruning
is asked for, ``n_trials`` until an epoch budget is spent, and what the front table shows."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

import optuna
import pytest
from paretune.search.pruning import MOAsha, MOAshaPruner, RungSpacing
from paretune.search.samplers import RungTPESampler
from paretune.studies import StudyConfig, load_config
from paretune.trainers import ReplayRun, Strategy, write_replay_table

EPOCHS = 6
GRID = {
    "optimizer": ["sgd", "adam"],
    "lr": [0.001, 0.01, 0.1],
    "bits": [2, 4, 8],
    "prune_rate": [0.0, 0.5, 0.8],
}


def _run(strategy: Strategy, index: int) -> ReplayRun:
    """A synthetic run: accuracy rises with the epoch, bits and lr, size with bits."""
    top = 0.5 + 0.05 * strategy.bits**0.5 + 0.1 * strategy.lr + 0.001 * index
    curve = [
        {"val_accuracy": top * (1 - 0.5 / epoch), "size_bits": 1000.0 * strategy.bits}
        for epoch in range(1, EPOCHS + 1)
    ]
    size = 1000.0 * strategy.bits * (1 - strategy.prune_rate)
    # no test accuracy, no latency, no params: a benchmark that recorded only these
    return ReplayRun(strategy=strategy, curve=curve, costs={"size_bits": size, "bitops": 1.0})


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = [
        _run(Strategy.from_dict({**dict(zip(GRID, values, strict=True)), "epochs": EPOCHS}), i)
        for i, values in enumerate(itertools.product(*GRID.values()))
    ]
    path = tmp_path_factory.mktemp("replay") / "grid.npz"
    write_replay_table(path, runs, source_task="synthetic")
    return path


def _study(table: Path, *lines: str, objectives: str = '["accuracy", "size_bits"]') -> str:
    space = "\n".join(f"{key} = {values}" for key, values in GRID.items())
    return "\n".join(
        [
            'name = "defaults"',
            f'task = "replay:{table}"',
            f"objectives = {objectives}",
            *lines,
            "[space]",
            space,
            f"epochs = {EPOCHS}",
            "",
        ]
    )


def load_config_of(workdir: Path, text: str) -> StudyConfig:
    (workdir / "study.toml").write_text(text)
    return load_config(str(workdir / "study.toml"))


def test_pruning_several_objectives_gets_rung_tpe_and_mo_asha_grace_2_eta_2(
    table: Path, workdir: Path
) -> None:
    config = load_config_of(workdir, _study(table, 'pruner = "mo-asha"'))
    assert config.spec.sampler == "rung-tpe" and dict(config.spec.sampler_options) == {}
    assert isinstance(config.spec.get_sampler(), RungTPESampler)
    pruner = config.spec.get_pruner()
    assert isinstance(pruner, MOAshaPruner)
    assert (pruner.core.min_epochs, pruner.core.reduction_factor) == (2, 2.0)
    assert pruner.core.rung_spacing is RungSpacing.FULL_STRETCH
    assert config.n_trials == 20 and not config.until_budget  # no budget: n_trials as before


@pytest.mark.parametrize(
    ("lines", "objectives", "sampler"),
    [
        ((), '["accuracy", "size_bits"]', "tpe"),  # no pruning: unchanged
        (('pruner = "median"',), '["accuracy"]', "tpe"),  # one objective: unchanged
        (('pruner = "mo-asha"',), '["accuracy"]', "tpe"),
        (('pruner = "mo-asha"', 'sampler = "nsga2"'), '["accuracy", "size_bits"]', "nsga2"),
        (('pruner = "mo-asha"', 'sampler = "tpe"'), '["accuracy", "size_bits"]', "tpe"),
    ],
)
def test_other_studies_and_named_samplers_are_unchanged(
    table: Path, workdir: Path, lines: tuple[str, ...], objectives: str, sampler: str
) -> None:
    config = load_config_of(workdir, _study(table, *lines, objectives=objectives))
    assert config.spec.sampler == sampler


def test_named_pruner_options_are_respected(table: Path, workdir: Path) -> None:
    named = 'pruner = { name = "mo-asha", min_epochs = 1, reduction_factor = 3 }'
    config = load_config_of(workdir, _study(table, named))
    pruner = config.spec.get_pruner()
    assert isinstance(pruner, MOAshaPruner)
    assert pruner.core == MOAsha(min_epochs=1, reduction_factor=3)
    assert config.spec.sampler == "rung-tpe"  # the sampler was not named: still the default


def test_an_epoch_budget_without_n_trials_runs_until_spent(table: Path, workdir: Path) -> None:
    budget = load_config_of(workdir, _study(table, 'pruner = "mo-asha"', "max_total_epochs = 90"))
    assert budget.until_budget and budget.n_trials >= 90
    both = _study(table, 'pruner = "mo-asha"', "max_total_epochs = 90", "n_trials = 5")
    named = load_config_of(workdir, both)
    assert named.n_trials == 5 and not named.until_budget


@pytest.mark.slow
def test_paretune_run_spends_the_budget_past_twenty_trials(table: Path, workdir: Path) -> None:
    (workdir / "budget.toml").write_text(
        _study(table, 'pruner = "mo-asha"', "max_total_epochs = 150", "seed = 3")
    )
    done = subprocess.run(
        ["paretune", "run", "budget.toml"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "sampler rung-tpe, pruner mo-asha" in out
    assert "trials until max_total_epochs = 150 is spent" in out
    spent = re.search(r"spent (\d+)/150 epochs in (\d+) trials", out)
    assert spent, out
    assert int(spent.group(1)) >= 150
    study = optuna.load_study(study_name="defaults", storage="sqlite:///runs/defaults.db")
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == int(spent.group(2)) > 20  # no cap at the old default of 20
    assert any(t.state is optuna.trial.TrialState.PRUNED for t in finished)
    assert not re.search(r"holds \d+/\d+ finished trials", out)
    status = subprocess.run(
        ["paretune", "status", "budget.toml"], capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0, status.stderr
    assert f"{len(finished)} finished trials" in status.stdout
    assert f"/{len(finished)}" not in status.stdout.splitlines()[0]


def test_an_objective_the_replay_table_lacks_is_refused(table: Path, workdir: Path) -> None:
    (workdir / "lat.toml").write_text(_study(table, objectives='["accuracy", "latency_ms"]'))
    done = subprocess.run(["paretune", "run", "lat.toml"], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "objectives[1]" in done.stderr and "latency_ms" in done.stderr
    assert "does not hold" in done.stderr


def test_status_front_shows_every_field_that_varies(workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'front.db'}"
    study = optuna.create_study(
        study_name="front", storage=url, directions=["maximize", "minimize"]
    )
    study.set_user_attr("objectives", ["accuracy", "size_bits"])
    base = Strategy(epochs=4).to_dict()
    for values, changes in [
        ((0.9, 200.0), {"weight_decay": 1e-4, "dropout": 0.1}),
        ((0.8, 100.0), {"weight_decay": 1e-3, "dropout": 0.1, "l1": 1e-5}),
        ((0.7, 300.0), {"weight_decay": 0.5}),  # dominated: not on the front
    ]:
        study.add_trial(
            optuna.trial.create_trial(
                values=list(values), user_attrs={"strategy": {**base, **changes}}
            )
        )
    done = subprocess.run(
        ["paretune", "status", "--storage", url, "--study", "front"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    head = next(line for line in done.stdout.splitlines() if line.lstrip().startswith("trial"))
    assert "weight_decay" in head and "l1" in head  # they differ between the two rows
    assert "dropout" not in head  # the same on the whole front
    rows = [line for line in done.stdout.splitlines() if line.lstrip()[:1].isdigit()]
    assert any("0.0001" in row for row in rows) and any("0.001" in row for row in rows)


def _first_line(workdir: Path, study: str) -> str:
    """The first line ``paretune run --quiet`` prints for the study file ``study``."""
    (workdir / "s.toml").write_text(study)
    done = subprocess.run(
        ["paretune", "run", "s.toml", "--quiet"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[0]


@pytest.mark.parametrize(
    ("epochs", "idle"), [(2, True), ("[2, 4]", True), (8, True), (12, False), ("[2, 12]", False)]
)
def test_the_first_line_says_when_mo_asha_can_stop_no_trial(
    workdir: Path, epochs: object, idle: bool
) -> None:
    """With min_epochs = 5 (and reduction factor 2) a rung fits only in 10 epochs or more."""
    first = _first_line(
        workdir,
        'name = "idle"\ntask = "synthetic"\ntask_options = { n_samples = 60 }\n'
        'objectives = ["accuracy", "size_bits"]\npruner = { name = "mo-asha", min_epochs = 5 }\n'
        f"n_trials = 1\n[space]\nlr = 0.01\nepochs = {epochs}\n",
    )
    assert ("pruner mo-asha (stops no trial: none of its rungs fits in" in first) is idle


@pytest.mark.parametrize(("space", "one"), [("bits = [8]", True), ("bits = [4, 8]", False)])
def test_the_first_line_says_when_the_space_holds_one_strategy(
    workdir: Path, space: str, one: bool
) -> None:
    first = _first_line(
        workdir,
        'name = "one"\ntask = "synthetic"\ntask_options = { n_samples = 60 }\n'
        f'n_trials = 2\nsampler = "random"\n[space]\nlr = 0.01\nepochs = 1\n{space}\n',
    )
    note = "2 trials (the space holds one strategy: each trains the same)"
    assert (note in first) is one, first
