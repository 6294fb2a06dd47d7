"""The search's defaults follow the mo-asha benchmark (issue 16): rung-tpe + mo-asha with
grace 2, η 2 and full-stretch rungs for a multi-objective study that prunes."""

from __future__ import annotations

import pytest
from paretune.search.pruning import MOAsha, MOAshaPruner, RungSpacing, get_pruner
from paretune.search.samplers import RungTPESampler, default_sampler


@pytest.mark.parametrize(
    ("n_objectives", "pruner", "expected"),
    [
        (2, "mo-asha", "rung-tpe"),
        (3, "mo-asha", "rung-tpe"),
        (2, "none", "tpe"),  # no pruning: nothing for rung-tpe to learn from
        (1, "median", "tpe"),  # one objective: Optuna's TPE handles pruned trials
        (1, "none", "tpe"),
    ],
)
def test_the_default_sampler_is_rung_tpe_when_several_objectives_are_pruned(
    n_objectives: int, pruner: str, expected: str
) -> None:
    assert default_sampler(n_objectives=n_objectives, pruner=pruner) == expected


def test_default_sampler_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="'n_objectives' parameter of default_sampler"):
        default_sampler(n_objectives=0, pruner="mo-asha")


def test_mo_asha_defaults_are_grace_2_eta_2_full_stretch() -> None:
    core = MOAsha()
    assert (core.min_epochs, core.reduction_factor) == (2, 2.0)
    assert core.rung_spacing is RungSpacing.FULL_STRETCH
    assert core.rungs(20) == (2, 4, 8)  # no rung at 16: it would leave 4 of 20 epochs
    built = get_pruner("mo-asha", n_objectives=2)
    assert isinstance(built, MOAshaPruner)
    assert built.core == MOAsha()


def test_named_mo_asha_options_are_respected() -> None:
    pruner = get_pruner(
        "mo-asha", n_objectives=2, min_epochs=1, reduction_factor=3, rung_spacing="asha"
    )
    assert isinstance(pruner, MOAshaPruner)
    assert pruner.core.rungs(20) == (1, 3, 9)
    only_grace = get_pruner("mo-asha", n_objectives=2, min_epochs=1)
    assert isinstance(only_grace, MOAshaPruner)
    assert only_grace.core.rungs(20) == (1, 2, 4, 8)  # the others keep their defaults


def test_rung_tpe_is_what_the_registry_builds() -> None:
    from paretune.search.samplers import get_sampler

    assert isinstance(get_sampler("rung-tpe", seed=0, n_objectives=2), RungTPESampler)
