"""Expected Fisher information from joint scores t(x, z | theta) of events sampled at theta.

Per event (shape information): I = E[t t^T], estimated by the sample mean of t t^T with its
standard error (std of t_i t_j over events / sqrt(N)). Because E[t(x|theta)] over the observed x
is the conditional mean of t(x, z|theta), the parton-level I computed from joint scores is an
upper bound on the information of any observable x (equal at parton level).

For a Poisson-distributed number of events (luminosity L, cross section sigma), the total
information adds the rate term: I_total = L sigma I + L grad(sigma) grad(sigma)^T / sigma.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FisherInformation:
    """Per-event expected Fisher information (k, k), its standard error (k, k), and N."""

    names: tuple[str, ...]
    information: np.ndarray
    error: np.ndarray
    n_events: int


def fisher_information(scores, names=None, weights=None) -> FisherInformation:
    """E[t t^T] from scores (N, k) of events at theta (unweighted, or with ``weights`` (N,))."""
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"scores must have shape (N, k), got {scores.shape}")
    n, k = scores.shape
    outer = scores[:, :, None] * scores[:, None, :]
    if weights is None:
        mean = outer.mean(axis=0)
        error = outer.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full((k, k), np.inf)
    else:
        w = np.asarray(weights, dtype=float) / np.sum(weights)
        mean = np.einsum("n,nij->ij", w, outer)
        # standard error of a ratio estimator with normalised weights
        error = np.sqrt(np.einsum("n,nij->ij", w ** 2, (outer - mean) ** 2))
    names = tuple(names) if names is not None else tuple(f"theta{i}" for i in range(k))
    return FisherInformation(names, mean, error, n)


def total_fisher_information(per_event: FisherInformation, cross_section_pb: float, gradient_pb,
                             luminosity_per_pb: float) -> np.ndarray:
    """Shape plus rate information of a Poisson-distributed sample at luminosity L (pb^-1)."""
    gradient = np.asarray(gradient_pb, dtype=float)
    return luminosity_per_pb * (cross_section_pb * per_event.information
                                + np.outer(gradient, gradient) / cross_section_pb)
