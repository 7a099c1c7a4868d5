"""Decay chains end to end (compiler's resonance table -> runtime): sigma of a chain against
sigma x BR in the narrow-width approximation, and the resonance in the LHE record as MadGraph
writes it (status 2, mothers, momenta)."""

import math

import numpy as np
import pylhe
import pytest

from madgen import api

SQRT_S = 500.0
BWCUTOFF = 15.0


def window_fraction(gamma_over_m: float, bwcutoff: float) -> float:
    """Fraction of a Breit-Wigner in m^2 inside |m - M| <= bwcutoff * Gamma (pole at M)."""
    upper = 2 * bwcutoff + bwcutoff**2 * gamma_over_m
    lower = 2 * bwcutoff - bwcutoff**2 * gamma_over_m
    return (math.atan(upper) + math.atan(lower)) / math.pi


def run_card(n_events: int) -> dict:
    return {"sqrt_s": SQRT_S, "n_events": n_events, "seed": 3, "iterations": 5, "points_per_iteration": 8000,
            "lhe": True, "bwcutoff": BWCUTOFF, "cuts": {"ptl": 0, "etal": -1, "drll": 0}}


@pytest.fixture(scope="module")
def zh_runs(generate_package, tmp_path_factory):
    chain = generate_package("sm", "e+ e- > z h, z > mu+ mu-", "run_zh_chain")
    on_shell = generate_package("sm", "e+ e- > z h", "run_zh")
    root = tmp_path_factory.mktemp("zh")
    quiet = dict(log=lambda *a, **k: None, progress=False)
    return (chain, api.launch(chain._dir, run_card(40), output=root / "chain", **quiet),
            on_shell, api.launch(on_shell._dir, run_card(1), output=root / "zh", **quiet))


def z_to_mumu_width(generate_package, parameters) -> float:
    """Gamma(Z -> mu+ mu-) from the model's own |M|^2 of the decay: |p| |M|^2 / (8 pi M^2)."""
    decay = generate_package("sm", "z > mu+ mu-", "run_z_mumu")
    mz = float(parameters["MZ"])
    e = mz / 2
    p = np.array([[[mz, 0, 0, 0], [e, 0, 0, e], [e, 0, 0, -e]]])
    return float(decay.matrix_element(p, parameters)[0]) * e / (8 * math.pi * mz**2)


def test_sigma_of_the_chain_is_sigma_times_branching_ratio(zh_runs, generate_package):
    """sigma(e+ e- > z h, z > mu+ mu-) = sigma(e+ e- > z h) * Gamma(Z -> mu mu) / Gamma_Z * (the
    Breit-Wigner fraction inside the bwcutoff window), up to off-shell effects of order Gamma/M."""
    chain, chain_run, _, zh_run = zh_runs
    parameters = chain.default_parameters()
    mz, wz = float(parameters["MZ"]), float(parameters["WZ"])
    branching = z_to_mumu_width(generate_package, parameters) / wz
    assert 0.03 < branching < 0.04  # about 3.4%, as measured at LEP
    expected = zh_run.cross_section_pb * branching * window_fraction(wz / mz, BWCUTOFF)
    monte_carlo = math.hypot(chain_run.error_pb, zh_run.error_pb * branching)
    tolerance = wz / mz * expected + 4 * monte_carlo
    assert abs(chain_run.cross_section_pb - expected) < tolerance, (chain_run.cross_section_pb, expected, tolerance)


def test_the_resonance_is_in_the_lhe_record_with_status_2(zh_runs):
    chain, chain_run, _, _ = zh_runs
    mz, wz = float(chain.default_parameters()["MZ"]), float(chain.default_parameters()["WZ"])
    events = list(pylhe.LHEFile.fromfile(f"{chain_run.output_dir}/events.lhe").events)
    assert len(events) == 40
    for event in events:
        ids = [int(p.id) for p in event.particles]
        status = [int(p.status) for p in event.particles]
        assert ids == [-11, 11, 23, -13, 13, 25] and status == [-1, -1, 2, 1, 1, 1]
        z, mu_plus, mu_minus = event.particles[2], event.particles[3], event.particles[4]
        assert (int(z.mother1), int(z.mother2)) == (1, 2)
        assert (int(mu_plus.mother1), int(mu_minus.mother1)) == (3, 3)
        for component in ("px", "py", "pz", "e"):
            assert getattr(z, component) == pytest.approx(getattr(mu_plus, component) + getattr(mu_minus, component),
                                                          rel=1e-9, abs=1e-9)
        assert abs(z.m - mz) <= BWCUTOFF * wz * (1 + 1e-9)


def test_time_of_flight_writes_exponential_decay_lengths_of_the_widths(zh_runs, tmp_path):
    """MadGraph's time_of_flight: every line of a particle with a width (the Z resonance, the Higgs) gets a
    proper decay length c tau ~ Exp(mean hbar c / Gamma) in mm as its VTIMUP, kept above the threshold;
    lines of particles without a width keep 0, and so does every line of a run without it (the default)."""
    from madgen.runtime.columnar import read_columnar

    chain, chain_run, _, _ = zh_runs
    assert all(p.lifetime == 0 for e in pylhe.LHEFile.fromfile(f"{chain_run.output_dir}/events.lhe").events
               for p in e.particles)
    parameters = chain.default_parameters()
    hbar_c = 1.973269804e-13  # GeV mm
    mean = {2: hbar_c / float(parameters["WZ"]), 5: hbar_c / float(parameters["WH"])}  # the Z's and the H's line
    quiet = dict(log=lambda *a, **k: None, progress=False)
    n = 400
    card = {**run_card(n), "columnar": "npz", "time_of_flight": 0.0}
    every = api.launch(chain._dir, card, output=tmp_path / "every", **quiet)
    record, _ = read_columnar(f"{every.output_dir}/events.npz")
    events = list(pylhe.LHEFile.fromfile(f"{every.output_dir}/events.lhe").events)
    written = np.array([[p.lifetime for p in e.particles] for e in events])
    np.testing.assert_allclose(written, record.lifetime, rtol=1e-3)  # the LHE's 5 digits
    assert np.all(record.lifetime[:, [0, 1, 3, 4]] == 0)  # e+ e- mu+ mu-: no width
    for line, length in mean.items():
        lengths = record.lifetime[:, line]
        assert np.all(lengths > 0)
        assert abs(lengths.mean() - length) < 5 * length / math.sqrt(n), (line, lengths.mean(), length)
        assert abs(np.mean(lengths < length) - (1 - math.exp(-1))) < 5 * 0.5 / math.sqrt(n)  # the exponential's CDF
    above = api.launch(chain._dir, {**card, "time_of_flight": mean[2]}, output=tmp_path / "above", **quiet)
    kept, _ = read_columnar(f"{above.output_dir}/events.npz")
    np.testing.assert_array_equal(kept.momenta, record.momenta)  # the same events: only the threshold differs
    np.testing.assert_array_equal(kept.lifetime, np.where(record.lifetime > mean[2], record.lifetime, 0.0))


def test_decay_products_take_no_cuts_unless_cut_decays(zh_runs, tmp_path):
    """MadGraph's cut_decays (default false): the run card's lepton cuts leave the muons of the Z's decay
    alone, so the run is the uncut one, bit for bit; with cut_decays they act on every written muon."""
    chain, chain_run, _, _ = zh_runs
    quiet = dict(log=lambda *a, **k: None, progress=False)
    card = {**run_card(40), "cuts": {"ptl": 30.0, "etal": 1.0}}
    exempt = api.launch(chain._dir, card, output=tmp_path / "exempt", **quiet)
    assert exempt.cross_section_pb == chain_run.cross_section_pb
    cut = api.launch(chain._dir, {**card, "cut_decays": True}, output=tmp_path / "cut", **quiet)
    assert cut.cross_section_pb < 0.8 * chain_run.cross_section_pb
    for event in pylhe.LHEFile.fromfile(f"{cut.output_dir}/events.lhe").events:
        for muon in event.particles[3:5]:
            pt = math.hypot(muon.px, muon.py)
            assert pt >= 30.0 and abs(math.asinh(muon.pz / pt)) <= 1.0


def test_processes_with_different_numbers_of_lines_share_one_run(generate_package, tmp_path):
    """A card whose processes have different numbers of LHE lines (a decay chain, whose resonance is a line,
    beside a process without one; it stopped with a concatenation error after the integration): each event
    has its own process's lines (NUP), conserves momentum, and the processes share the events as their cross
    sections; the columnar file pads the shorter events with status-0 lines. (The second process's events
    from the channel of its Z > mu+ mu- diagram with the muons near the Z mass carry that Z as a status-2
    line too, as MadGraph writes them: 5 or 6 lines.)"""
    from madgen.runtime.columnar import read_columnar

    both = generate_package("sm", ["e+ e- > z h, z > mu+ mu-", "e+ e- > mu+ mu- h"], "run_mixed_lines")
    card = {"sqrt_s": 250.0, "n_events": 400, "seed": 3, "iterations": 3, "points_per_iteration": 4000, "lhe": True,
            "columnar": "npz"}  # MadGraph's default cuts: the muons of the second process need ptl, drll
    result = api.launch(both.subprocesses[0]._dir, card, output=tmp_path / "run", log=lambda *a, **k: None,
                        progress=False)
    share = {g["process_id"]: g["cross_section_pb"] / result.cross_section_pb for g in result.groups}
    lines = {1: (6,), 2: (5, 6)}  # the chain: e+ e- Z h mu+ mu-; the other: e+ e- (Z) mu+ mu- h
    events = list(pylhe.LHEFile.fromfile(str(tmp_path / "run" / "events.lhe")).events)
    counts = {1: 0, 2: 0}
    for event in events:
        pid = int(event.eventinfo.pid)
        counts[pid] += 1
        assert len(event.particles) == int(event.eventinfo.nparticles) and len(event.particles) in lines[pid]
        incoming = sum(np.array([p.e, p.px, p.py, p.pz]) for p in event.particles if p.status == -1)
        outgoing = sum(np.array([p.e, p.px, p.py, p.pz]) for p in event.particles if p.status == 1)
        np.testing.assert_allclose(outgoing, incoming, atol=1e-7 * incoming[0])
    for pid, n in counts.items():
        assert abs(n - share[pid] * len(events)) < 4 * math.sqrt(len(events) * share[pid] * (1 - share[pid])) + 1
    record, _ = read_columnar(tmp_path / "run" / "events.npz")
    assert record.n_legs == 6
    short = np.all(record.status != 2, axis=1)
    assert np.all(record.process_id[short] == 2) and np.any(short)
    assert np.all(record.status[short, 5] == 0) and np.all(record.pdg_ids[short, 5] == 0)
    assert np.all(record.status[~short] != 0)


def test_a_required_s_channel_on_different_legs_gets_its_line_from_the_channel(generate_package, tmp_path):
    """e+ e- > z > mu+ mu- a: the Z decays to mu+ mu- in the diagrams with an initial-state photon and to
    mu+ mu- a in the others, so the channel table gives it no legs (None). The run stopped with a TypeError in
    the divergence check; it runs, and, as MadGraph writes it, an event whose channel's Z is on its mass
    shell carries it as a status-2 line, the mother of the particles of that channel's decay: mu+ mu- or
    mu+ mu- a, whose momenta add up to the Z's."""
    package = generate_package("sm", "e+ e- > z > mu+ mu- a", "run_required_z_legs")
    (decay,) = package.channels["decays"]
    assert decay["required"] and decay["legs"] is None
    card = {"sqrt_s": 250.0, "n_events": 50, "seed": 2, "iterations": 2, "points_per_iteration": 3000, "lhe": True}
    result = api.launch(package._dir, card, output=tmp_path / "run", log=lambda *a, **k: None, progress=False)
    assert result.cross_section_pb > 0 and result.n_events == 50
    products = set()
    for event in pylhe.LHEFile.fromfile(str(tmp_path / "run" / "events.lhe")).events:
        ids = [int(p.id) for p in event.particles]
        assert sorted(ids) in ([-13, -11, 11, 13, 22], [-13, -11, 11, 13, 22, 23])
        if 23 in ids:
            z = event.particles[ids.index(23)]
            assert ids.index(23) == 2 and int(z.status) == 2 and (int(z.mother1), int(z.mother2)) == (1, 2)
            children = [p for p in event.particles if int(p.mother1) == 3]
            products.add(tuple(sorted(int(p.id) for p in children)))
            for component in ("e", "px", "py", "pz"):
                assert getattr(z, component) == pytest.approx(sum(getattr(p, component) for p in children), abs=1e-6)
            assert abs(z.m - float(package.default_parameters()["MZ"])) < 15 * float(package.default_parameters()["WZ"])
    assert products  # at sqrt(s) = 250 GeV the radiative return to the Z: mu+ mu- on shell, the photon before
