"""TPE's acquisition: the log density of a Parzen mixture, over the components that count.

Optuna's TPE scores each of its 24 candidates by the log density of the good trials' Parzen
mixture minus that of the bad trials' mixture: one component per trial, so at 10,000 trials
24 x 9,000 (candidate, component) terms per parameter, which the samplers of a long study
spend most of their time on. The density is a log-sum-exp over the components; a term more
than 60 below its candidate's largest adds less than ``e**-60`` (about ``1e-26``) of the
sum, far below a float's precision (``2e-16``), however many there are. With thousands of
trials a continuous parameter's kernels are narrow (Optuna clips them at a hundredth of the
range), so most components are that far from a given candidate. :func:`mixture_log_pdf`
bounds each component's term from above without computing it (its constant part plus the
Gaussian term along one continuous dimension), finds the components that can come within 60
of the candidate's largest term by a binary search over the components sorted along that
dimension, and computes the terms of those only.

The result is Optuna's ``_MixtureOfProductDistribution.log_pdf`` to rounding (the tests
compare them to a relative 1e-12 over every kind of distribution, and the suggestions value
for value); -inf (a candidate outside the range, a zero weight) and NaN (a degenerate
range) come out as there. The Gaussian masses use ``scipy.special`` where Optuna has its own
``erf``. It imports Optuna's private TPE modules and follows Optuna 5's ``log_pdf``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.samplers._tpe.probability_distributions import _BatchedCategoricalDistributions
from scipy import special

__all__ = ["acquisition", "log_gauss_mass", "mixture_log_pdf"]

#: A term this far below its candidate's largest adds < e**-60 of the sum: nothing.
_NEGLIGIBLE = 60.0
#: Below this many (candidate, component) pairs every pair is computed (measured: windows pay
#: from about 2,000 components against 24 candidates).
_WINDOW_FROM = 48_000
#: Both ends this many standard deviations away: the mass misses 1 by < 2e-17, its log is 0.
_WHOLE = 8.5
#: Nearest components (along the window's dimension) whose terms bound a candidate's largest.
_PROBES = 8
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def log_gauss_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Log of the standard normal's mass on ``[a, b]``, elementwise (Optuna's
    ``_truncnorm._log_gauss_mass``, by the same three cases, with ``scipy.special``).

    Examples:
        >>> round(float(np.exp(log_gauss_mass(np.array([-1.0]), np.array([1.0]))[0])), 6)
        0.682689
        >>> bool(log_gauss_mass(np.array([40.0]), np.array([41.0]))[0] < -800)
        True
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    out = np.full(a.shape, np.nan)
    left = b <= 0
    right = a > 0
    whole = (a < -_WHOLE) & (b > _WHOLE)
    out[whole] = 0.0
    central = ~(left | right | whole)
    with np.errstate(divide="ignore", invalid="ignore"):
        if left.any():
            out[left] = _log_diff(special.log_ndtr(b[left]), special.log_ndtr(a[left]))
        if right.any():
            out[right] = _log_diff(special.log_ndtr(-a[right]), special.log_ndtr(-b[right]))
        if central.any():
            out[central] = np.log1p(-special.ndtr(a[central]) - special.ndtr(-b[central]))
    return out


def _log_diff(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """``log(p - q)`` from ``log p`` and ``log q`` (``p >= q``)."""
    found: np.ndarray = log_p + np.log1p(-np.exp(log_q - log_p))
    return found


class _Kernels:
    """A mixture's components as arrays: each one's constant part, and each dimension's."""

    def __init__(self, mixture: Any, x: np.ndarray) -> None:
        with np.errstate(divide="ignore"):
            self.const = np.log(np.asarray(mixture.weights, dtype=float))
        self.categorical: list[tuple[np.ndarray, np.ndarray]] = []  # (x column, log weights)
        self.gauss: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, float]] = []
        self.discrete: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.outside = np.zeros(len(x), dtype=bool)  # candidates outside some range: -inf
        self.degenerate = False  # a component of zero width: NaN everywhere, as Optuna's
        for i, d in enumerate(mixture.distributions):
            if isinstance(d, _BatchedCategoricalDistributions):
                with np.errstate(divide="ignore"):
                    log_weights = np.log(d.weights)
                self.categorical.append((x[:, i].astype(np.int64), log_weights))
                continue
            mu, sigma = np.asarray(d.mu, dtype=float), np.asarray(d.sigma, dtype=float)
            low, high = d.adapted_low, d.adapted_high
            a, b = (low - mu) / sigma, (high - mu) / sigma
            self.const = self.const - log_gauss_mass(a, b)
            with np.errstate(divide="ignore", invalid="ignore"):
                if (step := d.step) == 0.0:
                    xi = np.log(x[:, i]) if d.is_log else x[:, i]
                    self.outside |= (xi < low) | (xi > high)
                    self.degenerate |= bool((a == b).any())
                    self.const = self.const - _LOG_SQRT_2PI - np.log(sigma)
                    self.gauss.append((xi, mu, sigma, low, high))
                else:
                    left = np.log(x[:, i] - step / 2) if d.is_log else x[:, i] - step / 2
                    right = np.log(x[:, i] + step / 2) if d.is_log else x[:, i] + step / 2
                    self.discrete.append((left, right, mu, sigma))

    def terms(self, cand: np.ndarray, comp: np.ndarray) -> np.ndarray:
        """The log term of each (candidate, component) pair."""
        t: np.ndarray = self.const[comp]
        for xi, mu, sigma, _, _ in self.gauss:
            z = xi[cand] - mu[comp]
            z /= sigma[comp]
            z *= z
            z *= 0.5
            t -= z
        for xc, log_weights in self.categorical:
            t += log_weights[comp, xc[cand]]
        for left, right, mu, sigma in self.discrete:
            m, s = mu[comp], sigma[comp]
            t += log_gauss_mass((left[cand] - m) / s, (right[cand] - m) / s)
        return t

    def dense(self, m: int) -> np.ndarray:
        """Every term: ``(candidates, components)``."""
        t = np.broadcast_to(self.const, (m, len(self.const))).copy()
        for xi, mu, sigma, _, _ in self.gauss:
            z = xi[:, None] - mu
            z /= sigma
            z *= z
            z *= 0.5
            t -= z
        for xc, log_weights in self.categorical:
            t += log_weights[:, xc].T
        for left, right, mu, sigma in self.discrete:
            t += log_gauss_mass((left[:, None] - mu) / sigma, (right[:, None] - mu) / sigma)
        return t

    def windows(self, m: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The pairs whose term can matter: (candidate, component) index arrays, each
        candidate's pairs together, in candidate order; None where every pair is to be
        computed (small mixtures, no continuous dimension)."""
        n = len(self.const)
        best = None
        for d, (_, _, sigma, low, high) in enumerate(self.gauss):
            cap = float(np.partition(sigma, (9 * (n - 1)) // 10)[(9 * (n - 1)) // 10])
            width = cap / (high - low) if high > low else math.inf
            if best is None or width < best[0]:
                best = (width, d, cap)
        if best is None or not math.isfinite(best[0]) or m * n < _WINDOW_FROM:
            return None
        _, d, cap = best
        xi, mu, sigma, _, _ = self.gauss[d]
        narrow = np.flatnonzero(sigma <= cap)
        wide = np.flatnonzero(~(sigma <= cap))  # (NaN widths too: always computed)
        by_mu = narrow[np.argsort(mu[narrow], kind="stable")]
        sorted_mu = mu[by_mu]
        # a lower bound of each candidate's largest term: the best of its nearest components
        at = np.searchsorted(sorted_mu, xi)
        probes = np.clip(at[:, None] + np.arange(-_PROBES // 2, _PROBES // 2), 0, len(by_mu) - 1)
        cand = np.repeat(np.arange(m), _PROBES)
        floor = self.terms(cand, by_mu[probes.reshape(-1)]).reshape(m, _PROBES).max(axis=1)
        # a component's term is at most its constant less its Gaussian term along d (the other
        # dimensions add at most 0): far enough along d, it is below floor - _NEGLIGIBLE
        top = float(self.const[narrow].max())
        with np.errstate(invalid="ignore"):
            reach = cap * np.sqrt(2.0 * np.maximum(top - floor + _NEGLIGIBLE, 0.0))
        reach[~(reach < math.inf)] = math.inf  # (no finite floor: every component)
        lo = np.searchsorted(sorted_mu, xi - reach, side="left")
        hi = np.searchsorted(sorted_mu, xi + reach, side="right")
        lo[~(reach < math.inf)], hi[~(reach < math.inf)] = 0, len(by_mu)
        runs = []
        for j in range(m):
            runs.append(by_mu[lo[j] : hi[j]])
            runs.append(wide)
        return np.repeat(np.arange(m), hi - lo + len(wide)), np.concatenate(runs)


def mixture_log_pdf(mixture: Any, x: np.ndarray) -> np.ndarray:
    """``mixture.log_pdf(x)`` (Optuna's ``_MixtureOfProductDistribution``), to rounding.

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
        >>> bool(np.allclose(mixture_log_pdf(mixture, x), mixture.log_pdf(x), rtol=1e-12))
        True
    """
    if len(x) > 1:
        # candidates drawn more than once (a categorical parameter sampled alone has a few
        # values for 24 candidates): each distinct row is scored once
        unique, inverse = np.unique(x, axis=0, return_inverse=True)
        if len(unique) < len(x):
            found: np.ndarray = _log_pdf(mixture, unique)[inverse.reshape(-1)]
            return found
    return _log_pdf(mixture, x)


def _log_pdf(mixture: Any, x: np.ndarray) -> np.ndarray:
    """:func:`mixture_log_pdf` of each row of ``x``."""
    m = len(x)
    kernels = _Kernels(mixture, x)
    if kernels.degenerate:
        return np.full(m, np.nan)
    if len(kernels.const) == 0:
        return np.full(m, -np.inf)
    pairs = kernels.windows(m)
    if pairs is None:
        return _logsumexp_rows(kernels.dense(m), kernels.outside)
    cand, comp = pairs
    t = kernels.terms(cand, comp)
    counts = np.bincount(cand, minlength=m)
    starts = np.cumsum(counts) - counts
    largest = np.full(m, -np.inf)
    some = counts > 0
    if some.any():
        largest[some] = np.maximum.reduceat(t, starts[some])
    shift = largest.copy()
    shift[np.isneginf(shift)] = 0.0  # no (-inf) - (-inf) where the probability is zero
    t -= shift[cand]
    t[t < -700.0] = -np.inf  # (exp of less adds nothing here, by a slow path)
    with np.errstate(divide="ignore"):
        found: np.ndarray = np.log(np.bincount(cand, weights=np.exp(t), minlength=m)) + shift
    found[kernels.outside] = -np.inf
    return found


def _logsumexp_rows(t: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Each row's log-sum-exp (``t`` is overwritten); -inf for the rows ``outside``."""
    largest = t.max(axis=1)
    shift = largest.copy()
    shift[np.isneginf(shift)] = 0.0  # no (-inf) - (-inf) where the probability is zero
    t -= shift[:, None]
    t[t < -700.0] = -np.inf  # (exp of less adds nothing here, by a slow path)
    np.exp(t, out=t)
    with np.errstate(divide="ignore"):
        found: np.ndarray = np.log(t.sum(axis=1)) + shift
    found[outside] = -np.inf
    return found


def acquisition(samples: dict[str, np.ndarray], below: Any, above: Any) -> np.ndarray:
    """``TPESampler._compute_acquisition_func``: the log density ratio of the candidates."""
    log_below = mixture_log_pdf(below._mixture_distribution, below._transform(samples))
    log_above = mixture_log_pdf(above._mixture_distribution, above._transform(samples))
    ratio: np.ndarray = log_below - log_above
    return ratio
