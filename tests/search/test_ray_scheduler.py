"""Which Ray Tune scheduler each pruner becomes, with which settings (no Ray started)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from paretune.search import StudySpec
from paretune.spaces import Fixed, FloatDistribution, IntDistribution, StrategySpace

pytest.importorskip("ray", reason="ray is not installed")

from paretune.search.pruning._ray_scheduler import (  # noqa: E402
    StopByReport,
    StudyPrunerScheduler,
    make_scheduler,
    max_epochs_of,
)
from ray.tune.schedulers import (  # noqa: E402
    AsyncHyperBandScheduler,
    FIFOScheduler,
    MedianStoppingRule,
)


def _spec(tmp: Path, pruner: str, options: dict[str, Any], objectives: tuple[str, ...]) -> Any:
    return StudySpec(
        name="s",
        storage=f"sqlite:///{tmp}/s.db",
        objectives=objectives,
        space=StrategySpace(
            params={
                "lr": FloatDistribution(low=1e-3, high=1.0, log=True),
                "epochs": IntDistribution(low=3, high=27),
            }
        ),
        pruner=pruner,
        pruner_options=options,
    )


def _inner(tmp: Path, pruner: str, options: dict[str, Any], objectives: Any = ("accuracy",)) -> Any:
    scheduler = make_scheduler(_spec(tmp, pruner, options, objectives), channel_name="c")
    if isinstance(scheduler, StopByReport):
        return scheduler._inner
    return scheduler


def test_none_is_fifo(tmp_path: Path) -> None:
    assert type(_inner(tmp_path, "none", {})) is FIFOScheduler


def test_asha_is_rays_asha_in_epochs_on_validation_accuracy(tmp_path: Path) -> None:
    inner = _inner(tmp_path, "asha", {"min_resource": 2, "reduction_factor": 3})
    assert type(inner) is AsyncHyperBandScheduler
    assert (inner._time_attr, inner._metric, inner._mode) == ("epoch", "val_accuracy", "max")
    assert len(inner._brackets) == 1
    # rungs at 2, 6, 18 epochs below max_t = 27 (the space's largest epochs)
    assert [milestone for milestone, _ in inner._brackets[0]._rungs] == [18, 6, 2]
    assert inner._stop_last_trials is False  # a trial at its last epoch just ends


def test_hyperband_has_several_brackets(tmp_path: Path) -> None:
    inner = _inner(tmp_path, "hyperband", {"min_resource": 1, "reduction_factor": 3})
    assert type(inner) is AsyncHyperBandScheduler
    assert len(inner._brackets) == 4  # log3(27 / 1) + 1


def test_median_is_the_median_stopping_rule_minimizing_a_cost(tmp_path: Path) -> None:
    inner = _inner(tmp_path, "median", {"n_startup_trials": 4}, objectives=("size_bits",))
    assert type(inner) is MedianStoppingRule
    assert (inner._metric, inner._mode, inner._min_samples_required) == ("size_bits", "min", 4)


@pytest.mark.parametrize(
    ("pruner", "options", "objectives"),
    [
        ("mo-asha", {"min_epochs": 1}, ("accuracy", "size_bits")),
        ("percentile", {"percentile": 25.0}, ("accuracy",)),
        ("threshold", {"lower": 0.2}, ("accuracy",)),
    ],
)
def test_other_pruners_run_the_local_pruner_inside_a_ray_scheduler(
    tmp_path: Path, pruner: str, options: dict[str, Any], objectives: tuple[str, ...]
) -> None:
    scheduler = make_scheduler(_spec(tmp_path, pruner, options, objectives), channel_name="c")
    assert isinstance(scheduler, StopByReport)
    assert isinstance(scheduler._inner, StudyPrunerScheduler)


def test_unknown_pruner_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="asha"):
        make_scheduler(_spec(tmp_path, "asha2", {}, ("accuracy",)), channel_name="c")


def test_single_objective_pruner_refuses_several_objectives(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_scheduler(_spec(tmp_path, "asha", {}, ("accuracy", "size_bits")), channel_name="c")


def test_max_epochs_of_a_space_without_epochs_uses_the_default() -> None:
    space = StrategySpace(params={"lr": Fixed(value=0.1)})
    assert max_epochs_of(space, default=7) == 7
