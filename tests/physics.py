"""Test helpers: on-shell phase-space points, Lorentz transformations, gauge checks.

Written independently of the generated code so that the tests compare against
something nobody generated.
"""

from __future__ import annotations

import numpy as np

METRIC = np.diag([1.0, -1.0, -1.0, -1.0])


def dot(a, b):
    return a[..., 0] * b[..., 0] - a[..., 1] * b[..., 1] - a[..., 2] * b[..., 2] - a[..., 3] * b[..., 3]


def rambo(sqrt_s: float, masses, rng, n_events: int = 1) -> np.ndarray:
    """Massive RAMBO (Kleiss, Stirling, Ellis 1986) in the centre-of-mass frame.

    Returns (n_events, n_final, 4) final-state momenta with the given masses summing to (sqrt_s, 0, 0, 0).
    """
    masses = np.asarray(masses, dtype=float)
    n = len(masses)
    out = np.empty((n_events, n, 4))
    for event in range(n_events):
        c = 2 * rng.random(n) - 1
        phi = 2 * np.pi * rng.random(n)
        energy = -np.log(rng.random(n) * rng.random(n))
        s_c = np.sqrt(1 - c ** 2)
        q = np.stack([energy, energy * s_c * np.cos(phi), energy * s_c * np.sin(phi), energy * c], axis=1)
        total = q.sum(axis=0)
        mass = np.sqrt(dot(total, total))
        b = -total[1:] / mass
        x = sqrt_s / mass
        gamma = total[0] / mass
        a = 1 / (1 + gamma)
        bq = q[:, 1:] @ b
        p = np.empty_like(q)
        p[:, 0] = x * (gamma * q[:, 0] + bq)
        p[:, 1:] = x * (q[:, 1:] + b[None, :] * q[:, [0]] + a * bq[:, None] * b[None, :])
        if np.any(masses > 0):
            xi = _rescaling(p[:, 0], masses, sqrt_s)
            p[:, 1:] *= xi
            p[:, 0] = np.sqrt(masses ** 2 + xi ** 2 * p[:, 0] ** 2)
        out[event] = p
    return out


def _rescaling(energies, masses, sqrt_s):
    xi = np.sqrt(1 - (masses.sum() / sqrt_s) ** 2)
    for _ in range(50):
        e = np.sqrt(masses ** 2 + xi ** 2 * energies ** 2)
        f = e.sum() - sqrt_s
        df = (xi * energies ** 2 / e).sum()
        xi -= f / df
        if abs(f) < 1e-14 * sqrt_s:
            break
    return xi


def collision_points(sqrt_s: float, initial_masses, final_masses, rng, n_events: int) -> np.ndarray:
    """Full (n_events, n_legs, 4) momenta: two beams along +-z in the CM frame, RAMBO final state."""
    m1, m2 = initial_masses
    p = np.sqrt((sqrt_s ** 2 - (m1 + m2) ** 2) * (sqrt_s ** 2 - (m1 - m2) ** 2)) / (2 * sqrt_s)
    e1, e2 = np.sqrt(p ** 2 + m1 ** 2), np.sqrt(p ** 2 + m2 ** 2)
    beams = np.array([[e1, 0, 0, p], [e2, 0, 0, -p]])
    final = rambo(sqrt_s, final_masses, rng, n_events)
    return np.concatenate([np.broadcast_to(beams, (n_events, 2, 4)), final], axis=1)


def boost_matrix(beta) -> np.ndarray:
    beta = np.asarray(beta, dtype=float)
    b2 = beta @ beta
    gamma = 1 / np.sqrt(1 - b2)
    matrix = np.eye(4)
    matrix[0, 0] = gamma
    matrix[0, 1:] = matrix[1:, 0] = gamma * beta
    matrix[1:, 1:] += (gamma - 1) * np.outer(beta, beta) / b2
    return matrix


def rotation_matrix(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, dtype=float)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    r = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    matrix = np.eye(4)
    matrix[1:, 1:] = r
    return matrix


def transform(momenta, matrix):
    return np.einsum("ij,...j->...i", matrix, momenta)


def momentum_differences(process, event, relative_step: float = 1e-5) -> np.ndarray:
    """Central finite differences d|M|^2/dp of one event (n_legs, 4), each component stepped by
    relative_step times its leg's energy: all 2 x n_legs x 4 shifted copies in one batch (one compiled
    call), evaluated unchecked (they are off shell and do not conserve momentum)."""
    steps = relative_step * event[:, :1] * np.ones((1, 4))
    shifts = np.zeros((event.size, *event.shape))
    shifts[np.arange(event.size), *np.unravel_index(np.arange(event.size), event.shape)] = steps.ravel()
    values = np.asarray(process.matrix_element(np.concatenate([event + shifts, event - shifts]), check=False))
    return ((values[:event.size] - values[event.size:]) / (2 * steps.ravel())).reshape(event.shape)
