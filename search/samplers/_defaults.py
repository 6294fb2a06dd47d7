"""Which sampler a study gets when its file names none.

The choice follows ``bench/mo_pruning.py`` (README, "Early stopping in multi-objective
studies"): on the replayed digits-mlp table at an equal budget of 1200 epochs, ``rung-tpe``
with ``mo-asha`` (grace 2, η 2, full-stretch rungs; the pruner's defaults) reached 0.980 of
the true front's hypervolume, ahead of ``tpe`` with the same pruner (0.908 at grace 1, η 2)
and of every method with full training (``tpe``: 0.963). Optuna's TPE ranks pruned trials
arbitrarily in a multi-objective study (they have no values); rung-tpe ranks them by what
they reached. Without pruning, or with one objective, Optuna's TPE stays the default.
"""

from __future__ import annotations

from paretune.spaces import check_int

__all__ = ["default_sampler"]


def default_sampler(*, n_objectives: int, pruner: str) -> str:
    """The sampler a study gets when it names none.

    Args:
        n_objectives: The study's number of objectives.
        pruner: The study's pruner name (``"none"`` when it does not prune).

    Returns:
        ``"rung-tpe"`` for a multi-objective study that prunes, else ``"tpe"``.

    Examples:
        >>> default_sampler(n_objectives=2, pruner="mo-asha")
        'rung-tpe'
        >>> default_sampler(n_objectives=2, pruner="none")
        'tpe'
        >>> default_sampler(n_objectives=1, pruner="median")
        'tpe'
    """
    n_objectives = check_int(n_objectives, name="n_objectives", owner="default_sampler", minimum=1)
    if n_objectives > 1 and pruner != "none":
        return "rung-tpe"
    return "tpe"
