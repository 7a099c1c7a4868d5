"""Phase-space generators: RAMBO and the per-diagram multichannel maps.

Checks momentum conservation and on-shell masses, the phase-space volume against closed forms and
against RAMBO (within 4 combined standard errors, fixed seeds), the variance reduction of a resonant
channel, jit, and jax.grad against central finite differences with respect to the random numbers,
the masses, sqrt_s and the propagator parameters. Generators run eagerly except where jit is the
point (XLA's CPU compile costs seconds per function).
"""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from madgen.phasespace import (ChannelError, DiagramChannel, beam_momenta, beams_cm, cm_to_lab, duplicate_groups,
                               kallen, mass_squared, massless_volume, multichannel_from_diagrams,
                               propagator_parameters, rambo, rambo_ndim, with_incoming)

N_POINTS = 50_000  # one batch size everywhere, so eager op compilations are shared between tests

PROCESSES = {
    # name: (process, sqrt_s)
    "ps_epem_mupmum": ("e+ e- > mu+ mu-", 91.0),
    "ps_epem_ttx": ("e+ e- > t t~", 500.0),
    "ps_gg_ttxg": ("g g > t t~ g", 1000.0),
    "ps_epem_ww": ("e+ e- > mu+ vm e- ve~", 200.0),
}


@pytest.fixture(scope="module")
def processes(generate_package):
    return {name: generate_package("sm", process, name) for name, (process, _) in PROCESSES.items()}


def uniform(seed, ndim, n=N_POINTS):
    return np.random.default_rng(seed).random((n, ndim))


def mean_and_error(weights):
    weights = np.asarray(weights)
    return weights.mean(), weights.std() / math.sqrt(len(weights))


def assert_agree(a, b, label, sigmas=4.0):
    (mean_a, err_a), (mean_b, err_b) = a, b
    combined = math.hypot(err_a, err_b)
    assert abs(mean_a - mean_b) <= sigmas * combined + 1e-12 * abs(mean_b), (
        f"{label}: {mean_a:.6g} +- {err_a:.3g} vs {mean_b:.6g} +- {err_b:.3g}")


def assert_physical(momenta, weights, masses, sqrt_s, label):
    """All legs on shell, incoming = outgoing, weights finite and non-negative."""
    momenta, masses = np.asarray(momenta), np.asarray(masses)
    assert np.all(np.isfinite(momenta)) and np.all(np.isfinite(weights)), label
    assert np.all(np.asarray(weights) >= 0), label
    energy2 = momenta[..., 0] ** 2
    off_shell = np.abs(np.asarray(mass_squared(momenta)) - masses**2) / energy2
    assert off_shell.max() < 1e-9, f"{label}: relative off-shellness {off_shell.max():.2e}"
    balance = momenta[:, :2].sum(axis=1) - momenta[:, 2:].sum(axis=1)
    assert np.abs(balance).max() < 1e-10 * sqrt_s, f"{label}: momentum imbalance {np.abs(balance).max():.2e}"


# --------------------------------------------------------------------------- kinematics


def test_two_sided_map_is_the_inverse_of_its_density():
    """v(u) of ``two_sided_map`` has density 1/jacobian ∝ 1/((v - lo + a)(hi - v + b)): the weights
    integrate to hi - lo, the map is monotonic, and the Jacobian equals dv/du by finite differences."""
    from madgen.phasespace.mappings import two_sided_map

    lo, hi, a, b = 4.0, 1.0e4, 1.0, 20.0
    u = (np.arange(200_000) + 0.5) / 200_000
    v, jac = map(np.asarray, two_sided_map(jnp.asarray(u), lo, hi, a, b))
    assert np.all(np.diff(v) > 0) and v[0] >= lo and v[-1] <= hi
    np.testing.assert_allclose(jac.mean(), hi - lo, rtol=1e-6)
    h = 1e-6
    numeric = (np.asarray(two_sided_map(jnp.asarray(u[1000:-1000:997] + h), lo, hi, a, b)[0])
               - np.asarray(two_sided_map(jnp.asarray(u[1000:-1000:997] - h), lo, hi, a, b)[0])) / (2 * h)
    np.testing.assert_allclose(numeric, jac[1000:-1000:997], rtol=1e-5)
    ratio = jac * 1.0 / ((v - lo + a) * (hi - v + b))
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)


def test_beams_and_lab_boost():
    incoming = np.asarray(beams_cm(jnp.asarray(100.0), 0.0, 10.0))
    np.testing.assert_allclose(incoming.sum(axis=0), [100.0, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(np.asarray(mass_squared(incoming)), [0.0, 100.0], atol=1e-10)
    # asymmetric massive beams: the CM beams boosted to the lab are the lab beams
    e1, e2, m1, m2 = 7000.0, 450.0, 0.938, 0.938
    lab = np.asarray(beam_momenta(e1, e2, m1, m2))
    sqrt_s = math.sqrt(float(mass_squared(lab.sum(axis=0))))
    boosted = np.asarray(cm_to_lab(beams_cm(sqrt_s, m1, m2), e1, e2, m1, m2))
    np.testing.assert_allclose(boosted, lab, rtol=1e-12, atol=1e-9)


# --------------------------------------------------------------------------- RAMBO


@pytest.mark.parametrize("n", [pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow), 4])
def test_rambo_massless_weight_is_the_volume(n):
    sqrt_s = 250.0
    momenta, weights = rambo(uniform(n, rambo_ndim(n)), sqrt_s, jnp.zeros(n))
    full = with_incoming(momenta, sqrt_s)
    assert_physical(full, weights, np.zeros(n + 2), sqrt_s, f"rambo n={n}")
    expected = (2 * math.pi) ** (4 - 3 * n) * (math.pi / 2) ** (n - 1) * sqrt_s ** (2 * n - 4) / (
        math.factorial(n - 1) * math.factorial(n - 2))
    np.testing.assert_allclose(np.asarray(weights), expected, rtol=1e-10)
    assert float(massless_volume(sqrt_s, n)) == pytest.approx(expected, rel=1e-14)


def test_rambo_massive_two_body_volume():
    sqrt_s, masses = 500.0, jnp.array([173.0, 91.188])
    momenta, weights = rambo(uniform(5, 8, 1000), sqrt_s, masses)
    assert_physical(with_incoming(momenta, sqrt_s), weights, np.r_[0, 0, masses], sqrt_s, "rambo massive 2-body")
    expected = math.sqrt(kallen(sqrt_s**2, 173.0**2, 91.188**2)) / (8 * math.pi * sqrt_s**2)
    np.testing.assert_allclose(np.asarray(weights), expected, rtol=1e-12)


# --------------------------------------------------------------------------- channel structure


def test_channels_have_minimal_dimension_and_read_the_diagrams(processes):
    for name, proc in processes.items():
        channels = multichannel_from_diagrams(proc.diagrams)
        assert len(channels) == proc.n_diagrams
        n_final = proc.n_legs - 2
        assert all(c.ndim == 3 * n_final - 4 for c in channels), name
    ww = multichannel_from_diagrams(processes["ps_epem_ww"].diagrams)
    # e+ e- -> W+ W- by neutrino exchange: one t-channel line, two W systems
    t_channel_ww = [c for c in ww if [p.line for p in c.t_chain] == ["1_3_4"]
                    and [s.legs for s in c.systems] == [(3, 4), (5, 6)]]
    assert len(t_channel_ww) == 1
    assert [s.propagator.mass for s in t_channel_ww[0].systems] == ["MW", "MW"]
    assert t_channel_ww[0].parameter_names == ("MW", "WW")
    # g g -> t t~ g through a four-gluon vertex: no t-channel, the t t~ pair in one s-channel system
    four_point = multichannel_from_diagrams(processes["ps_gg_ttxg"].diagrams)[15]
    assert four_point.t_chain == () and {s.legs for s in four_point.systems[0].children} == {(3, 4), (5,)}


def test_duplicate_groups_merge_identical_mappings(processes):
    channels = multichannel_from_diagrams(processes["ps_epem_mupmum"].diagrams)
    assert duplicate_groups(channels) == ((0,), (1,))  # photon and Z: different maps
    assert duplicate_groups(channels + channels[:1]) == ((0, 2), (1,))
    gg = multichannel_from_diagrams(processes["ps_gg_ttxg"].diagrams)
    groups = duplicate_groups(gg)
    assert sorted(i for g in groups for i in g) == list(range(len(gg)))
    assert all(gg[i].signature == gg[g[0]].signature for g in groups for i in g)


def test_four_point_vertex_with_three_children():
    """A 1 -> 3 s-channel vertex is split into two decays by a flat pseudo-system."""
    data = {
        "legs": [{"number": i, "initial": i <= 2, "particle": "g", "pdg": 21} for i in range(1, 6)],
        "diagrams": [{"number": 1, "propagators": [
            {"line": "1_2", "legs": [1, 2], "particle": "g", "mass": "ZERO", "width": "ZERO", "s_channel": True}]}],
    }
    (channel,) = multichannel_from_diagrams(data)
    root = channel.systems[0]
    assert channel.ndim == 5 and root.legs == (3, 4, 5) and root.children[0].propagator is None
    momenta, weights = channel(uniform(11, 5), 300.0, jnp.zeros(5))
    assert_physical(momenta, weights, np.zeros(5), 300.0, "1 -> 3 vertex")
    assert_agree(mean_and_error(weights), (float(massless_volume(300.0, 3)), 0.0), "1 -> 3 vertex volume")


def test_bad_diagrams_and_inputs_name_the_culprit(processes):
    legs = [{"number": i, "initial": i <= 2} for i in range(1, 5)]
    mislabelled = {"legs": legs, "diagrams": [{"number": 7, "propagators": [
        {"line": "1_3", "legs": [1, 3], "mass": "ZERO", "width": "ZERO", "s_channel": True}]}]}
    with pytest.raises(ChannelError, match="diagram 7.*1_3"):
        multichannel_from_diagrams(mislabelled)
    channel = multichannel_from_diagrams(processes["ps_epem_mupmum"].diagrams)[1]
    with pytest.raises(ValueError, match="needs 2"):
        channel(uniform(0, 3, 4), 91.0, jnp.zeros(4), {"MZ": 91.188, "WZ": 2.5})
    assert channel.parameter_names == ()  # the Z is the whole final state, of mass sqrt_s: not sampled
    t_channel_top = multichannel_from_diagrams(processes["ps_gg_ttxg"].diagrams)[13]
    with pytest.raises(KeyError, match="MT"):
        t_channel_top(uniform(0, 5, 4), 1000.0, processes["ps_gg_ttxg"].masses(), {})


# --------------------------------------------------------------------------- channels: kinematics and volume


VOLUME_CASES = [
    ("ps_epem_mupmum", None),
    ("ps_epem_ttx", None),
    ("ps_epem_ww", None),
    ("ps_gg_ttxg", (8, 14, 16)),  # s-channel top, t-channel tops, four-gluon vertex
    pytest.param("ps_gg_ttxg", None, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name, diagrams", VOLUME_CASES)
def test_channels_are_physical_and_have_the_phase_space_volume(processes, name, diagrams):
    """Every channel (or the listed diagrams' channels) alone integrates 1 to the phase-space volume."""
    proc, sqrt_s = processes[name], PROCESSES[name][1]
    masses = np.asarray(proc.masses())
    parameters = propagator_parameters(proc)
    n_final = proc.n_legs - 2
    final = masses[2:]
    if not final.any():
        reference = (float(massless_volume(sqrt_s, n_final)), 0.0)
    elif n_final == 2:
        reference = (math.sqrt(kallen(sqrt_s**2, final[0] ** 2, final[1] ** 2)) / (8 * math.pi * sqrt_s**2), 0.0)
    else:
        reference = mean_and_error(rambo(uniform(1, rambo_ndim(n_final), 4 * N_POINTS), sqrt_s, final)[1])
    for channel in multichannel_from_diagrams(proc.diagrams):
        if diagrams is not None and channel.diagram not in diagrams:
            continue
        momenta, weights = channel(uniform(channel.diagram, channel.ndim), sqrt_s, masses, parameters)
        label = f"{name} channel {channel.diagram}"
        assert_physical(momenta, weights, masses, sqrt_s, label)
        np.testing.assert_allclose(np.asarray(momenta[:, :2]), np.broadcast_to(beams_cm(sqrt_s, *masses[:2]),
                                                                                 momenta[:, :2].shape), atol=1e-12)
        assert_agree(mean_and_error(weights), reference, label)


@pytest.mark.parametrize("diagram", [1, 2, 8, 10, 14])
def test_soft_maps_keep_the_phase_space_the_cuts_leave(processes, diagram):
    """g g > t t~ g with pT(g) > 20 GeV: a channel with the soft/collinear maps (``jet_pt``: the t
    bounds at the ends of the chain, 1/(s_max - s + delta) beside the gluon) integrates the same cut
    phase-space volume as without them (the regions it leaves out hold only points the cut removes)."""
    proc, sqrt_s = processes["ps_gg_ttxg"], PROCESSES["ps_gg_ttxg"][1]
    masses = np.asarray(proc.masses())
    parameters = propagator_parameters(proc)
    jet_pt = {1: 0.0, 2: 0.0, 5: 20.0}
    channel = next(c for c in multichannel_from_diagrams(proc.diagrams) if c.diagram == diagram)
    x = uniform(100 + diagram, channel.ndim)

    def cut_volume(momenta, weights):
        pt = np.hypot(np.asarray(momenta)[:, 4, 1], np.asarray(momenta)[:, 4, 2])
        return np.where(pt > 20.0, np.asarray(weights), 0.0)

    plain = cut_volume(*channel(x, sqrt_s, masses, parameters))
    soft_momenta, soft_weights = channel(x, sqrt_s, masses, parameters, jet_pt=jet_pt)
    assert_physical(soft_momenta, soft_weights, masses, sqrt_s, f"diagram {diagram} with jet_pt")
    soft = cut_volume(soft_momenta, soft_weights)
    assert_agree(mean_and_error(soft), mean_and_error(plain), f"diagram {diagram}: cut volume with jet_pt")
    print(f"diagram {diagram}: relative spread of the cut volume {soft.std() / soft.mean():.3g} with jet_pt, "
          f"{plain.std() / plain.mean():.3g} without")


def test_the_first_decay_samples_only_the_angles_the_pt_cut_keeps(processes):
    """e+ e- > mu+ mu- at 91 GeV with pT(mu) > 30 GeV: the muons' polar angle is sampled only where
    pT = |p| sin(theta) passes, so every point passes and each weighs the cut volume exactly,
    sqrt(1 - (2 pT / sqrt_s)^2) / (8 pi); without ``jet_pt`` the same volume from the points that pass."""
    proc, sqrt_s = processes["ps_epem_mupmum"], 91.0
    masses = np.asarray(proc.masses())
    channel = multichannel_from_diagrams(proc.diagrams)[0]
    x = uniform(7, channel.ndim)
    jet_pt = {1: 0.0, 2: 0.0, 3: 30.0, 4: 30.0}
    exact = math.sqrt(1 - (60.0 / sqrt_s) ** 2) / (8 * math.pi)
    momenta, weights = channel(x, sqrt_s, masses, propagator_parameters(proc), jet_pt=jet_pt)
    pt = np.hypot(np.asarray(momenta)[:, 2:, 1], np.asarray(momenta)[:, 2:, 2])
    assert np.all(pt >= 30.0 * (1 - 1e-12))
    np.testing.assert_allclose(np.asarray(weights), exact, rtol=1e-12)
    momenta, weights = channel(x, sqrt_s, masses, propagator_parameters(proc))
    passed = np.all(np.hypot(np.asarray(momenta)[:, 2:, 1], np.asarray(momenta)[:, 2:, 2]) > 30.0, axis=1)
    assert_agree(mean_and_error(np.where(passed, weights, 0.0)), (exact, 0.0), "cut volume without jet_pt")


@pytest.mark.parametrize("diagram", [1, 13])
def test_soft_maps_near_threshold_keep_the_cut_volume(processes, diagram):
    """g g > t t~ g at 400 GeV (2 MT = 346 GeV) with pT(g) > 20 GeV, channels whose first t-channel step
    emits the gluon: its pT window there leaves the cut phase-space volume as it was, with a smaller
    spread (2.7 without, 1.2 with)."""
    proc = processes["ps_gg_ttxg"]
    masses = np.asarray(proc.masses())
    parameters = propagator_parameters(proc)
    channel = next(c for c in multichannel_from_diagrams(proc.diagrams) if c.diagram == diagram)
    x = uniform(200 + diagram, channel.ndim)

    def cut_volume(momenta, weights):
        pt = np.hypot(np.asarray(momenta)[:, 4, 1], np.asarray(momenta)[:, 4, 2])
        return np.where(pt > 20.0, np.asarray(weights), 0.0)

    plain = cut_volume(*channel(x, 400.0, masses, parameters))
    soft = cut_volume(*channel(x, 400.0, masses, parameters, jet_pt={1: 0.0, 2: 0.0, 5: 20.0}))
    assert_agree(mean_and_error(soft), mean_and_error(plain), f"diagram {diagram}: cut volume near threshold")
    assert soft.std() / soft.mean() < plain.std() / plain.mean()


def test_resonant_channel_reduces_the_variance(processes):
    """W+ W- -> mu+ vm e- ve~: a doubly resonant integrand, RAMBO against the t-channel W W map."""
    proc, sqrt_s = processes["ps_epem_ww"], 200.0
    parameters = propagator_parameters(proc)
    mw, ww = float(parameters["MW"]), float(parameters["WW"])
    masses = np.asarray(proc.masses())

    def integrand(momenta):
        bw = 1.0
        for pair in ((2, 3), (4, 5)):
            s = mass_squared(momenta[:, pair[0]] + momenta[:, pair[1]])
            bw = bw * (mw * ww) ** 2 / ((s - mw**2) ** 2 + (mw * ww) ** 2)
        return bw

    channel = next(c for c in multichannel_from_diagrams(proc.diagrams)
                   if [p.line for p in c.t_chain] == ["1_3_4"] and len(c.systems) == 2)
    momenta, weights = channel(uniform(21, channel.ndim), sqrt_s, masses, parameters)
    values_channel = np.asarray(integrand(momenta) * weights)
    final, rambo_weights = rambo(uniform(22, rambo_ndim(4)), sqrt_s, jnp.zeros(4))
    values_rambo = np.asarray(integrand(with_incoming(final, sqrt_s)) * rambo_weights)
    assert_agree(mean_and_error(values_channel), mean_and_error(values_rambo), "W W resonance integral")
    ratio = values_rambo.var() / values_channel.var()
    print(f"variance RAMBO / W W channel: {ratio:.3g}")
    assert ratio > 10


# --------------------------------------------------------------------------- jit and gradients


def test_jit_and_vmap_match_eager(processes):
    proc = processes["ps_epem_ttx"]
    masses, parameters = proc.masses(), propagator_parameters(proc)
    channel = multichannel_from_diagrams(proc.diagrams)[1]
    x = uniform(3, channel.ndim, 64)
    energies = jnp.array([360.0, 500.0, 1000.0])
    per_energy = jax.jit(jax.vmap(channel, in_axes=(None, 0, None, None)))(x, energies, masses, {})
    for i, energy in enumerate(energies):
        eager = channel(x, energy, masses, {})
        for a, b in zip(eager, per_energy):
            np.testing.assert_allclose(np.asarray(b[i]), np.asarray(a), rtol=1e-12, atol=1e-9)


METRIC = jnp.array([1.0, -1.0, -1.0, -1.0])


def smooth_observable(momenta, weights):
    """A smooth, slowly varying function of all momenta and the weight."""
    p = momenta / 1000.0
    pairs = jnp.sum(jnp.sin(jnp.einsum("bjd,bkd->bjk", p, p * METRIC)), axis=(-1, -2))
    return jnp.sum(pairs * weights + jnp.sum(jnp.cos(p[..., 3]), axis=-1))


FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
"""XLA's CPU compile of a generator's gradient takes seconds; these options roughly halve it."""


def gradient_check(observable, args, seed, step=1e-4):
    """jax.grad of ``observable(args) -> (value, weights)`` along one random direction per leaf of ``args``,
    and the central finite differences along the same directions, in one compiled function.

    Leaves in order x, masses, sqrt_s, then propagator parameters. x moves by about 0.1 step, masses and
    sqrt_s by about ``step`` relative (the momenta carry ~1e-11 relative rounding noise from boosts, which
    smaller steps amplify), propagator parameters by ``step`` GeV (Breit-Wigner maps vary on the scale of a
    width, where larger steps leave truncation errors).
    """
    leaves, tree = jax.tree_util.tree_flatten(args)
    rng = np.random.default_rng(seed)
    directions = []
    for i, leaf in enumerate(leaves):
        scale = {0: 0.1, 1: np.maximum(np.abs(np.asarray(leaf)), 1.0), 2: np.abs(np.asarray(leaf))}.get(i, 1.0)
        directions.append(jax.tree_util.tree_unflatten(tree, [
            jnp.asarray(scale * rng.normal(size=np.shape(other))) if j == i else jnp.zeros_like(jnp.asarray(other))
            for j, other in enumerate(leaves)]))
    stacked = jax.tree_util.tree_map(lambda *d: jnp.stack(d), *directions)
    k = len(leaves)

    @partial(jax.jit, compiler_options=FAST_COMPILE)
    def run(args, stacked):
        gradient, weights = jax.grad(observable, has_aux=True)(args)
        analytic = jax.vmap(lambda d: sum(jnp.sum(g * e) for g, e in zip(jax.tree_util.tree_leaves(gradient),
                                                                          jax.tree_util.tree_leaves(d))))(stacked)
        shifts = jax.tree_util.tree_map(lambda d: jnp.concatenate([step * d, -step * d]), stacked)
        values = jax.vmap(lambda d: observable(jax.tree_util.tree_map(jnp.add, args, d))[0])(shifts)
        return analytic, (values[:k] - values[k:]) / (2 * step), weights

    return lambda point: run(point, stacked)


def assert_gradients(check, args, label):
    analytic, numeric, weights = (np.asarray(v) for v in check(args))
    assert np.all(weights > 0), label
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9 * np.abs(numeric).max(), err_msg=label)


def test_rambo_gradients_match_finite_differences_and_vanish_below_threshold():
    def observable(args):
        x, masses, sqrt_s = args
        final, weights = rambo(x, sqrt_s, masses)
        return smooth_observable(with_incoming(final, sqrt_s), weights), weights

    args = (jnp.asarray(0.1 + 0.8 * uniform(7, 12, 3)), jnp.array([173.0, 20.0, 5.0]), jnp.asarray(400.0))
    check = gradient_check(observable, args, 8)
    assert_gradients(check, args, "rambo")
    analytic, _, weights = check((args[0], args[1], jnp.asarray(150.0)))  # below threshold: same compiled code
    assert np.all(np.asarray(weights) == 0) and np.all(np.isfinite(np.asarray(analytic)))


CHANNEL_GRADIENT_CASES = [
    ("ps_gg_ttxg", 7, 1000.0),   # t-channel top, then a Breit-Wigner top decaying to t g
    pytest.param("ps_epem_ww", 18, 200.0, marks=pytest.mark.slow),  # t-channel neutrino, two Breit-Wigner Ws
    pytest.param("ps_epem_ww", 5, 200.0, marks=pytest.mark.slow),    # three t-channel lines
    pytest.param("ps_gg_ttxg", 14, 1000.0, marks=pytest.mark.slow),  # massive t-channel tops
    pytest.param("ps_gg_ttxg", 8, 1000.0, marks=pytest.mark.slow),   # s-channel chain with a top propagator
    pytest.param("ps_gg_ttxg", 16, 1000.0, marks=pytest.mark.slow),  # four-gluon vertex
]


@pytest.mark.parametrize("name, diagram, sqrt_s", CHANNEL_GRADIENT_CASES)
def test_channel_gradients_match_finite_differences_and_vanish_below_threshold(processes, name, diagram, sqrt_s):
    """d/dx, d/dmasses, d/dsqrt_s and d/d(each propagator mass and width), by jax.grad and by differences."""
    proc = processes[name]
    channel = multichannel_from_diagrams(proc.diagrams)[diagram - 1]
    parameters = {n: jnp.asarray(v) for n, v in propagator_parameters(proc).items() if n in channel.parameter_names}
    # every leg massive, so that every direction is a physical one
    masses = jnp.asarray(np.asarray(proc.masses()) + np.arange(1.0, proc.n_legs + 1))

    def observable(args):
        x, masses, sqrt_s, parameters = args
        momenta, weights = channel(x, sqrt_s, masses, parameters)
        return smooth_observable(momenta, weights), weights

    args = (jnp.asarray(0.1 + 0.8 * uniform(9, channel.ndim, 3)), masses, jnp.asarray(sqrt_s), parameters)
    check = gradient_check(observable, args, 10)
    assert_gradients(check, args, f"{name} channel {diagram}")
    below = float(np.asarray(masses[2:]).sum()) * 0.9
    analytic, _, weights = check((args[0], masses, jnp.asarray(below), parameters))
    assert np.all(np.asarray(weights) == 0) and np.all(np.isfinite(np.asarray(analytic)))


def test_channel_is_a_frozen_description(processes):
    channel = multichannel_from_diagrams(processes["ps_epem_mupmum"].diagrams)[0]
    assert isinstance(channel, DiagramChannel) and hash(channel) == hash(channel)
    with pytest.raises(Exception):
        channel.diagram = 2


def test_rapidity_sampling_stays_inside_the_pdf_domain():
    """x1, x2 <= 1 at the ends of the rapidity range (sqrt(tau) e^y rounds to 1 + 2^-52 at y = -log(tau) / 2
    for about a third of tau values), and a window that leaves nothing gives dy/du = 0 at y = 0."""
    from madgen.phasespace import fractions_at, sample_rapidity

    tau = jnp.logspace(-9.0, -0.01, 2000)
    for u in (0.0, 1.0):
        y, width = sample_rapidity(jnp.full(tau.shape, u), tau)
        x1, x2 = fractions_at(tau, y)
        assert float(jnp.max(x1)) <= 1.0 and float(jnp.max(x2)) <= 1.0
        assert float(jnp.max(jnp.maximum(x1, x2))) == 1.0
        np.testing.assert_allclose(np.asarray(x1 * x2), np.asarray(tau), rtol=1e-14)
    lower, upper = jnp.asarray([3.0, 12.0, -1.0]), jnp.asarray([2.0, 13.0, 1.0])
    y, width = sample_rapidity(jnp.full(3, 0.75), jnp.full(3, 1e-4), (lower, upper))
    np.testing.assert_array_equal(np.asarray(width), [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(np.asarray(y), [0.0, 0.0, 0.5])
