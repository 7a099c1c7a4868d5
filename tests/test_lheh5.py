"""columnar: lheh5 (madgen.runtime.lheh5): the LHEH5 file pylhe writes from the run's LHE file holds
the same events (ids, status, mothers, colours, momenta, masses, helicities, weights, scales) as
events.lhe read by pylhe; without lhe the scratch LHE file is gone; no temporary file is left."""

import numpy as np
import pytest

import madgen

pylhe = pytest.importorskip("pylhe")
pytest.importorskip("h5py")
if not hasattr(pylhe, "LHEHDF5Format"):  # pragma: no cover
    pytest.skip("pylhe >= 2.1 needed for LHEH5", allow_module_level=True)

QUICK = {"sqrt_s": 91.188, "warmup_iterations": 1, "iterations": 2, "points_per_iteration": 4000,
         "batch_size": 4096, "n_events": 300, "seed": 5}


@pytest.fixture(scope="module")
def ee_mumu(generate_package):
    return generate_package("sm", "e+ e- > mu+ mu-", "epem_mupmum")


def particles(events):
    rows, info = [], []
    for event in events:
        info.append([event.eventinfo.pid, event.eventinfo.weight, event.eventinfo.scale, event.eventinfo.aqcd,
                     event.eventinfo.aqed])
        rows.append([[p.id, p.status, p.mother1, p.mother2, p.color1, p.color2, p.px, p.py, p.pz, p.e, p.m, p.spin]
                     for p in event.particles])
    return [np.array(r, dtype=float) for r in rows], np.array(info, dtype=float)


def test_lheh5_holds_the_lhe_events(ee_mumu, tmp_path):
    output = tmp_path / "run"
    madgen.api.launch(ee_mumu._dir, {**QUICK, "columnar": "lheh5"}, output=output, log=lambda *_: None,
                      progress=False)
    assert sorted(p.name for p in output.iterdir()) == [".madgen.json", "events.lhe", "events.lheh5", "results.json"]
    text = pylhe.LHEFile.fromfile(str(output / "events.lhe"))
    h5 = pylhe.LHEFile.fromfile(str(output / "events.lheh5"))
    assert h5.init.initInfo.beamA == text.init.initInfo.beamA == -11
    assert h5.init.initInfo.weightingStrategy == text.init.initInfo.weightingStrategy
    assert h5.init.procInfo[0].xSection == pytest.approx(text.init.procInfo[0].xSection, rel=1e-12)
    lhe_particles, lhe_info = particles(text.events)
    h5_particles, h5_info = particles(h5.events)
    # e+ e- mu+ mu-, and the Z (status 2, helicity 0) in the events of its channel, as MadGraph writes them
    assert len(lhe_particles) == len(h5_particles) == 300 and 5 in {len(p) for p in lhe_particles} <= {4, 5}
    for h5_event, lhe_event in zip(h5_particles, lhe_particles):
        np.testing.assert_allclose(h5_event, lhe_event, rtol=1e-12, atol=0)
    np.testing.assert_allclose(h5_info, lhe_info, rtol=1e-12, atol=0)
    helicities = np.concatenate([p[p[:, 1] != 2, 11] for p in lhe_particles])
    assert set(np.unique(helicities)) <= {-1.0, 1.0}  # helicities survive


def test_lheh5_without_lhe_leaves_only_the_lheh5(ee_mumu, tmp_path):
    output = tmp_path / "run"
    madgen.api.launch(ee_mumu._dir, {**QUICK, "columnar": "lheh5", "lhe": False}, output=output,
                      log=lambda *_: None, progress=False)
    assert sorted(p.name for p in output.iterdir()) == [".madgen.json", "events.lheh5", "results.json"]
    assert pylhe.LHEFile.count_events(str(output / "events.lheh5")) == 300
    assert not list(tmp_path.rglob("*madgen*tmp*"))
