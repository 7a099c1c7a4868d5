"""Per-event functions over batches of any size in fixed-size chunks, inside one compiled function.

Why: a derivative of |M|^2 keeps every intermediate of the amplitude for the whole batch (reverse
mode) or carries k tangents through it (forward mode), so its memory grows with the batch; the
backward pass of 1e6 events of g g > t t~ needed more than 28 GB. ``chunked_map`` evaluates a
per-event function on (n_chunks, chunk, ...) with ``jax.lax.map``, so at most one chunk's
intermediates are alive: peak memory ~ inputs + outputs + C x chunk_size x (bytes per event).

Events must be independent (row i of the output depends on row i of the inputs only): the last
chunk is padded with copies of the first event and the padding is sliced away. The mapped body is
wrapped in ``jax.checkpoint``, so differentiating *through* ``chunked_map`` (``jax.grad`` of a sum
over a chunked sample) also stores only the chunk inputs, not each chunk's intermediates.

Results equal the unchunked evaluation (same operations on the same rows; tests/test_chunking.py).
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from madgen.inference.errors import InferenceError

DEFAULT_CHUNK_SIZE = 1024
"""Events per chunk of a value or gradient. On CPU the fastest of 1024 / 4096 / 16384 for g g > t t~
(cache-sized chunks), and the smallest peak (benchmarks/gradient_memory.py, docs/mining.md); on a
GPU larger chunks amortise kernel launches: pass ``chunk_size``."""

MODES = ("auto", "forward", "reverse")

FORWARD_MAX_INPUTS = 2
"""``mode="auto"`` uses forward mode for at most this many inputs per event (parameters, momentum
components, unit-cube variables) and reverse mode above: the measured crossover on g g > t t~
(docs/mining.md, "Memory and modes": forward 2x faster at k = 1, equal at
k = 2, reverse 1.4x faster at k = 4 and 2x at k = 8)."""


def chunk_size_of(chunk_size, default: int = DEFAULT_CHUNK_SIZE) -> int:
    """``chunk_size`` checked: a positive integer (None: ``default``)."""
    if chunk_size is None:
        return default
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise InferenceError(f"chunk_size must be a positive integer (events per chunk), got {chunk_size!r}")
    return int(chunk_size)


def mode_of(mode: str, n_inputs: int) -> str:
    """"forward" or "reverse" for a derivative in ``n_inputs`` variables per event (``mode="auto"``:
    forward up to ``FORWARD_MAX_INPUTS``)."""
    if mode not in MODES:
        raise InferenceError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if mode == "auto":
        return "forward" if n_inputs <= FORWARD_MAX_INPUTS else "reverse"
    return mode


def chunked_map(function, batched, chunk_size: int, checkpoint: bool = True):
    """``function(batched)`` for a pytree ``batched`` of per-event arrays (common leading axis N),
    evaluated ``chunk_size`` events at a time; ``function`` maps a chunk (same pytree, leading axis
    chunk) to a pytree of per-event outputs (leading axis chunk). Traceable (use inside jit).

    A batch of at most ``chunk_size`` events is one call of ``function`` (no loop, no padding)."""
    chunk_size = chunk_size_of(chunk_size)
    leaves = jax.tree_util.tree_leaves(batched)
    if not leaves:
        raise InferenceError("chunked_map needs at least one per-event array")
    n = leaves[0].shape[0]
    if any(leaf.shape[:1] != (n,) for leaf in leaves):
        raise InferenceError(f"per-event arrays differ in their number of events: {[l.shape for l in leaves]}")
    body = jax.checkpoint(function) if checkpoint else function
    if n <= chunk_size:
        return body(batched)
    n_chunks = -(-n // chunk_size)
    padding = n_chunks * chunk_size - n

    def split(a):
        if padding:
            a = jnp.concatenate([a, jnp.repeat(a[:1], padding, axis=0)])
        return a.reshape((n_chunks, chunk_size) + a.shape[1:])

    def join(a):
        return a.reshape((n_chunks * chunk_size,) + a.shape[2:])[:n]

    outputs = jax.lax.map(body, jax.tree_util.tree_map(split, batched))
    return jax.tree_util.tree_map(join, outputs)


def split_parameters(parameters: Mapping, n: int) -> tuple[dict, dict]:
    """(shared, per_event): parameters with one value per event (shape (n,)) apart from the rest,
    so that the per-event ones are chunked with the momenta."""
    per_event = {k: v for k, v in parameters.items() if np.ndim(v) >= 1 and np.shape(v)[0] == n}
    shared = {k: v for k, v in parameters.items() if k not in per_event}
    return shared, per_event


def basis(shape) -> jnp.ndarray:
    """The unit vectors of an array of ``shape``: (prod(shape), *shape)."""
    size = int(np.prod(shape, dtype=np.int64))
    return jnp.eye(size, dtype=jnp.float64).reshape((size, *shape))


def per_event_gradient(function, x, mode: str):
    """(f(x) (m,), d f_i / d x_i (m, *s)) of a function of m independent events x (m, *s) -> (m,).

    ``forward``: one tangent per variable (prod(s) jvps, all events at once); ``reverse``: one vjp of
    the batch (cotangent 1 per event; events are independent, so it gives each event's gradient)."""
    if mode == "reverse":
        value, pullback = jax.vjp(function, x)
        return value, pullback(jnp.ones_like(value))[0]
    directions = basis(x.shape[1:])

    def along(direction):
        return jax.jvp(function, (x,), (jnp.broadcast_to(direction, x.shape),))

    values, slopes = jax.vmap(along)(directions)  # (d, m), (d, m)
    return values[0], jnp.moveaxis(slopes, 0, -1).reshape(x.shape)


def per_event_hessian(function, x, mode: str):
    """d^2 f_i / d x_i d x_i (m, *s, *s) of independent events (see ``per_event_gradient``):
    forward over the per-event gradient of ``mode`` (``reverse``: forward-over-reverse, d jvps of
    a vjp; ``forward``: forward-over-forward, d^2 jvps)."""
    directions = basis(x.shape[1:])

    def gradient(y):
        return per_event_gradient(function, y, mode)[1]

    def along(direction):
        return jax.jvp(gradient, (x,), (jnp.broadcast_to(direction, x.shape),))[1]

    columns = jax.vmap(along)(directions)  # (d, m, *s): d/dx_b of the gradient
    shape = x.shape[1:]
    return jnp.moveaxis(columns, 0, -1).reshape((x.shape[0], *shape, *shape))


__all__ = ["DEFAULT_CHUNK_SIZE", "FORWARD_MAX_INPUTS", "MODES", "basis", "chunk_size_of", "chunked_map", "mode_of",
           "per_event_gradient", "per_event_hessian", "split_parameters"]
