"""The event weight of one kernel group: a pure JAX function of unit-cube points x, channel
indices and the external parameters theta.

A kernel group is a set of subprocesses with the same generated matrix element (MadGraph's
grouped P-directories: u u~ > t t~ and c c~ > t t~), integrated together: one |M|^2 evaluation
serves them all, each weighted with its parton luminosity. For a point of channel k,

    w = sum_m f_a_m(x1, muF1) f_b_m(x2, muF2) |M|^2 (|A_k|^2 / sum_j |A_j|^2) dPhi_n J_beams flux conv

with the hadron densities f (1 for particle beams), single-diagram enhancement share of channel
k (1 for flat RAMBO), the phase-space weight of channel k's map, the Jacobian of the momentum
fractions (x1, x2), the flux 1 / (2 lambda^{1/2}(s-hat, m1^2, m2^2)) and conv = (hbar c)^2 in pb:
E_x[w] = sigma_k in pb. With a PDF, alpha_s(muR) of the set replaces the model's ``aS`` in |M|^2
event by event, as MadGraph does. Points outside the cuts (lab frame) get w = 0.

``channel`` is one index for all points (the map is chosen with ``lax.switch``: only it runs)
or one per point (every map runs and each point takes its own: channels mix within a batch).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from madgen.pdf.alphas import madgraph_alphas
from madgen.phasespace.kinematics import kallen, mass_squared, safe_sqrt, to_frame
from madgen.runtime.scales import ScaleChoice, ScaleValues, event_scales

GEV2_TO_PB = 0.3893793721e9
"""(hbar c)^2 in GeV^2 pb."""


@dataclass(frozen=True, eq=False)
class ChannelMap:
    """The phase-space map of one integration channel of a kernel group.

    ``generate(x, sqrt_s, masses, parameters, windows) -> (CM momenta of all legs, weight)``;
    ``diagrams``: the diagrams whose share of |M|^2 the channel integrates (empty: all, flat);
    ``resonance``: (mass, width) names of an s-channel propagator carrying the whole final state,
    for the s-hat map of hadron collisions."""

    generate: Callable
    ndim: int
    diagrams: tuple[int, ...]
    resonance: tuple[str, str] | None
    label: str


@dataclass(frozen=True)
class ResonanceWindow:
    """MadGraph's ``bwcutoff`` for one decay-chain resonance: |m(legs) - M| <= cutoff Gamma."""

    legs: tuple[int, ...]  # 0-based leg indices of its final-state products
    mass: str
    width: str
    cutoff: float


class RunSettings(NamedTuple):
    """The run settings compiled code takes as arguments (so that other values reuse it)."""

    energies: jnp.ndarray  # (2,) beam energies in GeV
    scales: ScaleValues


class Evaluation(NamedTuple):
    """What a batch of points gives: per point (batch,) unless noted."""

    weight: jnp.ndarray  # pb, E[weight] = sigma of the channel (VEGAS Jacobian not included)
    momenta: jnp.ndarray  # (batch, n_legs, 4) lab frame
    x1: jnp.ndarray
    x2: jnp.ndarray
    mu_r: jnp.ndarray
    mu_f1: jnp.ndarray
    mu_f2: jnp.ndarray
    alpha_s: jnp.ndarray
    densities: jnp.ndarray  # (batch, n_members): f_a(x1) f_b(x2) of each member subprocess


def flux_factor(s_hat, m1, m2):
    """1 / (2 lambda^{1/2}(s-hat, m1^2, m2^2)): the incoming flux of a 2 -> n collision."""
    root = safe_sqrt(kallen(s_hat, m1 ** 2, m2 ** 2))
    return jnp.where(root > 0, 1.0 / (2.0 * jnp.where(root > 0, root, 1.0)), 0.0)


def _select(channel, functions, *args):
    """``functions[channel](*args)``: one branch for a scalar channel, all branches and a per-point
    choice for channel indices of shape (batch,)."""
    if len(functions) == 1:
        return functions[0](*args)
    if jnp.ndim(channel) == 0:
        return jax.lax.switch(channel, functions, *args)
    outputs = [f(*args) for f in functions]
    points = jnp.arange(channel.shape[0])
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves)[channel, points], *outputs)


@dataclass(frozen=True, eq=False)
class GroupIntegrand:
    """The weight function of one kernel group (see the module docstring); call it as
    ``integrand(x, channel, parameters) -> Evaluation`` with x (batch, ndim) and complete
    external parameters (traced values allowed: everything is differentiable in them)."""

    kernel: object  # the generated subprocess whose |M|^2 serves every member
    members: tuple[int, ...]  # indices of the member subprocesses in process.subprocesses
    partons: tuple[tuple[int, int], ...]  # initial PDG ids of each member
    maps: tuple[ChannelMap, ...]
    collider: object  # madgen.runtime.beams.Collider
    cut: Callable
    scales: ScaleChoice
    energy_bounds: tuple[float, float]  # GeV: s-hat range the cuts allow (hadron beams)
    windows: tuple[ResonanceWindow, ...] = ()
    fixed_alpha_s: float = 0.0  # the model's alpha_s (particle beams: LHE's AQCDUP)
    mirrored: tuple[bool, ...] = ()  # per member: a mirror of the kernel (b a > X for a b > X)
    rapidity_limits: tuple[tuple[int, float], ...] = ()  # (leg, |eta| max): the partons' rapidity window
    vetoes: tuple[ResonanceWindow, ...] = ()  # '$ x': on-shell s-channels vetoed (|m - M| > cutoff Gamma)

    @property
    def mirror_flags(self) -> tuple[bool, ...]:
        """Per member: True for a mirror of the kernel."""
        return self.mirrored or (False,) * len(self.members)

    @property
    def one_body(self) -> bool:
        """A 2 -> 1 kernel: s-hat is fixed at the particle's mass squared, only the rapidity is sampled."""
        return self.kernel.n_legs - self.kernel.n_initial == 1

    @property
    def beam_ndim(self) -> int:
        if self.one_body:
            return 1 if all(self.collider.hadrons) else 0
        return sum(self.collider.hadrons)

    @property
    def ndim(self) -> int:
        return self.beam_ndim + max(m.ndim for m in self.maps)

    def channel_ndim(self, channel: int) -> int:
        return self.beam_ndim + self.maps[channel].ndim

    @functools.cached_property
    def polarisation_factors(self):
        """The weight of each helicity combination of the kernel for the run's polarised beams
        (``polarisation_factors`` of the package; beam i is initial leg i of every member, particle beams
        having no mirrors), or None for unpolarised beams (|M|^2 as it is)."""
        if not self.collider.polarised:
            return None
        return np.asarray(self.kernel.polarisation_factors(self.collider.polarisations))

    @functools.cached_property
    def n_qcd(self) -> int:
        """Power of alpha_s in |M|^2 of the kernel (MadGraph's ``nqcd``, the <mgrwt> <rscale> order); once
        per integrand, not per chunk of events (where it is measured, that costs a trace of the kernel)."""
        return _alpha_s_power(self.kernel)

    @property
    def cache_key(self) -> tuple:
        """What the compiled code of this integrand depends on (beam energies and scales are arguments)."""
        beams = tuple(b.pdg for b in self.collider.beams)
        pdf = None if self.collider.pdf is None else (str(self.collider.pdf.directory), self.collider.pdf.member)
        return (id(self.kernel), self.members, self.mirrored, self.partons, tuple(m.label for m in self.maps), beams,
                pdf, getattr(self.cut, "plan", id(self.cut)), self.energy_bounds, self.windows, self.fixed_alpha_s,
                self.rapidity_limits, self.collider.polarisations, self.vetoes)

    def settings(self) -> RunSettings:
        """The run's own settings (beam energies and scales) as JAX values."""
        return RunSettings(jnp.asarray(self.collider.energies, dtype=jnp.float64), self.scales.values())

    def __call__(self, x, channel, parameters, settings: RunSettings | None = None) -> Evaluation:
        """``settings``: beam energies and scales, default the run's (``settings()``)."""
        from madgen.phasespace import propagator_parameters

        settings = self.settings() if settings is None else settings
        energies = settings.energies
        s = 4.0 * energies[0] * energies[1]
        x = jnp.asarray(x, dtype=jnp.float64)
        channel = jnp.asarray(channel, dtype=jnp.int32)
        masses = self.kernel.masses(parameters)
        internal = propagator_parameters(self.kernel, parameters)
        nb = self.beam_ndim
        rapidity_last = nb == 2 and not self.one_body  # tau first, y once the final state is known
        if rapidity_last:
            tau, tau_jacobian = self._tau(x[:, 0], channel, masses, internal, s)
            s_hat = tau * s
        elif nb:
            x1, x2, beam_jacobian = self._fractions(x[:, :nb], channel, masses, internal, s)
            s_hat = x1 * x2 * s
        else:
            ones = jnp.ones(x.shape[0])
            x1, x2, beam_jacobian = ones, ones, ones
            s_hat = _fixed_s(energies, masses) * ones
        windows = {w.legs: (w.mass, w.width, w.cutoff) for w in self.windows}
        cm, phase_space = _select(channel, [self._map(m, windows) for m in self.maps],
                                  x[:, nb:], safe_sqrt(s_hat), masses, internal)
        if rapidity_last:
            x1, x2, y_jacobian = self._rapidity(x[:, 1], tau, cm, masses, energies)
            beam_jacobian = tau_jacobian * y_jacobian
        lab = self._to_lab(cm, x1, x2, masses, energies)
        mu_r, mu_f1, mu_f2 = event_scales(settings.scales, cm, self.kernel.n_initial)
        point_parameters, alpha_s = self._couplings(parameters, mu_r)
        factors = self.polarisation_factors
        data = self.kernel.evaluate(cm, point_parameters, diagrams=True, helicities=factors is not None, check=False)
        me2 = data["me2"] if factors is None else jnp.sum(data["helicity_weights"] * factors, axis=-1)
        share = self._share(data["diagram_weights"], channel)
        densities = self._densities(x1, x2, mu_f1, mu_f2)
        passed = self.cut(lab) & (phase_space > 0) & self._in_windows(lab, internal)
        weight = (jnp.sum(densities, axis=-1) * me2 * share * phase_space * beam_jacobian
                  * flux_factor(s_hat, masses[0], masses[1]) * GEV2_TO_PB)
        return Evaluation(jnp.where(passed, weight, 0.0), lab, x1, x2, mu_r, mu_f1, mu_f2, alpha_s, densities)

    # -- pieces -----------------------------------------------------------------------------

    def _fractions(self, u, channel, masses, internal, s):
        """(x1, x2, Jacobian) with one hadron beam (x = tau) or of a 2 -> 1 process (y only)."""
        from madgen.phasespace.fractions import one_body_fractions, sample_fractions

        if self.one_body:
            return one_body_fractions(u, masses[2] ** 2 / s, s)
        tau_min, tau_max = self._tau_range(masses, s)
        hadrons = self.collider.hadrons
        return self._by_resonance(
            channel, internal, lambda values: lambda u: sample_fractions(u, hadrons, tau_min, tau_max, s, values), u)

    def _tau(self, u, channel, masses, internal, s):
        """tau = s-hat / s and dtau/du, in the range the cuts allow, mapped for each point's channel."""
        from madgen.phasespace.fractions import sample_tau

        tau_min, tau_max = self._tau_range(masses, s)
        return self._by_resonance(
            channel, internal, lambda values: lambda u: sample_tau(u, tau_min, tau_max, s, values), u)

    def _tau_range(self, masses, s):
        lower = jnp.maximum(jnp.sum(masses[self.kernel.n_initial:]), self.energy_bounds[0])
        upper = jnp.minimum(self.energy_bounds[1], jnp.sqrt(s))
        return lower ** 2 / s, upper ** 2 / s

    def _by_resonance(self, channel, internal, sampler, u):
        """``sampler(resonance values)(u)`` with the s-hat resonance of each point's channel map."""
        def values(resonance):
            return None if resonance is None else (internal[resonance[0]], internal[resonance[1]])

        resonances = list(dict.fromkeys(m.resonance for m in self.maps))
        if len(resonances) == 1:
            return sampler(values(resonances[0]))(u)
        which = jnp.asarray([resonances.index(m.resonance) for m in self.maps], dtype=jnp.int32)[channel]
        return _select(which, [sampler(values(r)) for r in resonances], u)

    def _rapidity(self, u, tau, cm, masses, energies):
        """(x1, x2, dy/du) of two hadron beams: the partons' rapidity y sampled only where every leg
        with a rapidity cut can pass (``rapidity_window``): the acceptance in y then spans the
        whole unit interval instead of a corner of (y, angles) that VEGAS's product grid cannot follow."""
        from madgen.phasespace.fractions import fractions_at, sample_rapidity
        from madgen.runtime.cuts import rapidity_window

        window = None
        if self.rapidity_limits:
            lower, upper = rapidity_window(cm, masses, self.rapidity_limits)
            offset = 0.5 * jnp.log(energies[0] / energies[1])  # the partons' frame moves with y + offset
            window = (lower - offset, upper - offset)
        y, jacobian = sample_rapidity(u, tau, window)
        x1, x2 = fractions_at(tau, y)
        return x1, x2, jacobian

    @staticmethod
    def _map(channel_map: ChannelMap, windows):
        def generate(x, sqrt_s, masses, internal):
            return channel_map.generate(x[:, :channel_map.ndim], sqrt_s, masses, internal, windows)

        return generate

    def _to_lab(self, cm, x1, x2, masses, energies):
        from madgen.phasespace.fractions import parton_momenta
        from madgen.phasespace.kinematics import cm_to_lab

        if self.beam_ndim:
            incoming = parton_momenta(x1, x2, energies[0], energies[1])
            return to_frame(cm, jnp.sum(incoming, axis=-2))
        return cm_to_lab(cm, energies[0], energies[1], masses[0], masses[1])

    def _couplings(self, parameters, mu_r):
        """The parameters of |M|^2 at each point and alpha_s(muR) as ``aS``: of the PDF set with hadron beams;
        with particle beams MadGraph's running (``madgraph_alphas``, two loops) from the model's aS, which is
        alpha_s(MZ), as MadGraph does without PDFs (setrun.f: nloop = 2, asmz from the param card)."""
        if not self.collider.has_pdf:
            if "aS" not in parameters:  # a model without alpha_s
                return parameters, self.fixed_alpha_s * jnp.ones_like(mu_r)
            alpha_s = madgraph_alphas(mu_r, parameters["aS"])
            return {**parameters, "aS": alpha_s}, alpha_s
        alpha_s = self.collider.pdf.alphas(mu_r)
        return {**parameters, "aS": alpha_s}, alpha_s

    def _share(self, diagram_weights, channel):
        """|A_k|^2 / sum_j |A_j|^2 of each point's channel (1 for a flat channel)."""
        n = diagram_weights.shape[-1]
        rows = np.zeros((len(self.maps), n))
        for k, m in enumerate(self.maps):
            rows[k, np.asarray(m.diagrams, dtype=np.int64) - 1] = 1.0
            if not m.diagrams:
                rows[k] = 1.0
        row = jnp.asarray(rows)[channel]
        total = jnp.sum(diagram_weights, axis=-1)
        mine = jnp.sum(diagram_weights * row, axis=-1)
        return jnp.where(total > 0, mine / jnp.where(total > 0, total, 1.0), 0.0)

    def _densities(self, x1, x2, mu_f1, mu_f2):
        """The parton luminosity of every member, (batch, n_members): f_a(x1, muF1) f_b(x2, muF2) for
        a member a b > X, and for a mirror b a > X of the kernel (its event is the kernel's rotated by
        pi about the x axis: b from beam 1 with the kernel's x2) f_b(x2, muF1) f_a(x1, muF2)."""
        mirrored = self.mirror_flags
        tables = {}

        def table(side, at_x2):  # one PDF evaluation per beam and momentum fraction
            if (side, at_x2) not in tables:
                tables[side, at_x2] = self.collider.density_table(side, x2 if at_x2 else x1, (mu_f1, mu_f2)[side])
            return tables[side, at_x2]

        columns = []
        for (a, b), mirror in zip(self.partons, mirrored):
            first = self.collider.pick(0, table(0, mirror), [a])[..., 0]
            second = self.collider.pick(1, table(1, not mirror), [b])[..., 0]
            columns.append(first * second * jnp.ones_like(x1))
        return jnp.stack(columns, axis=-1)

    def _in_windows(self, lab, internal):
        """MadGraph's bwcutoff: every decay-chain resonance within cutoff widths of its pole, and every
        vetoed s-channel ('$ x') outside them."""
        passed = jnp.ones(lab.shape[0], dtype=bool)
        for window, inside in [(w, True) for w in self.windows] + [(v, False) for v in self.vetoes]:
            mass = safe_sqrt(mass_squared(jnp.sum(lab[:, list(window.legs)], axis=-2)))
            pole, width = internal[window.mass], internal[window.width]
            near = jnp.abs(mass - pole) <= window.cutoff * width
            passed &= near if inside else ~near
        return passed


def _fixed_s(energies, masses):
    """s of particle beams with (traced) energies E1, E2 and masses m1, m2."""
    e1, e2 = energies[0], energies[1]
    m1, m2 = masses[0], masses[1]
    p1, p2 = safe_sqrt(e1 ** 2 - m1 ** 2), safe_sqrt(e2 ** 2 - m2 ** 2)
    return m1 ** 2 + m2 ** 2 + 2 * (e1 * e2 + p1 * p2)


def _alpha_s_power(kernel) -> int:
    """The power n of alpha_s in |M|^2 (MadGraph's nqcd): the QCD coupling order that every diagram
    of the kernel shares, from its channel table (known at generation: nothing to compile). Where the
    diagrams differ in it (or a package's table has no orders), measured as d log|M|^2 / d log aS at
    one point (an integer for a single QCD order; rounded when orders mix)."""
    parameters = kernel.default_parameters()
    if "aS" not in parameters:
        return 0
    diagrams = kernel.channels["diagrams"]
    shared = {diagram["orders"].get("QCD", 0) for diagram in diagrams if "orders" in diagram}
    if len(shared) == 1 and all("orders" in diagram for diagram in diagrams):
        return shared.pop()
    return _measured_alpha_s_power(kernel, parameters)


def _measured_alpha_s_power(kernel, parameters) -> int:
    """d log|M|^2 / d log aS at one point, rounded (a jvp of the kernel: one compilation)."""
    masses = np.asarray(kernel.masses(), dtype=float)
    point = _test_point(masses)
    base = dict(parameters)

    def log_me2(log_alpha):
        return jnp.log(kernel.matrix_element(point, {**base, "aS": jnp.exp(log_alpha)}, check=False))[0]

    slope = jax.jvp(log_me2, (jnp.log(base["aS"]),), (1.0,))[1]
    slope = float(slope)
    return int(round(slope)) if np.isfinite(slope) else 0


def _test_point(masses):
    """One generic phase-space point of a 2 -> n process (for couplings checks), CM frame; for 2 -> 1
    the particle at rest (sqrt(s) = its mass)."""
    from madgen.phasespace import rambo, with_incoming

    n_final = len(masses) - 2
    if n_final == 1:
        mass = float(masses[2])
        return with_incoming(jnp.asarray([[[mass, 0.0, 0.0, 0.0]]]), mass, masses[0], masses[1])
    sqrt_s = 2.0 * float(np.sum(masses)) + 500.0
    x = jnp.asarray(np.linspace(0.13, 0.87, 4 * n_final).reshape(1, -1))
    final, _ = rambo(x, sqrt_s, jnp.asarray(masses[2:]))
    return with_incoming(final, sqrt_s, masses[0], masses[1])
