"""Decay chains in the runtime, with synthetic channel tables (the compiler's decay chains arrive
separately): MadGraph's bwcutoff windows (generation and cut), resonances in the LHE record with
status 2, MadGraph's line order, mothers, summed momenta and colour."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from madgen.runtime.channels import decay_windows
from madgen.runtime.columnar import EventRecord
from madgen.runtime.resonances import decays_of, with_resonances

# p p > t t~, t > w+ b, w+ > e+ ve, as the channel table of a decay-chain process would list it
# (legs 1, 2 incoming; 3 e+, 4 ve, 5 b, 6 t~)
LEGS = [{"number": i, "pdg": pdg, "initial": i <= 2} for i, pdg in enumerate([21, 21, -11, 12, 5, -6], start=1)]
DECAYS = [
    {"particle": "w+", "pdg": 24, "mass": "MW", "width": "WW", "legs": [3, 4], "parent": 1},
    {"particle": "t", "pdg": 6, "mass": "MT", "width": "WT", "legs": [3, 4, 5], "parent": None},
]


class FakeKernel:
    """Just what the resonance code reads: the channel table and the number of incoming legs."""

    n_initial = 2

    def __init__(self, decays):
        self.channels = {"legs": LEGS, "diagrams": [], "decays": decays}


def test_decays_are_ordered_parents_first_and_windows_skip_required_resonances():
    kernel = FakeKernel(DECAYS)
    assert [d["particle"] for d in decays_of(kernel)] == ["t", "w+"]
    windows = decay_windows(kernel, 15.0)
    assert [(w.legs, w.mass, w.width, w.cutoff) for w in windows] == [((2, 3), "MW", "WW", 15.0),
                                                                        ((2, 3, 4), "MT", "WT", 15.0)]
    required = [{"particle": "z", "pdg": 23, "mass": "MZ", "width": "WZ", "legs": [3, 4], "parent": None,
                 "required": True}]
    assert decay_windows(FakeKernel(required), 15.0) == ()
    assert decay_windows(FakeKernel([]), 15.0) == () and decays_of(FakeKernel([])) == []


def test_resonance_lines_follow_madgraph():
    rng = np.random.default_rng(1)
    momenta = rng.normal(size=(3, 6, 4)) * 50
    momenta[..., 0] = np.abs(momenta[..., 0]) + 300
    colour = np.zeros((3, 6, 2), dtype=int)
    colour[:, 0] = [501, 502]
    colour[:, 1] = [503, 501]
    colour[:, 4] = [503, 0]  # b carries the top's colour
    colour[:, 5] = [0, 502]  # t~
    kernel = FakeKernel(DECAYS)
    record = with_resonances(kernel, EventRecord.from_arrays(
        pdg_ids=[21, 21, -11, 12, 5, -6], momenta=momenta, weights=1.0, masses=[0, 0, 0, 0, 4.7, 173],
        colour=colour, helicities=1.0), decays_of(kernel))
    assert record.n_legs == 8
    np.testing.assert_array_equal(record.pdg_ids[0], [21, 21, 6, 24, -11, 12, 5, -6])
    np.testing.assert_array_equal(record.status[0], [-1, -1, 2, 2, 1, 1, 1, 1])
    # mothers (1-based): t from the partons, W from the t, e+ ve from the W, b from the t, t~ from the partons
    assert record.mothers[0].tolist() == [[0, 0], [0, 0], [1, 2], [3, 3], [4, 4], [4, 4], [3, 3], [1, 2]]
    np.testing.assert_allclose(record.momenta[:, 2], momenta[:, 2:5].sum(axis=1))
    np.testing.assert_allclose(record.momenta[:, 3], momenta[:, 2:4].sum(axis=1))
    w = record.momenta[:, 3]
    np.testing.assert_allclose(record.masses[:, 3], np.sqrt(np.maximum(w[:, 0] ** 2 - np.sum(w[:, 1:] ** 2, 1), 0)))
    assert record.colour[0, 2].tolist() == [503, 0] and record.colour[0, 3].tolist() == [0, 0]
    assert record.helicities[0, 2] == 0 and record.helicities[0, 4] == 1


def test_bwcutoff_window_in_the_phase_space_and_the_cut(generate_package):
    """e+ e- > mu+ vm e- ve~ at 200 GeV through W+ W-: with windows of 15 widths around MW on both W
    systems, every point of the doubly resonant channel lies inside them, and the weights integrate to
    the phase space inside the windows (RAMBO restricted by the same cut)."""
    from madgen.phasespace import multichannel_from_diagrams, propagator_parameters, rambo, rambo_ndim, with_incoming
    from madgen.phasespace.kinematics import mass_squared
    from madgen.runtime.integrand import GroupIntegrand, ResonanceWindow

    proc = generate_package("sm", "e+ e- > mu+ vm e- ve~", "ps_epem_ww")
    parameters = propagator_parameters(proc)
    mw, ww = float(parameters["MW"]), float(parameters["WW"])
    channel = next(c for c in multichannel_from_diagrams(proc.channels)
                   if [p.line for p in c.t_chain] == ["1_3_4"] and len(c.systems) == 2)
    windows = {(3, 4): ("MW", "WW", 15.0), (5, 6): ("MW", "WW", 15.0)}
    x = np.random.default_rng(3).random((40000, channel.ndim))
    masses = np.asarray(proc.masses())
    momenta, weights = channel(x, 200.0, masses, parameters, windows)
    momenta, weights = np.asarray(momenta), np.asarray(weights)
    for pair in ((2, 3), (4, 5)):
        m = np.sqrt(np.asarray(mass_squared(momenta[:, pair[0]] + momenta[:, pair[1]])))
        assert np.all(np.abs(m[weights > 0] - mw) <= 15 * ww * (1 + 1e-9))

    def inside(p):
        ok = np.ones(len(p), dtype=bool)
        for pair in ((2, 3), (4, 5)):
            m = np.sqrt(np.maximum(np.asarray(mass_squared(p[:, pair[0]] + p[:, pair[1]])), 0))
            ok &= np.abs(m - mw) <= 15 * ww
        return ok

    final, flat = rambo(np.random.default_rng(4).random((400000, rambo_ndim(4))), 200.0, jnp.zeros(4))
    full = np.asarray(with_incoming(final, 200.0))
    reference = np.asarray(flat) * inside(full)
    # the channel integrates the flat phase space inside the windows: compare volumes
    mean, error = weights.mean(), weights.std() / math.sqrt(len(weights))
    ref_mean, ref_error = reference.mean(), reference.std() / math.sqrt(len(reference))
    assert abs(mean - ref_mean) < 4 * math.hypot(error, ref_error), (mean, error, ref_mean, ref_error)
    # the integrand's cut does the same to any channel
    integrand = GroupIntegrand.__new__(GroupIntegrand)
    object.__setattr__(integrand, "windows", (ResonanceWindow((2, 3), "MW", "WW", 15.0),
                                              ResonanceWindow((4, 5), "MW", "WW", 15.0)))
    np.testing.assert_array_equal(np.asarray(integrand._in_windows(jnp.asarray(full[:2000]), parameters)),
                                  inside(full[:2000]))


class TableKernel:
    """A kernel with a channel table of one diagram's propagators (and decay-chain resonances)."""

    n_initial = 2

    def __init__(self, pdgs, propagators, decays=()):
        self.channels = {"legs": [{"number": i, "pdg": pdg, "initial": i <= 2} for i, pdg in enumerate(pdgs, start=1)],
                         "diagrams": [{"number": 1, "orders": {}, "propagators": propagators}],
                         "decays": list(decays)}


def s_channel(pdg, legs, mass="MZ", width="WZ"):
    return {"line": "_".join(map(str, legs)), "particle": str(pdg), "pdg": pdg, "mass": mass, "width": width,
            "legs": legs, "s_channel": True, "final_pdg": pdg}


def pair_at(mass, extra=0.0):
    """Momenta of legs 1-5 where legs 3, 4 have invariant mass ``mass`` and leg 5, at rest with mass ``extra``
    in their frame, makes m(345) = mass + extra (the resonance code reads invariant masses only)."""
    return np.array([[1.0, 0, 0, 1], [1.0, 0, 0, -1], [mass / 2, 0, 0, mass / 2], [mass / 2, 0, 0, -mass / 2],
                     [extra, 0, 0, 0]])


def written(groups, n_events):
    """Per event: the (pdg, legs) of the resonances the groups give it."""
    result = [None] * n_events
    for rows, decays in groups:
        for row in rows:
            result[row] = [(d["pdg"], tuple(d["legs"])) for d in decays]
    return result


def test_an_s_channel_on_its_mass_shell_is_written_as_madgraph_does():
    """MadGraph's OnBW: the event's channel diagram's s-channel propagator with a width is written when
    |m - M| < bwcutoff Gamma and Gamma / M < 0.1; a flat channel (None) and a photon never."""
    from madgen.runtime.resonances import onshell_resonances

    kernel = TableKernel([-11, 11, -13, 13, 22], [s_channel(23, [1, 2]), s_channel(23, [3, 4])])
    momenta = np.stack([pair_at(91.0, 10.0), pair_at(91.188 + 15 * 2.5 + 0.1, 10.0), pair_at(60.0, 31.0)])
    internal = {"MZ": 91.188, "WZ": 2.5}
    assert written(onshell_resonances(kernel, 1, momenta, internal, 15.0), 3) == [[(23, (3, 4))], [], [(23, (3, 4, 5))]]
    # a negative mass parameter (SLHA's neutralinos: the sign is the mixing's) is its |M|, as MadGraph's pmass
    assert written(onshell_resonances(kernel, 1, momenta, {"MZ": -91.188, "WZ": 2.5}, 15.0), 3) == \
        [[(23, (3, 4))], [], [(23, (3, 4, 5))]]
    assert written(onshell_resonances(kernel, None, momenta, internal, 15.0), 3) == [[], [], []]
    assert written(onshell_resonances(kernel, 1, momenta, {"MZ": 91.188, "WZ": 9.2}, 15.0), 3) == [[], [], []]
    photon = TableKernel([-11, 11, -13, 13, 22], [dict(s_channel(22, [3, 4]), mass="ZERO", width="ZERO")])
    assert written(onshell_resonances(photon, 1, momenta, internal, 15.0), 3) == [[], [], []]


def test_of_two_lines_of_one_particle_madgraph_keeps_one():
    """A propagator of the particle of one of its external daughters (t > t g) is never written; of a
    propagator and a daughter propagator of the same particle the one closer to the pole is (both on shell),
    and a decay-chain resonance (forced) wins over a daughter or parent of its particle."""
    from madgen.runtime.resonances import onshell_resonances

    radiating = TableKernel([2, -2, 6, -6, 21], [s_channel(6, [3, 5], "MT", "WT")])
    internal = {"MT": 173.0, "WT": 1.5, "MZ": 91.188, "WZ": 2.5}
    soft = np.stack([np.array([[1.0, 0, 0, 1], [1.0, 0, 0, -1], [173.0, 0, 0, 0], [173.0, 0, 0, 0], [0.1, 0, 0, 0.1]])])
    assert written(onshell_resonances(radiating, 1, soft, internal, 15.0), 1) == [[]]
    nested = TableKernel([-11, 11, -13, 13, 22], [s_channel(23, [3, 4]), s_channel(23, [1, 2])])
    momenta = np.stack([pair_at(91.0, 1.0), pair_at(85.0, 6.19)])  # child closer; parent closer (91.19)
    assert written(onshell_resonances(nested, 1, momenta, internal, 15.0), 2) == [[(23, (3, 4))], [(23, (3, 4, 5))]]
    forced = [{"particle": "z", "pdg": 23, "mass": "MZ", "width": "WZ", "legs": [3, 4], "parent": None}]
    chain = TableKernel([-11, 11, -13, 13, 22], [s_channel(23, [3, 4]), s_channel(23, [1, 2])], forced)
    assert written(onshell_resonances(chain, 1, momenta, internal, 15.0), 2) == [[(23, (3, 4))], [(23, (3, 4))]]


def test_the_colour_flow_follows_the_channel_diagram(generate_package):
    """u u~ > d d~: in the Z's diagram the d d~ pair is a colour singlet, in the gluon's the d takes the u's
    colour. MadGraph draws an event's flow among those its channel's diagram reaches (icolamp,
    ``diagram_flows``): events of the Z channel get the singlet flow only (a Z line with colour tags came from
    the gluon's flow); without a diagram, either flow."""
    package = generate_package("sm", "u u~ > d d~ QED<=2", "colour_by_channel")
    diagrams = {next(p["particle"] for p in d["propagators"]): d["number"] for d in package.channels["diagrams"]}
    singlet = [f for f, flow in enumerate(package.colour_flows) if flow[2, 0] == flow[3, 1]]  # d's colour ends on d~
    assert package.diagram_flows.shape == (len(diagrams), len(package.colour_flows)) and len(singlet) == 1
    assert package.diagram_flows[diagrams["Z"] - 1].tolist() == [f in singlet for f in range(len(package.colour_flows))]
    e = 45.0
    momenta = np.array([[[e, 0, 0, e], [e, 0, 0, -e], [e, e * np.sin(t), 0, e * np.cos(t)],
                         [e, -e * np.sin(t), 0, -e * np.cos(t)]] for t in np.linspace(0.3, 2.8, 64)])
    uniforms = np.random.default_rng(2).uniform(size=(64, 2))
    _, colour = package.select_helicity_and_colour(momenta, uniforms, diagrams=diagrams["Z"])
    assert all(c[2, 0] == c[3, 1] for c in np.asarray(colour))
    _, colour = package.select_helicity_and_colour(momenta, uniforms)
    assert not all(c[2, 0] == c[3, 1] for c in np.asarray(colour))  # the gluon's flow dominates at 90 GeV
