"""Generation-time "good helicity" filter: which helicity combinations of a subprocess never contribute.

MadGraph evaluates every helicity combination on the first events of a run and keeps those whose
|M_h|^2 is not zero ("good helicities"). madgen does the same once, at generation time, so the
filtered list is part of the generated package: the package is rendered with every combination, its
kernel modules are imported from a private temporary directory with numpy as their array library
(``madgen.codegen.emit.numpy_kernel_files``: the same code, evaluated without compiling anything, in
milliseconds where JAX would first compile every operation), and the per-helicity weights are
evaluated at a few random on-shell phase-space points and at two parameter points: the defaults, and
every external parameter moved at random (zeros included), so that a combination that vanishes only at
the default parameter values (an EFT coefficient at 0, a mass set to 0 on the param card) is kept. A
combination is dropped when its weight is below ``RELATIVE_THRESHOLD`` of the helicity sum at every
point tried; what vanishes there vanishes identically, since the weights are analytic in the momenta
and the parameters.

Helicity amplitudes depend on the frame (a combination of g g > t t~ that vanishes with the beams along z does not in a boosted, rotated
frame), and a generated |M|^2 accepts momenta in any frame, so every test point is in a random
Lorentz frame: only what vanishes in every frame (helicity conservation of massless fermions) is
dropped. Parameters restricted to zero by the model's restriction card are absent from the package
and stay zero, as in MadGraph.
"""

from __future__ import annotations

import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RELATIVE_THRESHOLD = 1e-20
"""|M_h|^2 / sum_h |M_h|^2 below which a combination counts as vanishing at a point (an amplitude
ratio of 1e-10: far above the rounding noise of gauge cancellations, far below any physical
suppression that matters at the 1e-14 level the filter must preserve)."""

N_POINTS = 3
"""Random phase-space points per parameter point."""

SEED = 20261202
"""Fixed seed: the filter, like all of generation, is deterministic."""


@dataclass(frozen=True)
class HelicityFilter:
    """The outcome for one subprocess: the indices (into the unfiltered combinations) that are kept,
    and why nothing was filtered when that is the case."""

    module: str
    kept: tuple[int, ...]
    n_combinations: int
    skipped: str | None = None  # a reason, when the filter could not run and every combination is kept


def good_helicities(files: dict[str, str], modules: list[str], evaluate: list[int] | None = None
                    ) -> dict[str, HelicityFilter]:
    """Render-evaluate-decide: ``files`` is a complete package (file name -> text) with every helicity
    combination, ``modules`` its subprocess modules in the package's order; returns, for the modules
    at the indices ``evaluate`` (default all), the combinations to keep."""
    from madgen.codegen.emit import numpy_kernel_files

    chosen = [modules[i] for i in (range(len(modules)) if evaluate is None else evaluate)]
    with tempfile.TemporaryDirectory(prefix="madgen-helicity-filter-") as tmp:
        directory = Path(tmp) / "kernels"
        directory.mkdir()
        for name, text in numpy_kernel_files(files).items():
            (directory / name).write_text(text)
        try:
            parameters = _import(directory, "parameters")
            return {module: _filter_subprocess(module, _import(directory, module), parameters) for module in chosen}
        finally:
            for name in [n for n in sys.modules if n == _KERNELS_PACKAGE or n.startswith(_KERNELS_PACKAGE + ".")]:
                del sys.modules[name]


_KERNELS_PACKAGE = "madgen_helicity_filter_kernels"
"""The name the numpy view of the package's kernel modules is imported under, for the filter's duration."""


def _import(directory: Path, module: str):
    """Module ``module`` of the numpy kernel package written in ``directory``."""
    import importlib

    from madgen.contract import import_package_directory

    if _KERNELS_PACKAGE not in sys.modules:
        import_package_directory(_KERNELS_PACKAGE, directory)
    return importlib.import_module(f"{_KERNELS_PACKAGE}.{module}")


def _filter_subprocess(module: str, kernel, parameters_module) -> HelicityFilter:
    """The combinations of ``kernel`` (a subprocess module, numpy view) to keep; ``parameters_module``:
    its package's parameters.py (numpy view)."""
    n_combinations = len(kernel.HELICITIES)
    rng = np.random.default_rng(SEED)
    defaults = dict(parameters_module.EXTERNAL_DEFAULTS)
    largest = np.zeros(n_combinations)
    for candidates in ([defaults], [_moved_parameters(defaults, rng, 0.03), _moved_parameters(defaults, rng, 0.0)]):
        for parameters in candidates:  # the first one that gives finite values (moved inputs can leave
            shares = _helicity_shares(kernel, parameters_module, parameters, rng)
            if isinstance(shares, np.ndarray):  # the physical region, e.g. MW^2 < 0)
                break
        if not isinstance(shares, np.ndarray):
            return HelicityFilter(module, tuple(range(n_combinations)), n_combinations, skipped=shares)
        largest = np.maximum(largest, shares)
    kept = tuple(int(h) for h in np.flatnonzero(largest > RELATIVE_THRESHOLD))
    return HelicityFilter(module, kept, n_combinations)


def _helicity_shares(kernel, parameters_module, parameters, rng) -> np.ndarray | str:
    """Largest |M_h|^2 / sum_h |M_h|^2 over ``N_POINTS`` random points at the external ``parameters``, or
    why it could not be computed."""
    with np.errstate(all="ignore"):  # a NaN or infinity is caught below
        internal = parameters_module.compute_parameters(parameters)
        masses = np.array([0.0 if name == "ZERO" else np.real(internal[name]) for name in kernel.MASS_PARAMETERS])
        momenta = random_on_shell_points(masses, kernel.N_INITIAL, N_POINTS, rng, random_frames=True)
        if momenta is None:
            return f"no phase space for the masses {masses.tolist()}"
        weights = np.abs(kernel.helicity_weights(np.transpose(momenta, (1, 2, 0)), internal)).T
    total = weights.sum(axis=-1, keepdims=True)
    if not (np.all(np.isfinite(weights)) and np.all(total > 0)):
        return "|M|^2 is zero or not finite at a test point"
    return np.max(weights / total, axis=0)


def _moved_parameters(defaults: dict[str, float], rng, fraction: float) -> dict[str, float]:
    """The external parameters moved at random: zeros (a Wilson coefficient, a width, a mass set to zero
    on the param card) to 0.1-0.3, the others by up to ``fraction`` either way."""
    moved = {}
    for name, value in defaults.items():
        value = float(np.real(value))
        if value == 0.0:
            moved[name] = float(rng.uniform(0.1, 0.3))
        else:
            moved[name] = value * float(1.0 + rng.uniform(-fraction, fraction))
    return moved


def random_on_shell_points(masses, n_initial: int, n_points: int, rng,
                           random_frames: bool = False) -> np.ndarray | None:
    """``n_points`` random on-shell momenta (n_points, n_legs, 4) with momentum conservation: for 2 -> n
    the beams along z at a centre-of-mass energy well above threshold; for a 1 -> n decay the parent
    at rest. The final state is built from successive two-body splittings with random invariant masses
    and directions. None when there is no phase space (a decay below threshold, a massless parent).
    ``random_frames``: each point then moved to a random Lorentz frame (rotated and boosted)."""
    masses = np.asarray(masses, dtype=np.float64)
    initial, final = masses[:n_initial], masses[n_initial:]
    if n_initial == 1:
        sqrt_s = float(initial[0])
        if sqrt_s <= 0.0 or sqrt_s <= final.sum() * (1 + 1e-9):
            return None
    else:
        sqrt_s = 3.0 * max(float(final.sum()), float(initial.sum())) + 500.0
    points = []
    for _ in range(n_points):
        incoming = _incoming(initial, sqrt_s)
        outgoing = _split(np.array([sqrt_s, 0.0, 0.0, 0.0]), final, rng)
        points.append(np.concatenate([incoming, outgoing]))
    points = np.stack(points)
    return _random_frames(points, rng) if random_frames else points


def _random_frames(points: np.ndarray, rng) -> np.ndarray:
    """Each point in its own random Lorentz frame: rotated at random, then boosted with a speed up to
    0.8 c in a random direction (on-shellness and momentum conservation are kept)."""
    moved = []
    for point in points:
        rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        rotated = np.concatenate([point[:, :1], point[:, 1:] @ rotation.T], axis=1)
        direction = rng.normal(size=3)
        beta = rng.uniform(0.1, 0.8) * direction / np.linalg.norm(direction)
        gamma = 1.0 / math.sqrt(1.0 - beta @ beta)
        frame = np.concatenate([[gamma], gamma * beta])  # the four-velocity of the new frame's motion
        moved.append(np.stack([_boost(p, frame) for p in rotated]))
    return np.stack(moved)


def _incoming(masses, sqrt_s: float) -> np.ndarray:
    if len(masses) == 1:
        return np.array([[sqrt_s, 0.0, 0.0, 0.0]])
    m1, m2 = masses
    s = sqrt_s ** 2
    momentum = math.sqrt(max((s - (m1 + m2) ** 2) * (s - (m1 - m2) ** 2), 0.0)) / (2 * sqrt_s)
    e1, e2 = (s + m1 ** 2 - m2 ** 2) / (2 * sqrt_s), (s + m2 ** 2 - m1 ** 2) / (2 * sqrt_s)
    return np.array([[e1, 0.0, 0.0, momentum], [e2, 0.0, 0.0, -momentum]])


def _split(total: np.ndarray, masses: np.ndarray, rng) -> np.ndarray:
    """The momenta of ``masses`` summing to ``total`` (timelike): the first leg against the rest, whose
    invariant mass is drawn between its threshold and the largest value allowed, then recursively."""
    if len(masses) == 1:
        return total[None]
    big_m = math.sqrt(total[0] ** 2 - total[1:] @ total[1:])
    rest_min = masses[1:].sum()
    rest_max = big_m - masses[0]
    rest = masses[1] if len(masses) == 2 else rest_min + rng.uniform(0.2, 0.8) * (rest_max - rest_min)
    first, second = _two_body(big_m, masses[0], rest, rng)
    first, second = _boost(first, total), _boost(second, total)
    return np.concatenate([first[None], _split(second, masses[1:], rng)])


def _two_body(big_m: float, m1: float, m2: float, rng) -> tuple[np.ndarray, np.ndarray]:
    momentum = math.sqrt(max((big_m ** 2 - (m1 + m2) ** 2) * (big_m ** 2 - (m1 - m2) ** 2), 0.0)) / (2 * big_m)
    cos_theta, phi = rng.uniform(-1.0, 1.0), rng.uniform(0.0, 2 * math.pi)
    sin_theta = math.sqrt(1.0 - cos_theta ** 2)
    direction = np.array([sin_theta * math.cos(phi), sin_theta * math.sin(phi), cos_theta])
    first = np.concatenate([[math.sqrt(momentum ** 2 + m1 ** 2)], momentum * direction])
    second = np.concatenate([[math.sqrt(momentum ** 2 + m2 ** 2)], -momentum * direction])
    return first, second


def _boost(p: np.ndarray, total: np.ndarray) -> np.ndarray:
    """p from the rest frame of ``total`` to the frame where it has momentum ``total``."""
    mass = math.sqrt(total[0] ** 2 - total[1:] @ total[1:])
    beta_p = total[1:] @ p[1:]
    energy = (total[0] * p[0] + beta_p) / mass
    spatial = p[1:] + total[1:] * (p[0] + beta_p / (total[0] + mass)) / mass
    return np.concatenate([[energy], spatial])
