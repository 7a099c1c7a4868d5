"""LHE and columnar writers: round trips through pylhe / numpy / h5py, and atomic writes."""

import numpy as np
import pylhe
import pytest

import madgen
from madgen.errors import OutputError
from madgen.runtime.columnar import EventRecord, concatenate, read_columnar, write_columnar
from madgen.runtime.lhe import Beams, write_lhe


def synthetic_events(n_events=5, seed=1):
    """g g > t t~ g-like events: random momenta, colour tags from 501, helicities +-1."""
    rng = np.random.default_rng(seed)
    momenta = rng.normal(scale=100.0, size=(n_events, 5, 4))
    momenta[..., 0] = np.abs(momenta[..., 0]) + 500.0
    pdg_ids = np.tile([21, 21, 6, -6, 21], (n_events, 1))
    pdg_ids[::2, 4] = 2  # a second subprocess in the same file
    colour = np.zeros((n_events, 5, 2), dtype=int)
    colour[:, 0] = [501, 502]
    colour[:, 1] = [503, 501]
    colour[:, 2] = [503, 0]
    colour[:, 3] = [0, 504]
    colour[:, 4] = [504, 502]
    helicities = rng.choice([-1, 1], size=(n_events, 5))
    return EventRecord.from_arrays(pdg_ids=pdg_ids, momenta=momenta, weights=0.25, masses=[0, 0, 173, 173, 0],
                                   helicities=helicities, colour=colour, scale=173.0, aqed=1 / 132.5, aqcd=0.118)


def read(path):
    lhe = pylhe.LHEFile.fromfile(path)
    return lhe, list(lhe.events)


def test_lhe_round_trip(tmp_path):
    record = synthetic_events()
    path = write_lhe(tmp_path / "events.lhe", beams=Beams(21, 21, 6500.0, 6500.0), process_id=1,
                     cross_section_pb=1.25, error_pb=0.01, events=record,
                     header_info={"run_card": "sqrt_s: 13000\n# a < b & c ]]> d", "process": "g g > t t~ g"})
    lhe, events = read(path)
    info = lhe.init.initInfo
    assert (info.beamA, info.beamB, info.energyA, info.energyB) == (21, 21, 6500.0, 6500.0)
    assert (info.PDFgroupA, info.PDFsetB, info.weightingStrategy, info.numProcesses) == (0, 0, 3, 1)
    process = lhe.init.procInfo[0]
    assert (process.xSection, process.error, process.unitWeight, process.procId) == (1.25, 0.01, 0.25, 1)
    assert len(events) == len(record)
    for index, event in enumerate(events):
        assert event.eventinfo.nparticles == 5 and event.eventinfo.pid == 1
        assert event.eventinfo.weight == 0.25 and event.eventinfo.scale == 173.0
        assert event.eventinfo.aqcd == pytest.approx(0.118)
        particles = event.particles
        assert [int(p.id) for p in particles] == record.pdg_ids[index].tolist()
        assert [int(p.status) for p in particles] == [-1, -1, 1, 1, 1]
        assert [(int(p.mother1), int(p.mother2)) for p in particles] == [(0, 0)] * 2 + [(1, 2)] * 3
        assert [[int(p.color1), int(p.color2)] for p in particles] == record.colour[index].tolist()
        assert [float(p.spin) for p in particles] == record.helicities[index].tolist()
        momenta = [[p.e, p.px, p.py, p.pz] for p in particles]
        np.testing.assert_allclose(momenta, record.momenta[index], rtol=1e-10)
        assert [p.m for p in particles] == [0, 0, 173, 173, 0]
    text = path.read_text()
    assert "Number of Events        :  5" in text and "a < b & c ]]> d" in text.replace("]]]]><![CDATA[>", "]]>")


def test_lhe_streams_chunks_and_defaults(tmp_path):
    chunks = [synthetic_events(3, seed=1), synthetic_events(4, seed=2)]
    path = write_lhe(tmp_path / "events.lhe", beams=(21, 21, 500.0, 500.0), cross_section_pb=2.0,
                     error_pb=0.1, events=iter(chunks))
    lhe, events = read(path)
    assert len(events) == 7 and lhe.init.procInfo[0].unitWeight == 0.25  # XMAXUP = largest weight
    assert events[0].particles[4].spin == events[0].particles[4].spin
    unknown = EventRecord.from_arrays(pdg_ids=[11, -11, 13, -13], momenta=np.ones((2, 4, 4)), weights=1.0)
    write_lhe(tmp_path / "unknown.lhe", beams=(11, -11, 1.0, 1.0), cross_section_pb=2.0, error_pb=0.0,
              events=unknown)
    _, events = read(tmp_path / "unknown.lhe")
    assert all(p.spin == 9.0 and p.color1 == 0 for p in events[1].particles)


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "events.lhe"

    def chunks():
        yield synthetic_events(3)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_lhe(target, beams=(21, 21, 500.0, 500.0), cross_section_pb=1.0, error_pb=0.1, events=chunks())
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "events.lhe"
    target.write_text("previous run")

    def chunks():
        raise RuntimeError("integrand failed")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError):
        write_lhe(target, beams=(21, 21, 500.0, 500.0), cross_section_pb=1.0, error_pb=0.1, events=chunks())
    assert target.read_text() == "previous run" and len(list(tmp_path.iterdir())) == 1


def test_unwritable_directory_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="missing"):
        write_lhe(tmp_path / "missing" / "events.lhe", beams=(21, 21, 1.0, 1.0), cross_section_pb=1.0,
                  error_pb=0.0, events=synthetic_events(1))


def test_npz_round_trip(tmp_path):
    record = synthetic_events(6)
    metadata = {"process": "g g > t t~ g", "cross_section_pb": 1.25, "error_pb": 0.01, "seed": 7,
                "sqrt_s": 13000.0}
    path = write_columnar(tmp_path / "events.npz", [record], metadata)
    back, meta = read_columnar(path)
    for name, column in record.columns().items():
        np.testing.assert_array_equal(getattr(back, name), column)
    assert meta["process"] == "g g > t t~ g" and meta["seed"] == 7 and meta["n_events"] == 6
    assert [p.name for p in tmp_path.iterdir()] == ["events.npz"]
    with np.load(path) as raw:  # plain numpy, no pickle needed
        assert raw["momenta"].shape == (6, 5, 4) and raw["pdg_ids"].dtype.kind == "i"


def test_hdf5_round_trip(tmp_path):
    pytest.importorskip("h5py")
    record = concatenate([synthetic_events(2, seed=1), synthetic_events(3, seed=2)])
    path = write_columnar(tmp_path / "events.h5", record, {"process": "g g > t t~ g", "seed": 3}, format="hdf5")
    back, meta = read_columnar(path)
    np.testing.assert_array_equal(back.momenta, record.momenta)
    np.testing.assert_array_equal(back.colour, record.colour)
    assert meta["seed"] == 3 and meta["n_events"] == 5


def test_record_shape_errors():
    with pytest.raises(ValueError, match="momenta"):
        EventRecord.from_arrays(pdg_ids=[1, 2], momenta=np.zeros((3, 4)), weights=1.0)
    with pytest.raises(ValueError, match="pdg_ids"):
        EventRecord.from_arrays(pdg_ids=[1, 2, 3], momenta=np.zeros((3, 4, 4)), weights=1.0)


def test_the_lhe_file_has_madgraphs_onshell_resonances_and_the_columnar_file_one_layout(generate_package, tmp_path):
    """e+ e- > mu+ mu- at the Z pole: the events of the Z's channel with the muons within bwcutoff widths of
    MZ carry the Z as a status-2 line, mother of the muons, as MadGraph writes them (its OnBW); the columnar
    file keeps the process's four legs for every event, with the same momenta, and with time_of_flight the
    Z's decay length is in the LHE file only, the muons' 0 in both."""
    import pylhe

    from madgen.runtime.columnar import read_columnar

    package = generate_package("sm", "e+ e- > mu+ mu-", "lhe_onshell_z")
    run = {"sqrt_s": 91.188, "n_events": 200, "seed": 4, "iterations": 2, "warmup_iterations": 1,
           "points_per_iteration": 8000, "time_of_flight": 0.0}
    result = madgen.api.launch(package._dir, run, output=tmp_path / "run", log=lambda *a, **k: None, progress=False)
    events = list(pylhe.LHEFile.fromfile(f"{result.output_dir}/events.lhe").events)
    record, metadata = read_columnar(f"{result.output_dir}/events.npz")
    assert record.n_legs == 4 and np.all(record.status == [-1, -1, 1, 1]) and np.all(record.lifetime == 0)
    assert metadata["run_card"]["time_of_flight"] == 0.0 and metadata["run_card"]["n_events"] == 200
    with_z = 0
    for event, momenta in zip(events, record.momenta):
        ids = [int(p.id) for p in event.particles]
        legs = [p for p in event.particles if int(p.status) != 2]
        np.testing.assert_allclose([[p.e, p.px, p.py, p.pz] for p in legs], momenta, rtol=1e-9, atol=1e-9)
        if ids == [-11, 11, 23, -13, 13]:
            with_z += 1
            z = event.particles[2]
            assert int(z.status) == 2 and abs(z.m - 91.188) < 15 * 2.441404 and z.lifetime > 0
            assert [(int(p.mother1), int(p.mother2)) for p in event.particles] == [(0, 0), (0, 0), (1, 2), (3, 3),
                                                                                   (3, 3)]
        else:
            assert ids == [-11, 11, -13, 13]
        assert all(p.lifetime == 0 for p in legs)
    assert with_z > 150  # at the pole nearly every event comes from the Z's channel
