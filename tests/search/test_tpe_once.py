"""paretune's ``tpe`` splits the study once per trial and suggests exactly what Optuna's TPE
(through the view without pruned curves) suggests, value for value, for the same seed."""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np
import optuna
import pytest
from optuna import samplers
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from paretune.search.samplers import TPESampler, without_pruned_curves

optuna.logging.set_verbosity(optuna.logging.WARNING)


class _OptunaAsIs(samplers.TPESampler):
    """Optuna's own ``_sample`` on the same view: what paretune's ``tpe`` did before."""

    def _sample(self, study: Any, trial: Any, search_space: Any) -> Any:
        return super()._sample(without_pruned_curves(study), trial, search_space)


def _drive(
    sampler: samplers.BaseSampler, *, objectives: int, n_trials: int, storage: Any = None
) -> list[Any]:
    """A study with a conditional space, pruned trials with curves and a running one."""
    directions = ["maximize", "minimize"][:objectives]
    study = optuna.create_study(directions=directions, sampler=sampler, storage=storage)
    suggested = []
    for number in range(n_trials):
        trial = study.ask()
        optimizer = trial.suggest_categorical("optimizer", ["sgd", "momentum", "adam"])
        lr = trial.suggest_float("lr", 1e-4, 0.3, log=True)
        if optimizer == "momentum":
            trial.suggest_float("momentum", 0.5, 0.99)
        bits = trial.suggest_int("bits", 2, 8)
        batch = trial.suggest_categorical("batch_size", [16, 32, 64])
        suggested.append(dict(trial.params))
        accuracy = 1.0 - abs(math.log10(lr) + 2) / 4 - (0.1 if optimizer == "sgd" else 0.0)
        study._storage.set_trial_intermediate_value(trial._trial_id, 1, accuracy)
        if number % 4 == 3:
            study.tell(trial, state=TrialState.PRUNED)
        elif number == n_trials - 1:
            pass  # left running: constant_liar reads it
        else:
            values = [accuracy, bits * batch / 16.0][:objectives]
            study.tell(trial, values)
    return suggested


@pytest.mark.parametrize("objectives", [1, 2])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"constant_liar": True},
        {"multivariate": True, "group": True},
        {"multivariate": True, "warn_independent_sampling": False},
        {"constraints_func": lambda t: [t.params["bits"] - 6.5]},
    ],
    ids=["independent", "constant-liar", "multivariate-group", "multivariate", "constraints"],
)
def test_same_suggestions_as_optuna(objectives: int, options: dict[str, Any]) -> None:
    kwargs = {"seed": 3, "n_startup_trials": 5, **options}
    ours = _drive(TPESampler(**kwargs), objectives=objectives, n_trials=40)
    theirs = _drive(_OptunaAsIs(**kwargs), objectives=objectives, n_trials=40)
    assert ours == theirs
    assert len({str(sorted(p.items())) for p in ours}) > 30  # it did search


@pytest.mark.parametrize("constant_liar", [False, True])
def test_same_suggestions_as_optuna_on_paretunes_sqlite(constant_liar: bool, tmp_path: Any) -> None:
    """On paretune's SQLite storage the sampler reads only the trials new to Optuna's cache
    (and the running ones) each trial: the suggestions are still Optuna's."""
    from paretune.search import make_storage

    kwargs = {"seed": 3, "n_startup_trials": 5, "constant_liar": constant_liar}
    storage = make_storage(f"sqlite:///{tmp_path}/tpe.db")
    ours = _drive(TPESampler(**kwargs), objectives=2, n_trials=30, storage=storage)
    theirs = _drive(_OptunaAsIs(**kwargs), objectives=2, n_trials=30)
    assert ours == theirs


def test_study_split_once_per_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three parameters sampled one by one: one split of the study per trial, not three."""
    splits: list[Any] = []
    real = TPESampler._split_for

    def counting(self: Any, study: Any, trial: Any) -> Any:
        found = real(self, study, trial)
        splits.append(found.key)
        return found

    monkeypatch.setattr(TPESampler, "_split_for", counting)
    sampler = TPESampler(seed=0, n_startup_trials=2, multivariate=False)  # one by one
    study = optuna.create_study(sampler=sampler)
    for _ in range(4):
        trial = study.ask()
        a = trial.suggest_float("a", 0, 1)
        trial.suggest_int("b", 1, 9)
        trial.suggest_categorical("c", ["x", "y"])
        study.tell(trial, a)
    # three parameters a trial, one split each (its count also tells the startup trials)
    assert len(splits) >= 12 and len(set(splits)) == 4


@pytest.mark.parametrize("kind", ["continuous", "grid", "mixed"])
def test_2d_ranks_equal_optunas(kind: str) -> None:
    """The O(n log n) ranks equal Optuna's fast non-dominated sort on random points with
    ties and duplicates, for every ``n_below``."""
    import numpy as np
    from optuna.study._multi_objective import _fast_non_domination_rank
    from paretune.search.samplers import nondomination_ranks_2d

    rng = np.random.default_rng(["continuous", "grid", "mixed"].index(kind))
    for _ in range(400):
        n = int(rng.integers(1, 80))
        if kind == "continuous":
            points = rng.random((n, 2))
        elif kind == "grid":
            points = rng.integers(0, 5, (n, 2)).astype(float)
        else:
            points = np.c_[rng.random(n), rng.integers(0, 4, n)]
        n_below = int(rng.integers(1, n + 1))
        expected = _fast_non_domination_rank(points, n_below=n_below)
        assert nondomination_ranks_2d(points, n_below=n_below).tolist() == expected.tolist()


def test_2d_split_equal_optunas() -> None:
    """Good and bad points (rung-tpe's split, through ``split_complete_trials``) equal
    Optuna's multi-objective split, hypervolume tie-break included."""
    import types

    import numpy as np
    from optuna.samplers._tpe.sampler import _split_complete_trials_multi_objective
    from optuna.study import StudyDirection
    from paretune.search.samplers import split_complete_trials

    view = types.SimpleNamespace(directions=[StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE])
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        values = np.c_[rng.integers(0, 6, n) / 5, rng.integers(0, 6, n)].tolist()
        points = [types.SimpleNamespace(values=v, number=i) for i, v in enumerate(values)]
        n_below = int(rng.integers(0, n + 1))
        good, bad = split_complete_trials(points, 2, n_below)
        their_good, their_bad = _split_complete_trials_multi_objective(points, view, n_below)
        assert [p.number for p in good] == [p.number for p in their_good]
        assert [p.number for p in bad] == [p.number for p in their_bad]


def test_rung_tpe_same_suggestions_with_what_it_keeps_between_trials(tmp_path: Any) -> None:
    """rung-tpe keeps each finished trial's rung point, strategy and parameters between
    trials, as arrays; over trial lists with nothing kept (and Optuna's own estimator) it
    suggests the same."""
    from optuna.samplers._tpe.sampler import default_gamma_multiobjective
    from optuna.study import StudyDirection
    from paretune.search.samplers import RungTPESampler, rung_split, split_complete_2d

    directions = types.SimpleNamespace(
        directions=[StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    )

    class ByLists(RungTPESampler):
        """rung-tpe over trial lists, nothing kept: rung_split of every trial, Optuna's
        estimators and its own reading of parameters."""

        def _sample(self, study: Any, trial: Any, search_space: Any) -> Any:
            states = (TrialState.COMPLETE, TrialState.PRUNED)
            trials = study.get_trials(deepcopy=False, states=states)
            found = rung_split(
                trials,
                metrics=["val_accuracy", "size_bits"],
                min_points=self.min_points,
                n_below=default_gamma_multiobjective,
                split=lambda points, n: split_complete_2d(points, directions, n),
            )
            if found is None:
                return samplers.TPESampler._sample(self, study, trial, search_space)
            self.last_rung, good, bad = found
            build = samplers.TPESampler._build_parzen_estimator
            below = build(self, study, search_space, good, handle_below=True)
            above = build(self, study, search_space, bad, handle_below=False)
            samples = below.sample(self._rng.rng, self._n_ei_candidates)
            scores = self._compute_acquisition_func(samples, below, above)
            names = sorted(search_space)
            seen = {
                tuple(search_space[n].to_internal_repr(t.params[n]) for n in names)
                for t in trials
                if t.params.keys() == search_space.keys()
            }
            count = len(next(iter(samples.values())))
            repeats = np.array(
                [tuple(float(samples[n][i]) for n in names) in seen for i in range(count)]
            )
            if repeats.any() and not repeats.all():
                scores = np.where(repeats, -np.inf, scores)
            chosen = samplers.TPESampler._compare(samples, scores)
            return {n: d.to_external_repr(chosen[n]) for n, d in search_space.items()}

    def drive(sampler: samplers.BaseSampler, storage: Any = None) -> list[Any]:
        study = optuna.create_study(
            directions=["maximize", "minimize"], sampler=sampler, storage=storage
        )
        study.set_user_attr("objectives", ["accuracy", "size_bits"])
        suggested = []
        for number in range(45):
            trial = study.ask()
            lr = trial.suggest_float("lr", 1e-4, 0.3, log=True)
            bits = trial.suggest_categorical("bits", [2, 4, 8])
            width = trial.suggest_int("width", 8, 64, log=True)
            suggested.append(dict(trial.params))
            accuracy = 1.0 - abs(math.log10(lr) + 2) / 4 + width / 1000
            epochs = 1 + number % 3
            curve = [
                {"val_accuracy": accuracy * e / epochs, "size_bits": bits * width}
                for e in range(1, epochs + 1)
            ]
            trial.set_user_attr("curve", curve)
            if epochs < 3:
                study.tell(trial, state=TrialState.PRUNED)
            else:
                study.tell(trial, [accuracy, bits * width])
        return suggested

    options = {"seed": 5, "n_startup_trials": 6, "multivariate": True, "min_points": 6}
    sampler = RungTPESampler(**options)
    ours = drive(sampler)
    assert sampler.last_rung is not None  # it ranked at a rung
    assert ours == drive(ByLists(**options))
    assert len({str(sorted(p.items())) for p in ours}) > 30
    # on paretune's SQLite storage (read through Optuna's cache, only what is new)
    from paretune.search import make_storage

    storage = make_storage(f"sqlite:///{tmp_path}/rung.db")
    assert drive(RungTPESampler(**options), storage) == ours


def test_pickled_without_what_it_keeps() -> None:
    """Ray Tune pickles its searcher: the sampler travels without its study's columns, and
    the copy suggests what the original would have."""
    import pickle

    from paretune.search.samplers import RungTPESampler

    for sampler in (TPESampler(seed=1, n_startup_trials=2), RungTPESampler(seed=1)):
        study = optuna.create_study(sampler=sampler)
        for _ in range(4):
            trial = study.ask({"a": FloatDistribution(0, 1)})
            study.tell(trial, trial.params["a"])
        blob = pickle.dumps(sampler)
        copy = pickle.loads(blob)
        assert copy._owner is None and copy._split is None
        assert len(blob) < 20_000
        trial = study.ask()
        frozen = study._storage.get_trial(trial._trial_id)
        dist = FloatDistribution(0, 1)
        assert copy.sample_independent(study, frozen, "a", dist) == sampler.sample_independent(
            study, frozen, "a", dist
        )


@pytest.mark.parametrize("multivariate", [False, True])
def test_acquisition_is_optunas_to_rounding(multivariate: bool) -> None:
    """The log density of a Parzen mixture over the components that count equals Optuna's
    over all of them to a relative 1e-12, with the same -inf, over every kind of distribution
    (categorical, float, log float, int with a step) and many trials (5000 and 20000: most
    components left out)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution
    from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator
    from paretune.search.samplers import mixture_log_pdf

    rng = np.random.default_rng(4)
    space = {
        "c": CategoricalDistribution(["a", "b", "c", "d"]),
        "x": FloatDistribution(-1.0, 2.0),
        "lr": FloatDistribution(1e-5, 1.0, log=True),
        "n": IntDistribution(1, 64, log=True),
        "k": IntDistribution(0, 30, step=3),
    }
    params = samplers.TPESampler(seed=0)._parzen_estimator_parameters
    for n in (0, 1, 7, 400, 5000, 20000):
        observations = {
            "c": rng.integers(0, 4, n).astype(float),
            "x": rng.uniform(-1.0, 2.0, n),
            "lr": np.exp(rng.uniform(np.log(1e-5), 0.0, n)),
            "n": np.round(np.exp(rng.uniform(0.0, np.log(64), n))),
            "k": 3.0 * rng.integers(0, 11, n),
        }
        for subset in [list(space)] if multivariate else [[name] for name in space]:
            sub = {name: space[name] for name in subset}
            estimator = _ParzenEstimator({name: observations[name] for name in subset}, sub, params)
            samples = estimator.sample(np.random.RandomState(n), 24)
            x = estimator._transform(samples)
            ours = mixture_log_pdf(estimator._mixture_distribution, x)
            _same_to_rounding(ours, estimator.log_pdf(samples))
            # candidates drawn twice (scored once), and outside the range of "x" (-inf)
            again = {name: np.concatenate([v, v[:5]]) for name, v in samples.items()}
            if "x" in again:
                again["x"][:2] = [-1.5, 2.5]
            ours = mixture_log_pdf(estimator._mixture_distribution, estimator._transform(again))
            theirs = estimator._mixture_distribution.log_pdf(estimator._transform(again))
            _same_to_rounding(ours, theirs)
            if "x" in again and n:
                assert np.isneginf(ours[:2]).all()


def _same_to_rounding(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal to a relative 1e-12 where finite; the same infinities and NaNs elsewhere."""
    finite = np.isfinite(theirs)
    assert np.array_equal(np.isfinite(ours), finite)
    assert np.array_equal(ours[~finite], theirs[~finite], equal_nan=True)
    assert np.allclose(ours[finite], theirs[finite], rtol=1e-12, atol=1e-12)


def test_acquisition_keeps_zero_weights_and_far_candidates() -> None:
    """A component of weight 0 adds nothing, a candidate every component rates 0 scores -inf
    (not the log of a tiny number), and a study of narrow kernels far from a candidate scores
    it as Optuna does (its terms all far below 0, computed for the nearest only)."""
    from optuna.samplers._tpe.probability_distributions import (
        _BatchedCategoricalDistributions,
        _BatchedTruncNormDistributions,
        _MixtureOfProductDistribution,
    )
    from paretune.search.samplers import mixture_log_pdf

    rng = np.random.default_rng(0)
    n = 6000
    mu = np.concatenate([rng.uniform(0.0, 0.2, n - 1), [0.5]])
    weights = rng.uniform(0.5, 1.0, n)
    weights[-1] = 0.0  # the only component near 0.5 weighs nothing
    categories = np.zeros((n, 2))
    categories[:, 0] = 1.0  # every component rates category 1 at 0
    mixture = _MixtureOfProductDistribution(
        weights=weights / weights.sum(),
        distributions=[
            _BatchedTruncNormDistributions(mu, np.full(n, 0.001), 0.0, 1.0),
            _BatchedCategoricalDistributions(categories),
        ],
    )
    x = np.column_stack([rng.uniform(0.0, 1.0, 24), np.zeros(24)])
    x[:3, 0] = [0.5, 0.9, 0.1]
    x[3, 1] = 1.0
    ours = mixture_log_pdf(mixture, x)
    _same_to_rounding(ours, mixture.log_pdf(x))
    assert np.isneginf(ours[3])
    assert ours[0] < -10_000 and np.isfinite(ours[0])
