"""VEGAS grids as data: the map y -> x applied in JAX on the device, the adaptation on the host.

A grid is, per dimension, ``ninc`` increments of [0, 1] (the ``vegas`` package's
``AdaptiveMap.grid``). A uniform y in [0, 1) falls into increment i = floor(y ninc) at fraction
d = y ninc - i, and maps to x = edge_i + d (edge_{i+1} - edge_i) with Jacobian
J = prod_d ninc (edge_{i+1} - edge_i), so that E_y[f(x(y)) J(y)] = ∫ f(x) dx (Lepage, J. Comput.
Phys. 27 (1978) 192).

Adaptation (Lepage's rule) needs, per dimension and increment, the sum of the training values
(w² of the points that fell there) and their count. The device accumulates both as histograms
(``accumulate_histograms``); the host feeds them to ``vegas.AdaptiveMap`` (its ``sum_f`` / ``n_f``
accumulators, what ``add_training_data`` would fill) and lets vegas adapt. Grids are immutable:
``Grid.adapted`` returns a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

INCREMENTS = 500
"""Increments per dimension (vegas' default for an AdaptiveMap)."""

TINY = 1e-308
"""vegas adds this to the per-increment counts (``n_f``) so that empty increments divide safely."""


@dataclass(frozen=True, eq=False)
class Grid:
    """The edges of a VEGAS map of the unit cube: (ndim, ninc + 1), read-only."""

    edges: np.ndarray

    def __post_init__(self):
        edges = np.array(self.edges, dtype=np.float64)
        if edges.ndim != 2 or edges.shape[1] < 2:
            raise ValueError(f"grid edges must have shape (ndim, ninc + 1), got {edges.shape}")
        if np.any(np.diff(edges, axis=1) < 0):
            raise ValueError("grid edges must be non-decreasing")
        edges.setflags(write=False)
        object.__setattr__(self, "edges", edges)

    @classmethod
    def uniform(cls, ndim: int, ninc: int = INCREMENTS) -> Grid:
        return cls(np.tile(np.linspace(0.0, 1.0, ninc + 1), (ndim, 1)))

    @property
    def ndim(self) -> int:
        return self.edges.shape[0]

    @property
    def ninc(self) -> int:
        return self.edges.shape[1] - 1

    def padded(self, ndim: int) -> np.ndarray:
        """The edges with uniform extra dimensions up to ``ndim`` (x = y there, J = 1)."""
        extra = np.tile(np.linspace(0.0, 1.0, self.ninc + 1), (ndim - self.ndim, 1))
        return np.concatenate([self.edges, extra])

    def adapted(self, sums: np.ndarray, counts: np.ndarray, alpha: float = 0.5) -> Grid:
        """The grid adapted by vegas to per-increment sums of training values and their counts
        (both (ndim, ninc)), with damping ``alpha`` (vegas' ``AdaptiveMap.adapt``)."""
        import vegas

        sums = np.array(sums[: self.ndim], dtype=np.float64, order="C")
        counts = np.array(counts[: self.ndim], dtype=np.float64, order="C")
        if not np.any(sums > 0):
            return self
        adaptive = vegas.AdaptiveMap(np.array(self.edges))
        adaptive.sum_f = sums
        adaptive.n_f = counts + TINY
        adaptive.adapt(alpha=alpha)
        return Grid(np.asarray(adaptive.grid))


def map_points(edges, y, channel=None):
    """x (batch, ndim), Jacobian (batch,) and increment indices (batch, ndim) of uniform y (batch, ndim)
    through the grid ``edges`` (ndim, ninc + 1), or with ``channel`` (batch,) through the grid of each
    point's channel, ``edges`` (n_channels, ndim, ninc + 1) (a gather of two edges per coordinate)."""
    ninc = edges.shape[-1] - 1
    scaled = y * ninc
    index = jnp.clip(jnp.floor(scaled).astype(jnp.int32), 0, ninc - 1)
    fraction = scaled - index
    dims = jnp.broadcast_to(jnp.arange(y.shape[-1]), index.shape)
    if channel is None:
        low, high = edges[dims, index], edges[dims, index + 1]
    else:
        rows = jnp.broadcast_to(channel[..., None], index.shape)
        low, high = edges[rows, dims, index], edges[rows, dims, index + 1]
    width = high - low
    return low + fraction * width, jnp.prod(width * ninc, axis=-1), index


def accumulate_histograms(sums, counts, channel, index, values, valid):
    """Add ``values`` (batch,) to ``sums[channel, d, index[:, d]]`` and 1 to ``counts`` for every
    dimension d, for the points where ``valid`` (batch,) and 0 < y < 1 as vegas counts them.
    ``sums``/``counts``: (n_channels, ndim, ninc); ``channel``: (batch,); ``index``: (batch, ndim).
    The sums come out the same bits on every run (``add_in_a_fixed_order``), so one seed gives one grid
    and one event sample on a GPU too; the counts are whole numbers, exact in any order."""
    ndim = index.shape[-1]
    dims = jnp.broadcast_to(jnp.arange(ndim), index.shape)
    rows = jnp.broadcast_to(channel[:, None], index.shape)
    weight = jnp.where(valid, values, 0.0)[:, None] * jnp.ones(index.shape)
    count = jnp.where(valid, 1.0, 0.0)[:, None] * jnp.ones(index.shape)
    return add_in_a_fixed_order(sums, (rows, dims, index), weight), counts.at[rows, dims, index].add(count)


def add_in_a_fixed_order(target, indices, values):
    """``target.at[indices].add(values)``, each element's additions in an order fixed by the data.

    On a CPU a scatter-add is a loop over the values, in order. On a GPU it adds with atomics, in an
    order that changes from run to run, so that the same seed would give other VEGAS grids, another
    cross section in its last bits, and other events. There the values are sorted by their flat
    index (a stable sort), each run of equal indices is summed by a segmented scan (a fixed tree of
    additions, no cancellation between runs) and each total is written once (a scatter of distinct
    indices). ``jax.lax.platform_dependent`` picks the branch where the function is lowered."""
    def scatter_add(target, flat, values):
        return target.ravel().at[flat].add(values).reshape(target.shape)

    return jax.lax.platform_dependent(target, _flat_indices(indices, target.shape), jnp.ravel(values),
                                      default=scatter_add, cuda=sorted_segment_add, rocm=sorted_segment_add)


def _flat_indices(indices, shape):
    """The flat (row-major) position in an array of ``shape`` of every element of ``indices``, raveled."""
    flat = jnp.zeros(jnp.shape(indices[0]), dtype=jnp.int32)
    for axis, index in enumerate(indices):
        flat = flat * shape[axis] + jnp.asarray(index, dtype=jnp.int32)
    return jnp.ravel(flat)


def sorted_segment_add(target, flat, values):
    """``target`` plus, at each flat index, the sum of its ``values``, computed in an order fixed by the
    data: a stable sort by index, a segmented inclusive scan, and one write per distinct index."""
    order = jnp.argsort(flat, stable=True)
    keys, ordered = flat[order], values[order]
    change = keys[1:] != keys[:-1]
    starts = jnp.concatenate([jnp.ones(1, dtype=bool), change])
    ends = jnp.concatenate([change, jnp.ones(1, dtype=bool)])

    def segmented_sum(left, right):
        (left_sum, left_start), (right_sum, right_start) = left, right
        return jnp.where(right_start, right_sum, left_sum + right_sum), left_start | right_start

    running, _ = jax.lax.associative_scan(segmented_sum, (ordered, starts))
    size = target.size
    totals = jnp.zeros(size, dtype=target.dtype).at[jnp.where(ends, keys, size)].set(running, mode="drop")
    return (target.ravel() + totals).reshape(target.shape)
