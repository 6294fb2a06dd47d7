"""Sampler registry: Optuna samplers by name, always seeded.

Each entry is a frozen :class:`SamplerInfo` with capability flags, so callers ask
"does this sampler handle several objectives?" instead of hard-coding names.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from paretune.search._components import ComponentInfo, Components
from paretune.spaces import check_int, check_options

if TYPE_CHECKING:
    import optuna

__all__ = ["SamplerInfo", "get_sampler", "list_samplers", "register_sampler", "sampler_info"]

SamplerFactory = Callable[..., "optuna.samplers.BaseSampler"]


class SamplerInfo(ComponentInfo[SamplerFactory]):
    """A registered sampler.

    Its ``factory(seed=int, **options)`` returns an ``optuna.samplers.BaseSampler``; the
    factory's keyword parameters are the options :func:`get_sampler` accepts, and ``seed`` is
    always the study's.
    """


_SAMPLERS: Components[SamplerInfo] = Components(kind="sampler", info=SamplerInfo)


def register_sampler(
    name: str, factory: SamplerFactory, *, multi_objective: bool, description: str
) -> None:
    """Add a sampler (see :class:`SamplerInfo`); a name already taken raises ``ValueError``."""
    _SAMPLERS.register(name, factory, multi_objective=multi_objective, description=description)


def list_samplers() -> list[str]:
    """Registered sampler names, sorted.

    Examples:
        >>> list_samplers()
        ['cmaes', 'gp', 'nsga2', 'nsga3', 'qmc', 'random', 'rung-tpe', 'tpe']
    """
    return _SAMPLERS.names()


def sampler_info(name: str) -> SamplerInfo:
    """The registry entry for ``name``; unknown names raise ``ValueError`` listing the known."""
    return _SAMPLERS.info(name)


def get_sampler(
    name: str, *, seed: int, n_objectives: int = 1, **options: Any
) -> optuna.samplers.BaseSampler:
    """Build a seeded sampler by name.

    Args:
        name: Registry name (:func:`list_samplers`).
        seed: Seed of the sampler's random generator.
        n_objectives: Number of objectives of the study (a single-objective sampler refuses
            more than one).
        **options: Keyword arguments of the Optuna sampler (checked against its signature).

    Examples:
        >>> type(get_sampler("nsga2", seed=0, n_objectives=2, population_size=8)).__name__
        'NSGAIISampler'
        >>> get_sampler("cmaes", seed=0, n_objectives=2)
        Traceback (most recent call last):
        ...
        ValueError: Sampler 'cmaes' handles one objective; this study has 2. ...
    """
    info = sampler_info(name)
    seed = check_int(seed, name="seed", owner="get_sampler")
    if n_objectives > 1 and not info.multi_objective:
        multi = _SAMPLERS.multi_objective_names()
        raise ValueError(
            f"Sampler {name!r} handles one objective; this study has {n_objectives}. "
            f"Multi-objective samplers: {', '.join(multi)}."
        )
    check_options("sampler", name, info.factory, options, reserved=("seed", "constraints_func"))
    try:
        return info.factory(seed=seed, **options)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Invalid options {options!r} for sampler {name!r}: {error}") from None


# --- built-in samplers (Optuna imported only when one is built) ---------------------------


class _OptunaSampler:
    """Factory for one Optuna sampler class, with that class's keyword signature."""

    def __init__(self, class_name: str, **defaults: Any) -> None:
        self._class_name = class_name
        self._defaults = defaults

    def _sampler_class(self) -> type[optuna.samplers.BaseSampler]:
        import optuna

        cls: type[optuna.samplers.BaseSampler] = getattr(optuna.samplers, self._class_name)
        return cls

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._sampler_class())

    def __call__(self, *, seed: int, **options: Any) -> optuna.samplers.BaseSampler:
        import optuna

        cls: Any = self._sampler_class()
        with warnings.catch_warnings():
            # nsga3, qmc and others are "experimental" in Optuna; choosing one by name is
            # deliberate, so the warning would only repeat on every run.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler: optuna.samplers.BaseSampler = cls(seed=seed, **{**self._defaults, **options})
        return sampler


class _TPEFactory(_OptunaSampler):
    """Factory of Optuna's TPE as :class:`~paretune.search.samplers._tpe.TPESampler`, which
    reads multi-objective studies with learning curves (imported when built)."""

    def __init__(self) -> None:
        super().__init__("TPESampler")

    def _sampler_class(self) -> type[optuna.samplers.BaseSampler]:
        from paretune.search.samplers._tpe import TPESampler

        return TPESampler


# Conditional and categorical parameters are sampled independently by gp, cmaes and qmc; that
# is expected in a strategy space, so they do not warn about it on every trial.
_QUIET = {"warn_independent_sampling": False}

for _name, _factory, _multi, _description in [
    ("tpe", _TPEFactory(), True, "Tree-structured Parzen estimator (Bayesian)."),
    ("nsga2", _OptunaSampler("NSGAIISampler"), True, "NSGA-II genetic algorithm."),
    ("nsga3", _OptunaSampler("NSGAIIISampler"), True, "NSGA-III, for many objectives."),
    ("gp", _OptunaSampler("GPSampler", **_QUIET), True, "Gaussian-process BO (needs torch)."),
    ("cmaes", _OptunaSampler("CmaEsSampler", **_QUIET), False, "CMA-ES (needs cmaes)."),
    # scrambled, so that the seed matters (an unscrambled Sobol sequence ignores it)
    ("qmc", _OptunaSampler("QMCSampler", scramble=True, **_QUIET), True, "Quasi-Monte Carlo."),
    ("random", _OptunaSampler("RandomSampler"), True, "Uniform random search."),
]:
    register_sampler(_name, _factory, multi_objective=_multi, description=_description)


class _RungTPEFactory(_OptunaSampler):
    """Factory of :class:`~paretune.search.samplers._rung_tpe.RungTPESampler` (imported when built).

    Its options are ``min_points`` and TPE's. Multivariate by default: the measured choice on
    the replay benchmark (README).
    """

    def __init__(self) -> None:
        super().__init__("TPESampler", multivariate=True)

    def _sampler_class(self) -> type[optuna.samplers.BaseSampler]:
        from paretune.search.samplers._rung_tpe import RungTPESampler

        return RungTPESampler

    @property
    def __signature__(self) -> inspect.Signature:
        tpe = inspect.signature(super()._sampler_class()).parameters.values()
        own = inspect.signature(self._sampler_class()).parameters["min_points"]
        return inspect.Signature([own, *(p.replace(kind=p.KEYWORD_ONLY) for p in tpe)])


register_sampler(
    "rung-tpe",
    _RungTPEFactory(),
    multi_objective=True,
    description="TPE that also learns from pruned trials, at the highest well-filled rung.",
)
