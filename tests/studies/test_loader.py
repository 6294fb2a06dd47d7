"""Unit tests of the study-file loader: every key validated, messages name file/key/value."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import pytest
from paretune.search import StudySpec
from paretune.search.study import OutcomeState
from paretune.spaces import CategoricalDistribution, Fixed, FloatDistribution, IntDistribution
from paretune.studies import (
    StudyConfig,
    StudyFileError,
    builtin_studies,
    load_config,
    objective_factory,
    parse_duration,
)

BASE = """\
name = "unit"
task = "synthetic"
task_options = { n_samples = 200 }
objectives = ["accuracy", "size_bits"]
sampler = "random"
n_trials = 3
"""


def write(tmp_path: Path, text: str, name: str = "study.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def study(tmp_path: Path, space: str, top: str = "") -> str:
    return write(tmp_path, BASE + top + "\n[space]\n" + space)


# --- the built-in studies ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(builtin_studies()))
def test_every_builtin_study_loads_and_makes_a_spec(name: str) -> None:
    config = load_config(name)
    assert config.spec.name == name
    assert config.source == builtin_studies()[name]
    spec = config.spec
    assert isinstance(spec, StudySpec)
    assert spec.space == config.spec.space and spec.objectives == config.spec.objectives
    assert spec.metadata["task"] == config.task
    assert isinstance(config.spec.space.params["epochs"], Fixed | IntDistribution)


def test_builtin_names_map_to_files() -> None:
    studies = builtin_studies()
    assert {"digits-quick", "digits-full", "digits-cnn", "cifar10-resnet20"} <= set(studies)
    assert studies["digits-quick"].name == "digits_quick.toml"


def test_digits_quick_is_the_two_objective_nsga2_study() -> None:
    config = load_config("digits-quick")
    assert config.spec.objectives == ("accuracy", "size_bits")
    assert config.spec.sampler == "nsga2"
    assert config.spec.storage == "sqlite:///runs/digits-quick.db"
    assert config.spec.space.conditions["momentum"][0] == "optimizer"


def test_digits_full_searches_every_strategy_dimension() -> None:
    from paretune.studies import strategy_fields

    config = load_config("digits-full")
    # the transfer / large-batch fields keep their defaults in the digits studies
    later = {"init", "freeze_epochs", "backbone_lr_scale", "distill_alpha"}
    later |= {"distill_temperature", "grad_clip", "precision", "channels_last"}
    assert set(strategy_fields()) - set(config.spec.space.params) <= {"eps", "seed", *later}
    assert set(config.spec.space.conditions) == {
        "momentum",
        "beta1",
        "beta2",
        "decay_gamma",
        "step_size",
    }


# --- values, defaults and overrides ----------------------------------------------------------


def test_space_entries_become_fixed_categorical_and_ranges(tmp_path: Path) -> None:
    path = study(
        tmp_path,
        'optimizer = ["sgd", "adam"]\n'
        "lr = { low = 1e-3, high = 0.1, log = true }\n"
        "batch_size = { low = 16, high = 64, step = 16 }\n"
        "dropout = { low = 0.0, high = 0.5, step = 0.1 }\n"
        "epochs = 2\n",
    )
    params = load_config(path).spec.space.params
    assert params["optimizer"] == CategoricalDistribution(choices=("sgd", "adam"))
    assert params["lr"] == FloatDistribution(low=1e-3, high=0.1, log=True)
    assert params["batch_size"] == IntDistribution(low=16, high=64, step=16)
    assert params["dropout"] == FloatDistribution(low=0.0, high=0.5, step=0.1)
    assert params["epochs"] == Fixed(value=2)


def test_defaults_fill_name_storage_and_task_epochs(tmp_path: Path) -> None:
    path = write(tmp_path, 'task = "digits-mlp"\n[space]\nlr = 0.01\n', "my_study.toml")
    config = load_config(path)
    assert config.spec.name == "my-study"
    assert config.spec.storage == "sqlite:///runs/my-study.db"
    assert config.spec.objectives == ("accuracy",)
    assert (config.spec.sampler, config.spec.pruner, config.spec.seed, config.jobs) == (
        "tpe",
        "none",
        0,
        1,
    )
    assert config.timeout is None and config.spec.max_total_epochs is None
    # epochs follow the task's default; the training seed stays the Strategy's default
    assert "seed" not in config.spec.space.params
    assert config.spec.space.params["epochs"] == Fixed(value=20)


def test_every_top_level_key_is_read(tmp_path: Path) -> None:
    path = study(
        tmp_path,
        "lr = 0.01\n",
        top=(
            'description = "all keys"\n'
            'timeout = "1h30m"\n'
            "seed = 7\n"
            'storage = "journal:///runs/unit.log"\n'
            "constraints = { size_bits = 5e4 }\n"
            "max_total_epochs = 50\n"
            'data_dir = "~/data"\n'
            'device = "cpu"\n'
            'backend = "ray"\n'
            "jobs = 3\n"
            'pruner = { name = "none" }\n'
            "[ray]\n"
            'address = "auto"\n'
            "gpus_per_trial = 0.25\n"
            "cpus_per_trial = 2\n"
            "max_concurrent = 8\n"
            'storage_path = "/shared/ray"\n'
            "max_failures = 5\n"
        ),
    )
    config = load_config(path)
    assert config.timeout == 5400.0
    assert config.spec.seed == 7
    assert config.spec.storage == "journal:///runs/unit.log"
    assert dict(config.spec.constraints) == {"size_bits": 50000.0}
    assert config.spec.max_total_epochs == 50
    assert config.data_dir == str(Path("~/data").expanduser())
    assert (config.device, config.backend, config.jobs) == ("cpu", "ray", 3)
    assert config.ray.address == "auto" and config.ray.gpus_per_trial == 0.25
    assert (config.ray.cpus_per_trial, config.ray.max_concurrent) == (2, 8)
    assert (config.ray.storage_path, config.ray.max_failures) == ("/shared/ray", 5)
    assert dict(config.task_options) == {"n_samples": 200}


def test_sampler_and_pruner_tables_carry_options(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'task = "synthetic"\nobjectives = ["accuracy"]\n'
        'sampler = { name = "tpe", n_startup_trials = 4 }\n'
        'pruner = { name = "median", n_startup_trials = 2 }\n[space]\nlr = 0.01\n',
    )
    config = load_config(path)
    assert (config.spec.sampler, dict(config.spec.sampler_options)) == (
        "tpe",
        {"n_startup_trials": 4},
    )
    assert (config.spec.pruner, dict(config.spec.pruner_options)) == (
        "median",
        {"n_startup_trials": 2},
    )


def test_overrides_replace_file_values_and_are_validated(tmp_path: Path) -> None:
    path = study(tmp_path, "lr = 0.01\n")
    config = load_config(path, overrides={"n_trials": 9, "timeout": "90s", "ray.address": "a"})
    assert (config.n_trials, config.timeout, config.ray.address) == (9, 90.0, "a")
    with pytest.raises(
        StudyFileError, match=r"^overrides\['seed'\]: must be an integer in \[0, 4294967295\]"
    ):
        load_config(path, overrides={"seed": -1})


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(study(tmp_path, "lr = 0.01\n"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_trials = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.task_options["n_samples"] = 3  # type: ignore[index]
    assert isinstance(config, StudyConfig)


# --- conditional sub-parameters --------------------------------------------------------------


def test_sub_parameter_gets_the_trainers_condition(tmp_path: Path) -> None:
    from paretune.trainers import conditional_parameters

    path = study(
        tmp_path,
        'optimizer = ["sgd", "momentum", "adam"]\n'
        "momentum = { low = 0.5, high = 0.9 }\n"
        "beta1 = { low = 0.8, high = 0.9 }\n"
        'schedule = ["constant", "step"]\n'
        "step_size = [2, 3]\n",
    )
    conditions = load_config(path).spec.space.conditions
    for name in ("momentum", "beta1", "step_size"):
        assert conditions[name] == conditional_parameters()[name]


def test_sub_parameter_is_unconditional_when_the_default_parent_applies(tmp_path: Path) -> None:
    # optimizer is not in [space]: it stays "adam", where beta1 always applies
    config = load_config(study(tmp_path, "beta1 = { low = 0.8, high = 0.9 }\n"))
    assert "beta1" not in config.spec.space.conditions


def test_sampled_sub_parameters_only_appear_where_they_apply(tmp_path: Path) -> None:
    import optuna
    from paretune.spaces import suggest
    from paretune.trainers import Strategy

    path = study(
        tmp_path,
        'optimizer = ["sgd", "momentum", "adam"]\nmomentum = { low = 0.5, high = 0.9 }\n',
    )
    space = load_config(path).spec.space
    study_ = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(30):
        params = suggest(space, study_.ask())
        seen.add(params["optimizer"])
        assert ("momentum" in params) == (params["optimizer"] == "momentum")
        Strategy.from_dict(params)  # every sampled combination is a valid strategy
    assert seen == {"sgd", "momentum", "adam"}


# --- errors: file, key path, value, what is allowed --------------------------------------------

BAD_SPACES: list[tuple[str, str]] = [
    (
        "lr = { low = 0, high = 1, log = true }",
        r"space\.lr\.low must be > 0 when log = true \(got 0\)",
    ),
    ("lr = { low = 0.5, high = 0.1 }", r"space\.lr\.high must be >= low = 0\.5 \(got 0\.1\)"),
    ("lr = { low = 0.1 }", r"space\.lr needs 'high'"),
    (
        "lr = { low = 0.1, high = 1, hi = 2 }",
        r"space\.lr\.hi is not a known key \(did you mean 'high'\?\)\. Known: high, log, low, step",
    ),
    (
        "lr = { low = 0.1, high = 1, log = true, step = 0.1 }",
        r"space\.lr cannot have both log = true and a step",
    ),
    (
        "dropout = { low = 0.0, high = 0.5, step = 0.2 }",
        r"space\.dropout\.step must divide high - low = 0\.5 \(got 0\.2\)",
    ),
    (
        "batch_size = { low = 1.5, high = 3 }",
        r"space\.batch_size\.low must be an integer \(got 1\.5\)",
    ),
    (
        'optimizer = ["sgd", "adamx"]',
        r"space\.optimizer\[1\] is not allowed \(got \"adamx\"\)"
        r".*one of sgd, momentum, nesterov, adam",
    ),
    ("optimizer = { low = 1, high = 2 }", r"space\.optimizer cannot be a range"),
    ("optimizer = []", r"space\.optimizer must be a non-empty list of choices \(got \[\]\)"),
    ("bits = [4, 4]", r"space\.bits\[1\] repeats the choice 4"),
    ("bits = 12", r"space\.bits is not allowed \(got 12\).*bits"),
    ('lr = "fast"', r'space\.lr must be a number \(got "fast"\)'),
    ("learning_rate = 0.1", r"space\.learning_rate is not a known key.*Known: .*lr"),
    (
        'optimizer = ["adam"]\nmomentum = { low = 0.5, high = 0.9 }',
        r"space\.momentum can never be used: momentum only applies when optimizer is one of "
        r'"momentum".*space\.optimizer only allows "adam"',
    ),
    (
        "decay_gamma = 0.5",
        r"space\.decay_gamma can never be used"
        r'.*schedule is not in \[space\], so it is always "constant"',
    ),
    (
        "prune_rate = { low = 0.0, high = 1.0 }",
        r"space\.prune_rate\.high is not allowed \(got 1\.0\)",
    ),
]


@pytest.mark.parametrize(("space", "message"), BAD_SPACES)
def test_bad_space_entries_are_refused(tmp_path: Path, space: str, message: str) -> None:
    path = study(tmp_path, space + "\n")
    with pytest.raises(StudyFileError, match=rf"^{path}: {message}"):
        load_config(path)


BAD_TOP: list[tuple[str, str]] = [
    ('smapler = "tpe"', r"smapler is not a known key \(did you mean 'sampler'\?\)\. Known: "),
    (
        'objectives = ["accuracy", "speed"]',
        r'objectives\[1\] must be one of "accuracy", "size_bits"',
    ),
    ('objectives = ["accuracy", "accuracy"]', r'objectives\[1\] repeats the objective "accuracy"'),
    ("objectives = []", r"objectives must be a non-empty list"),
    ('sampler = "anneal"', r'sampler must be one of "cmaes", "gp", .* \(got "anneal"\)'),
    (
        'sampler = "cmaes"',
        r'sampler is not usable \(got "cmaes"\): Sampler .cmaes. handles one objective',
    ),
    (
        'sampler = { name = "tpe", n_startup = 3 }',
        r"sampler is not usable.*Unknown option 'n_startup'",
    ),
    ("sampler = { population_size = 3 }", r"sampler needs 'name'"),
    ('pruner = "median"', r"pruner is not usable.*single-objective"),
    ("n_trials = 0", r"n_trials must be an integer >= 1 \(got 0\)"),
    ('n_trials = "many"', r'n_trials must be an integer >= 1 \(got "many"\)'),
    ('timeout = "soon"', r'timeout must be a duration > 0 such as "90s".* \(got "soon"\)'),
    ("timeout = -5", r"timeout must be a duration > 0"),
    ("seed = -1", r"seed must be an integer in \[0, 4294967295\] \(got -1\)"),
    ("seed = 4294967296", r"seed must be an integer in \[0, 4294967295\] \(got 4294967296\)"),
    ('storage = "runs/x.db"', r"storage is not usable \(got \"runs/x\.db\"\).*storage URL"),
    (
        "constraints = { accuracy = 0.9 }",
        r"constraints\.accuracy is not a cost that can be constrained",
    ),
    (
        "constraints = { size_bits = -1 }",
        r"constraints\.size_bits must be a number > 0\.0 \(got -1\)",
    ),
    ("max_total_epochs = 0", r"max_total_epochs must be an integer >= 1 \(got 0\)"),
    ('device = "gpu"', r'device must be "auto", "cpu", "cuda" or "cuda:N" \(got "gpu"\)'),
    ('backend = "slurm"', r'backend must be one of "local", "ray" \(got "slurm"\)'),
    ("jobs = 2", r"jobs must be 1 with a SQLite storage"),
    ('name = "my study"', r'name must be a name of letters, digits.*\(got "my study"\)'),
    (
        "task_options = { width = 3 }",
        r"task_options does not give a usable task .synthetic.: Unknown option.*width",
    ),
    ("[ray]\ngpus = 1", r"ray\.gpus is not a known key.*Known: address, cpus_per_trial"),
]


@pytest.mark.parametrize(("line", "message"), BAD_TOP)
def test_bad_top_level_values_are_refused(tmp_path: Path, line: str, message: str) -> None:
    # a later key replaces the one in BASE (TOML refuses duplicates, so drop it first)
    key = line.split("=")[0].strip().strip("[]")
    base = "\n".join(row for row in BASE.splitlines() if row.split("=")[0].strip() != key)
    if line.startswith("["):
        text = base + "\n[space]\nlr = 0.01\n" + line + "\n"
    else:
        text = base + "\n" + line + "\n[space]\nlr = 0.01\n"
    path = write(tmp_path, text)
    with pytest.raises(StudyFileError, match=rf"^{path}: {message}"):
        load_config(path)


def test_a_study_file_in_a_deep_folder_is_named_whole(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-long-folder-name"] * 12)
    deep.mkdir(parents=True)
    path = write(deep, BASE.replace("n_trials = 3", "n_trials = 0") + "[space]\nlr = 0.01\n")
    assert len(path) > 200
    with pytest.raises(StudyFileError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: n_trials must be an integer >= 1 (got 0)")


def test_unknown_task_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, 'task = "imagenet"\n[space]\nlr = 0.01\n')
    with pytest.raises(StudyFileError, match=r'task must be one of "digits-mlp", .*"replay:PATH"'):
        load_config(path)


def test_missing_task_or_space_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(StudyFileError, match="has no task"):
        load_config(write(tmp_path, "[space]\nlr = 0.01\n"))
    with pytest.raises(StudyFileError, match=r"has no \[space\] table"):
        load_config(write(tmp_path, 'task = "synthetic"\n'))
    with pytest.raises(StudyFileError, match=r"is not valid TOML: .*line 1"):
        load_config(write(tmp_path, "task = \n"))


def test_unknown_reference_suggests_a_builtin() -> None:
    with pytest.raises(StudyFileError, match=r"^digits-quik: .*did you mean 'digits-quick'"):
        load_config("digits-quik")
    with pytest.raises(StudyFileError, match=r"^nowhere/x\.toml: no such file"):
        load_config("nowhere/x.toml")


def test_missing_data_is_only_an_error_when_asked(tmp_path: Path) -> None:
    from paretune.studies import read_study

    path = write(
        tmp_path,
        f'task = "cifar10-resnet20"\ndata_dir = "{tmp_path}/none"\n[space]\nlr = 0.01\n',
    )
    assert load_config(path).data_dir == f"{tmp_path}/none"
    with pytest.raises(StudyFileError, match=r"data_dir does not hold the task's data"):
        read_study(path, check_data=True)


def test_error_is_a_value_error_with_parts() -> None:
    error = StudyFileError("f.toml", "space.lr", "must be > 0 (got 0)")
    assert isinstance(error, ValueError)
    assert (error.source, error.key) == ("f.toml", "space.lr")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600.0), ("90s", 90.0), ("1h", 3600.0), (45, 45.0), ("2h30m", 9000.0)],
)
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


# --- the objective factory -------------------------------------------------------------------


def test_objective_factory_pickles_and_trains(tmp_path: Path) -> None:
    config = load_config(study(tmp_path, 'optimizer = "adam"\nepochs = 1\n'))
    factory = pickle.loads(pickle.dumps(objective_factory(config)))
    objective = factory()
    reported: list[int] = []
    result = objective(
        {"optimizer": "adam", "lr": 0.01, "epochs": 2},
        lambda epoch, metrics: reported.append(epoch) is not None,
    )
    assert result.state is OutcomeState.COMPLETE and result.epochs == 2
    assert reported == [1, 2]
    assert result.strategy is not None and result.strategy["lr"] == 0.01


def test_locate_study_reads_only_where_the_study_lives(tmp_path: Path) -> None:
    from paretune.studies import locate_study

    # the space is wrong, but locating the study does not need it
    path = study(tmp_path, "lr = { low = 0, high = 1, log = true }\n")
    location = locate_study(path, overrides={"storage": "journal:///runs/u.log"})
    assert (location.name, location.storage, location.n_trials) == (
        "unit",
        "journal:///runs/u.log",
        3,
    )
    assert location.objectives == ("accuracy", "size_bits")
    with pytest.raises(StudyFileError, match=r"^--storage: is not usable"):
        locate_study(path, overrides={"storage": "x.db"}, labels={"storage": "--storage"})
