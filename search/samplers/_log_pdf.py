"""TPE's acquisition, Optuna's arithmetic with fewer passes over the mixture.

Optuna's TPE scores each of its 24 candidates by the log density of the good trials' Parzen
mixture minus that of the bad trials' mixture: one component per trial, so at 10,000 trials
an array of 24 x 9,000 per parameter, which the samplers of a long study spend most of their
time on. Optuna's ``_MixtureOfProductDistribution.log_pdf`` makes each step a fresh array;
:func:`mixture_log_pdf` makes the same floating-point operations, in the same order, in place,
and so returns the same array, bit for bit (``test_tpe_once.py`` compares them), with less
work:

- a candidate row drawn more than once is scored once (a categorical parameter sampled alone
  has a handful of values among 24 candidates: about 8x less work);
- the log of each categorical weight is taken once per component, not once per candidate;
- ``exp`` is not called on terms thousands below a candidate's largest (it returns 0.0 for
  them, by a slow underflow path);
- the range test is made on the candidates, not on every (candidate, component) pair.

It imports Optuna's private TPE modules and is pinned to Optuna 5's ``log_pdf``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from optuna.samplers._tpe import _truncnorm
from optuna.samplers._tpe.probability_distributions import (
    _BatchedCategoricalDistributions,
    _log_gauss_mass_unique,
    _unique_inverse_2d,
)

__all__ = ["acquisition", "mixture_log_pdf"]


def mixture_log_pdf(mixture: Any, x: np.ndarray) -> np.ndarray:
    """``mixture.log_pdf(x)`` (Optuna's ``_MixtureOfProductDistribution``), bit for bit.

    Examples:
        >>> import numpy as np
        >>> from optuna.samplers._tpe.probability_distributions import (
        ...     _BatchedCategoricalDistributions, _BatchedTruncNormDistributions,
        ...     _MixtureOfProductDistribution)
        >>> mixture = _MixtureOfProductDistribution(
        ...     weights=np.array([0.25, 0.75]),
        ...     distributions=[
        ...         _BatchedCategoricalDistributions(np.array([[0.9, 0.1], [0.2, 0.8]])),
        ...         _BatchedTruncNormDistributions(np.array([0.1, 0.6]), np.array([0.2, 0.3]),
        ...                                        0.0, 1.0)])
        >>> x = np.array([[0.0, 0.3], [1.0, 0.9]])
        >>> bool((mixture_log_pdf(mixture, x) == mixture.log_pdf(x)).all())
        True
    """
    if len(x) > 1:
        # candidates drawn more than once (a categorical parameter sampled alone has a few
        # values for 24 candidates): each distinct row is scored once, by the same arithmetic
        unique, inverse = np.unique(x, axis=0, return_inverse=True)
        if len(unique) < len(x):
            found: np.ndarray = _log_pdf(mixture, unique)[inverse.reshape(-1)]
            return found
    return _log_pdf(mixture, x)


def _log_pdf(mixture: Any, x: np.ndarray) -> np.ndarray:
    """:func:`mixture_log_pdf` of each row of ``x``."""
    shape = (len(x), len(mixture.weights))
    weighted: np.ndarray | None = None  # zeros until a parameter adds to it
    cont_dists, x_cont, lows_cont, highs_cont = [], [], [], []
    for i, d in enumerate(mixture.distributions):
        if isinstance(d, _BatchedCategoricalDistributions):
            with np.errstate(divide="ignore"):
                log_weights = np.log(d.weights)  # the same logs, taken once per component
            weighted = np.zeros(shape) if weighted is None else weighted
            weighted += log_weights[:, x[:, i].astype(np.int64)].T
            continue
        is_log = d.is_log
        if (step := d.step) == 0.0:
            cont_dists.append(d)
            x_cont.append(np.log(x[:, i]) if is_log else x[:, i])
            lows_cont.append(d.adapted_low)
            highs_cont.append(d.adapted_high)
        else:  # Optuna's own lines
            weighted = np.zeros(shape) if weighted is None else weighted
            xi_uniq, xi_inv = np.unique(x[:, i], return_inverse=True)
            mu_uniq, sigma_uniq, mu_sigma_inv = _unique_inverse_2d(d.mu, d.sigma)
            left = np.log(xi_uniq - step / 2) if is_log else (xi_uniq - step / 2)
            right = np.log(xi_uniq + step / 2) if is_log else (xi_uniq + step / 2)
            weighted += _log_gauss_mass_unique(
                (left[:, np.newaxis] - mu_uniq) / sigma_uniq,
                (right[:, np.newaxis] - mu_uniq) / sigma_uniq,
            )[np.ix_(xi_inv, mu_sigma_inv)]
            weighted -= _truncnorm._log_gauss_mass(
                (d.adapted_low - mu_uniq) / sigma_uniq, (d.adapted_high - mu_uniq) / sigma_uniq
            )[mu_sigma_inv]
    if x_cont:
        mus = np.asarray([d.mu for d in cont_dists]).T
        sigmas = np.asarray([d.sigma for d in cont_dists]).T
        lows, highs = np.asarray(lows_cont), np.asarray(highs_cont)
        logpdf = _truncnorm_logpdf(
            np.asarray(x_cont).T[:, np.newaxis, :],
            a=(lows - mus) / sigmas,
            b=(highs - mus) / sigmas,
            loc=mus,
            scale=sigmas,
            low=lows,
            high=highs,
        )
        # one parameter (TPE samples each alone): the sum of one term is that term
        term = logpdf[..., 0] if logpdf.shape[-1] == 1 else logpdf.sum(axis=-1)
        if weighted is None:
            weighted = term  # (0.0 + term is term: no zeros to add it to)
        else:
            weighted += term
    if weighted is None:
        weighted = np.zeros(shape, dtype=np.float64)
    weighted += np.log(mixture.weights[np.newaxis])
    max_ = weighted.max(axis=1)
    max_[np.isneginf(max_)] = 0  # no (-inf) - (-inf) where the probability is zero
    weighted -= max_[:, None]
    _exp(weighted)
    with np.errstate(divide="ignore"):
        found: np.ndarray = np.log(weighted.sum(axis=1)) + max_
    return found


_UNDERFLOW = -746.0  # exp(x) is 0.0 below about -745.13


def _exp(values: np.ndarray) -> None:
    """``np.exp(values, out=values)``: the same array, bit for bit, several times faster.

    A candidate far from most of a long study's components has log terms thousands below
    its largest; ``exp`` of those is 0.0, which ``np.exp`` reaches by a slow path (most of
    the time of scoring 24 candidates against 9,000 components). Those are set to 0.0
    directly, and only the others are exponentiated (NaN included: it stays NaN).
    """
    flat = values.reshape(-1)
    gone = flat < _UNDERFLOW
    if not gone.any():
        np.exp(values, out=values)
        return
    kept = np.flatnonzero(~gone)
    exps = np.exp(flat[kept])
    flat[:] = 0.0
    flat[kept] = exps


def _truncnorm_logpdf(
    x: np.ndarray,
    *,
    a: np.ndarray,
    b: np.ndarray,
    loc: np.ndarray,
    scale: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> np.ndarray:
    """Optuna's ``_truncnorm.logpdf(x, a, b, loc, scale)`` in place (``x`` is broadcast
    against the components' arrays; ``a = (low - loc) / scale``, ``b = (high - loc) /
    scale``)."""
    z = x - loc
    z /= scale
    out: np.ndarray = np.square(z)  # x**2
    out *= -0.5  # -(x**2) / 2.0: both scale by a power of two, exactly
    out -= _truncnorm._norm_pdf_logC
    out -= _truncnorm._log_gauss_mass(a, b)
    out -= np.log(scale)
    # z < a exactly where x < low, as the same loc and scale map both (rounding is monotone):
    # in-range candidates (all, as sampled) need no comparison per component
    if (x < low).any() or (x > high).any():
        outside = z < a
        outside |= z > b
        out[outside] = -np.inf
    degenerate = a == b
    if degenerate.any():
        out[np.broadcast_to(degenerate, out.shape)] = np.nan
    return out


def acquisition(samples: dict[str, np.ndarray], below: Any, above: Any) -> np.ndarray:
    """``TPESampler._compute_acquisition_func``: the log density ratio of the candidates."""
    log_below = mixture_log_pdf(below._mixture_distribution, below._transform(samples))
    log_above = mixture_log_pdf(above._mixture_distribution, above._transform(samples))
    ratio: np.ndarray = log_below - log_above
    return ratio
