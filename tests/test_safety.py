"""Data safety (docs/safety.md): madgen replaces only what it owns, one writer per target, Ctrl-C
and kill leave nothing half-written, bad numbers are refused instead of turned into plausible
results, and the same seed gives the same bytes whatever the number of cores."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import madgen
from madgen.errors import OutputError, RunCardError
from madgen.output import TEMP_TAG, claim_run_directory, remove_stale, staged_directory

EE_MUMU = "model: sm\nprocess: e+ e- > mu+ mu-\nname: ee_mumu\n"
QUICK_RUN = ("sqrt_s: 91.188\nn_events: {n}\nseed: 3\niterations: 2\nwarmup_iterations: 1\n"
             "points_per_iteration: 4096\nbatch_size: 4096\n")


def madgen_command(cwd, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "madgen", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, **kwargs)


def launch_quietly(card, run_text, output=None, force=False):
    """madgen.api.launch in this process (compiled functions are reused across tests)."""
    from madgen.api import launch
    from madgen.runtime.runcard import parse_run_card

    return launch(card, parse_run_card(run_text, "run.yaml"), output=output, force=force, log=lambda *a: None,
                  progress=False)


def leftovers(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if TEMP_TAG in p.name)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A directory with the e+e- -> mu+mu- card and its generated package."""
    root = tmp_path_factory.mktemp("safety")
    (root / "ee.yaml").write_text(EE_MUMU)
    result = madgen_command(root, "generate", "ee.yaml")
    assert result.returncode == 0, result.stderr
    return root


# ------------------------------------------------------------------ what --force may replace


def test_force_never_replaces_what_madgen_did_not_write(workdir):
    thesis = workdir / "v"
    thesis.mkdir(exist_ok=True)
    (thesis / "thesis.tex").write_text("thesis")
    result = madgen_command(workdir, "generate", "ee.yaml", "-o", "v", "--force")
    assert result.returncode == 2 and "not written by madgen" in result.stderr and "thesis.tex" in result.stderr
    assert (thesis / "thesis.tex").read_text() == "thesis"

    (workdir / "plain").write_text("data")
    result = madgen_command(workdir, "generate", "ee.yaml", "-o", "plain", "--force")
    assert result.returncode == 2 and "is not a directory" in result.stderr
    assert (workdir / "plain").read_text() == "data"

    # a card's output path is relative to the card, and refused just the same
    sub = workdir / "cards"
    sub.mkdir(exist_ok=True)
    (sub / "card.yaml").write_text(EE_MUMU + "output: ../v\n")
    result = madgen_command(workdir / "cards", "generate", "card.yaml", "--force")
    assert result.returncode == 2 and str(thesis.resolve()) in result.stderr
    assert sorted(p.name for p in thesis.iterdir()) == ["thesis.tex"]
    assert not leftovers(workdir)


def test_force_replaces_a_package_and_keeps_its_runs(workdir, tmp_path):
    package = tmp_path / "pkg"
    assert madgen_command(workdir, "generate", "ee.yaml", "-o", package).returncode == 0
    run = package / "Events" / "run_01"
    run.mkdir(parents=True)
    (run / "events.lhe").write_text("<LesHouchesEvents/>")
    result = madgen_command(workdir, "generate", "ee.yaml", "-o", package, "--force")
    assert result.returncode == 0, result.stderr
    assert (run / "events.lhe").read_text() == "<LesHouchesEvents/>"
    # a note the user put into the package is never deleted
    (package / "notes.txt").write_text("mine")
    result = madgen_command(workdir, "generate", "ee.yaml", "-o", package, "--force")
    assert result.returncode == 2 and "notes.txt" in result.stderr
    assert (package / "notes.txt").read_text() == "mine"


def test_launch_into_an_existing_directory(workdir):
    card = workdir / "generated" / "ee_mumu"
    target = workdir / "run_target"
    launch_quietly(card, QUICK_RUN.format(n=50), target)
    first = (target / "events.lhe").read_bytes()
    with pytest.raises(OutputError, match="--force"):
        launch_quietly(card, QUICK_RUN.format(n=50), target)
    assert (target / "events.lhe").read_bytes() == first
    launch_quietly(card, QUICK_RUN.format(n=60), target, force=True)
    assert (target / "events.lhe").read_bytes() != first
    assert json.loads((target / "results.json").read_text())["n_events"] == 60
    foreign = workdir / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("1,2")
    with pytest.raises(OutputError, match="not written by madgen"):
        launch_quietly(card, QUICK_RUN.format(n=50), foreign, force=True)
    assert sorted(p.name for p in foreign.iterdir()) == ["data.csv"]
    assert not leftovers(workdir)


def test_an_output_path_that_cannot_be_created_is_refused_before_the_work(workdir, tmp_path):
    """A file where a directory of the output path should be, or a directory madgen may not write in, is
    named at once, not after the integration (nor blamed on the disk space)."""
    from madgen.api import launch
    from madgen.runtime.runcard import parse_run_card

    (tmp_path / "notes.txt").write_text("mine")
    said = []
    with pytest.raises(OutputError, match=r"notes.txt is a file, not a directory"):
        launch(workdir / "generated" / "ee_mumu", parse_run_card(QUICK_RUN.format(n=50)),
               output=tmp_path / "notes.txt" / "run", log=said.append, progress=False)
    assert not said  # nothing was integrated
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.geteuid() != 0:  # root may write anywhere on a local disk
            with pytest.raises(OutputError, match="cannot write in"):
                launch_quietly(workdir / "generated" / "ee_mumu", QUICK_RUN.format(n=50), locked / "run")
    finally:
        locked.chmod(0o700)
    with pytest.raises(OutputError, match="is a file, not a directory"):
        madgen.generate(workdir / "ee.yaml", output=tmp_path / "notes.txt" / "pkg")


# ------------------------------------------------------------------ concurrent writers


def test_two_runs_into_one_target_one_fails_at_once(workdir):
    (workdir / "slow.yaml").write_text(QUICK_RUN.format(n=30000))
    target = workdir / "same"
    first = subprocess.Popen([sys.executable, "-m", "madgen", "launch", "ee.yaml", "--run", "slow.yaml", "-o",
                              str(target), "--no-progress"], cwd=workdir, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not any(TEMP_TAG in p.name for p in workdir.iterdir()) and time.time() < deadline:
        time.sleep(0.1)
    with pytest.raises(OutputError, match="is being written by pid"):
        launch_quietly(workdir / "generated" / "ee_mumu", QUICK_RUN.format(n=20), target)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert json.loads((target / "results.json").read_text())["n_events"] == 30000
    assert not leftovers(workdir)


def test_run_numbers_are_claimed_atomically(tmp_path):
    claimed = [claim_run_directory(tmp_path / "Events") for _ in range(3)]
    assert [p.name for p in claimed] == ["run_01", "run_02", "run_03"]
    claimed[1].rmdir()
    assert claim_run_directory(tmp_path / "Events").name == "run_02"


def test_concurrent_default_runs_get_distinct_directories(workdir, tmp_path):
    package = tmp_path / "pkg"
    shutil.copytree(workdir / "generated" / "ee_mumu", package)
    (workdir / "quick.yaml").write_text(QUICK_RUN.format(n=20))
    runs = [subprocess.Popen([sys.executable, "-m", "madgen", "launch", str(package), "--run", "quick.yaml",
                              "--no-progress"], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    for run in runs:
        assert run.wait(timeout=600) == 0, run.stderr.read()
    assert sorted(p.name for p in (package / "Events").iterdir()) == ["run_01", "run_02"]


# ------------------------------------------------------------------ interrupts and kills


def _start_long_run(workdir, target):
    """A long launch into ``target`` (None: the next Events/run_NN of the package), once it writes events."""
    (workdir / "long.yaml").write_text(QUICK_RUN.format(n=300_000))
    output = ["-o", str(target)] if target is not None else []
    process = subprocess.Popen([sys.executable, "-m", "madgen", "launch", "ee.yaml", "--run", "long.yaml", *output,
                                "--no-progress"], cwd=workdir, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until unweighting has written events
        bodies = [p for p in workdir.rglob(f"*events.lhe.body{TEMP_TAG}*") if p.stat().st_size > 0]
        if bodies:
            return process
        if process.poll() is not None:
            pytest.fail(f"the run ended early: {process.stderr.read()}")
        time.sleep(0.2)
    process.kill()
    pytest.fail("the run never started writing events")


@pytest.mark.parametrize("signum", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_interrupt_stops_within_a_second_and_leaves_nothing(workdir, signum):
    target = workdir / f"interrupted_{signum}"
    process = _start_long_run(workdir, target)
    start = time.time()
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert time.time() - start < 2.0
    assert process.returncode == 130, err
    assert "interrupted" in err and "nothing new was written" in err and "Traceback" not in err
    assert not target.exists()
    assert not leftovers(workdir)


def test_an_interrupted_run_gives_its_run_number_back(workdir):
    """Ctrl-C during a launch into the package's next Events/run_NN: the claimed, still empty run directory
    is removed with the temporaries (it stayed, empty, and the next run took the number after it)."""
    events = workdir / "generated" / "ee_mumu" / "Events"
    before = sorted(p.name for p in events.iterdir()) if events.exists() else []
    process = _start_long_run(workdir, None)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "nothing new was written" in err, err
    assert (sorted(p.name for p in events.iterdir()) if events.exists() else []) == before
    assert not leftovers(workdir)


def test_kill_leaves_a_stale_staging_directory_that_clean_or_the_next_run_removes(workdir):
    target = workdir / "killed"
    process = _start_long_run(workdir, target)
    process.kill()
    process.wait(timeout=30)
    stale = leftovers(workdir)
    assert any(name.endswith(".staging") for name in stale) and not target.exists()
    stale_dirs = [workdir / name for name in stale if name.endswith(".staging")]
    copies = [workdir.parent / f"copy-{d.name}" for d in stale_dirs]
    for source, copy in zip(stale_dirs, copies):
        shutil.copytree(source, copy)  # the same leftover again, for the next run to find
    result = madgen_command(workdir, "clean", ".")
    assert result.returncode == 0 and "removed" in result.stdout
    assert not any(d.exists() for d in stale_dirs)
    for source, copy in zip(stale_dirs, copies):
        copy.rename(source)
    assert leftovers(workdir)
    launch_quietly(workdir / "generated" / "ee_mumu", QUICK_RUN.format(n=20), target)  # the next run removes them itself
    assert not leftovers(workdir)


def test_remove_stale_spares_live_writers_and_user_files(tmp_path):
    (tmp_path / ".hidden.lock").write_text("a user's file")
    with staged_directory(tmp_path / "out", "run") as staging:
        (staging / "x").write_text("1")
        assert remove_stale(tmp_path) == []  # the live staging directory and lock are not stale
        assert staging.exists()
    assert (tmp_path / ".hidden.lock").exists() and (tmp_path / "out" / "x").read_text() == "1"
    with pytest.raises(OutputError, match="not written by madgen"):
        with staged_directory(tmp_path, "run", force=True):
            pass


# ------------------------------------------------------------------ no silently wrong numbers


@pytest.fixture(scope="module")
def ee(workdir):
    return madgen.load(workdir / "generated" / "ee_mumu")


def good_momenta(n=3, energy=45.0):
    rng = np.random.default_rng(5)
    p = np.zeros((n, 4, 4))
    cos, phi = rng.uniform(-1, 1, n), rng.uniform(0, 2 * np.pi, n)
    sin = np.sqrt(1 - cos ** 2)
    p[:, 0] = [energy, 0, 0, energy]
    p[:, 1] = [energy, 0, 0, -energy]
    p[:, 2] = np.stack([np.full(n, energy), energy * sin * np.cos(phi), energy * sin * np.sin(phi), energy * cos], 1)
    p[:, 3] = p[:, 2] * [1, -1, -1, -1]
    return p


@pytest.mark.parametrize("corrupt, message", [
    (lambda p: p.__setitem__((1, 2, 1), np.nan), "event 1: leg 3 has a non-finite component px = nan"),
    (lambda p: p.__setitem__((2, 3, 3), np.inf), "event 2: leg 4 has a non-finite component pz = inf"),
    (lambda p: p.__setitem__((0, 2, 0), -p[0, 2, 0]), "event 0: leg 3 has negative energy"),
    (lambda p: p.__setitem__((1, 3, 1), p[1, 3, 1] + 1.0), "event 1: momentum is not conserved"),
    (lambda p: p.__setitem__((2, slice(2, 4), 0), 46.0), "event 2: momentum is not conserved"),
])
def test_bad_momenta_are_refused_naming_the_event(ee, corrupt, message):
    p = good_momenta()
    corrupt(p)
    with pytest.raises(ValueError, match=message):
        ee.matrix_element(p)
    values = np.asarray(ee.matrix_element(p, check=False))
    if not np.all(np.isfinite(p)):
        bad = ~np.all(np.isfinite(p), axis=(1, 2))
        assert np.all(np.isnan(values[bad])) and np.all(np.isfinite(values[~bad]))


def test_off_shell_legs_and_wrong_types_are_refused(ee):
    p = good_momenta()
    p[0, 2] *= 1.01  # scaled: energy and momentum balance broken, and off shell
    with pytest.raises(ValueError, match="event 0"):
        ee.matrix_element(p)
    massive = good_momenta()
    massive[:, 2:, 0] = np.sqrt(45.0 ** 2 + 5.0 ** 2)  # muons given a 5 GeV mass: conserved, off shell
    massive[:, :2, 0] = massive[:, 2:, 0]
    massive[:, :2, 3] = [np.sqrt(massive[0, 0, 0] ** 2), -np.sqrt(massive[0, 0, 0] ** 2)]
    with pytest.raises(ValueError, match="off its mass shell"):
        ee.matrix_element(massive)
    for bad in (good_momenta().astype(bool), good_momenta().astype(complex)):
        with pytest.raises(ValueError, match="real numbers"):
            ee.matrix_element(bad)


def test_nan_propagates_inside_jit_and_grad(ee):
    import jax

    p = good_momenta()
    p[1, 2, 2] = np.nan
    values = np.asarray(jax.jit(lambda q: ee.matrix_element(q))(p))
    assert np.isnan(values[1]) and np.all(np.isfinite(values[[0, 2]]))


@pytest.mark.parametrize("parameters, message", [
    ({"MZ": -91.188}, "mass and must be >= 0"),
    ({"WZ": -1.0}, "width and must be >= 0"),
    ({"MZ": float("nan")}, "finite"),
    ({"aEWM1": float("inf")}, "finite"),
    ({"MZ": 91.0 + 1j}, "is real"),
    ({"MZ": True}, "expected a number"),
    ({"MZ": "91.2"}, "expected a number"),
    ({"MZ": [91.2]}, "expected a number"),
])
def test_bad_parameter_values_are_refused_naming_the_parameter(ee, parameters, message):
    name = next(iter(parameters))
    with pytest.raises(ValueError, match=f"parameter '{name}'.*{message}"):
        ee.matrix_element(good_momenta(), parameters)
    with pytest.raises(ValueError, match=f"parameter '{name}'"):
        ee.masses(parameters)


def test_zero_width_resonance_on_shell_is_refused(workdir, tmp_path):
    card = tmp_path / "ee0.yaml"
    card.write_text(EE_MUMU.replace("name: ee_mumu", "name: ee0") + "parameters: {WZ: 0.0}\n")
    run = tmp_path / "run.yaml"
    run.write_text(QUICK_RUN.format(n=10))
    result = madgen_command(tmp_path, "launch", card, "--run", run, "--no-progress")
    assert result.returncode == 2 and "zero width WZ" in result.stderr and "on shell" in result.stderr
    from madgen.runtime.checks import zero_width_resonances

    ee0 = madgen.load(tmp_path / "generated" / "ee0")
    assert zero_width_resonances(ee0, 91.188) and not zero_width_resonances(ee0, 250.0)  # off the pole: fine
    assert zero_width_resonances(ee0, 250.0, {"WZ": 0.0}) == []
    assert zero_width_resonances(ee0, 91.188, {"WZ": 2.4952}) == []


def test_impossible_runs_are_refused_before_integrating(workdir):
    from madgen.runtime.launch import launch
    from madgen.runtime.runcard import parse_run_card

    ee = madgen.load(workdir / "generated" / "ee_mumu")
    huge = parse_run_card(QUICK_RUN.format(n=10 ** 12), "huge.yaml")
    start = time.time()
    with pytest.raises(RunCardError, match="n_events.*on disk"):
        launch(ee, huge, workdir / "huge", log=lambda *a: None, progress=False)
    assert time.time() - start < 10 and not (workdir / "huge").exists()


def test_threshold_is_reported_at_once(tmp_path):
    (tmp_path / "tt.yaml").write_text("model: sm\nprocess: e+ e- > t t~\n")
    (tmp_path / "run.yaml").write_text("sqrt_s: 300\nn_events: 10\n")
    start = time.time()
    result = madgen_command(tmp_path, "launch", "tt.yaml", "--run", "run.yaml")
    assert result.returncode == 2 and "below the threshold 346 GeV" in result.stderr
    assert time.time() - start < 60


# ------------------------------------------------------------------ reproducibility and LHE couplings


def test_events_are_byte_identical_whatever_the_number_of_cores(workdir, tmp_path):
    if shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs taskset and two CPUs")
    cores = sorted(os.sched_getaffinity(0))[:2]
    (tmp_path / "gg.yaml").write_text("model: sm\nprocess: g g > t t~\nname: gg\n")
    (tmp_path / "run.yaml").write_text("sqrt_s: 1000\nn_events: 500\nseed: 2\niterations: 2\n"
                                       "warmup_iterations: 1\npoints_per_iteration: 4096\nbatch_size: 4096\n")
    outputs = []
    for mask in (f"{cores[0]}", f"{cores[0]},{cores[1]}"):
        out = tmp_path / f"cpu_{mask.replace(',', '_')}"
        env = {k: v for k, v in os.environ.items() if k not in ("NPROC", "PJRT_NPROC")}
        result = subprocess.run(["taskset", "-c", mask, sys.executable, "-m", "madgen", "launch", "gg.yaml", "--run",
                                 "run.yaml", "-o", str(out), "--no-progress"], cwd=tmp_path, capture_output=True,
                                text=True, timeout=600, env=env)
        assert result.returncode == 0, result.stderr
        outputs.append(out)
    for name in ("events.lhe", "events.npz"):
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes(), name


def test_lhe_events_carry_the_couplings_used(workdir):
    import pylhe

    target = workdir / "couplings"
    launch_quietly(workdir / "generated" / "ee_mumu", QUICK_RUN.format(n=20), target)
    events = list(pylhe.LHEFile.fromfile(str(target / "events.lhe")).events)
    ee = madgen.load(workdir / "generated" / "ee_mumu")
    alpha_ew, alpha_s = ee.alpha_couplings()
    assert alpha_ew == pytest.approx(1 / 132.507, rel=1e-12) and alpha_s == pytest.approx(0.118, rel=1e-12)
    for event in events[:5]:
        assert event.eventinfo.aqed == pytest.approx(alpha_ew, rel=1e-9)
        assert event.eventinfo.aqcd == pytest.approx(alpha_s, rel=1e-9)


@pytest.mark.parametrize("process, run", [
    ("e+ e- > z", "sqrt_s: 91.188\n"),
    ("u u~ > z", "sqrt_s: 91.188\n"),  # partons at a fixed energy
])
def test_a_two_to_one_process_without_hadron_beams_is_refused_with_the_way_out(tmp_path, process, run):
    """A 2 -> 1 cross section at a fixed energy is a delta function in sqrt(s): one clear error naming the
    card's process (not one per subprocess, not a crash deep in the phase space). With two hadron beams
    it is integrated over the rapidity (test_proton.py)."""
    (tmp_path / "z.yaml").write_text(f"model: sm\nprocess: {process}\n")
    (tmp_path / "run.yaml").write_text(run + "n_events: 10\n")
    result = madgen_command(tmp_path, "launch", "z.yaml", "--run", "run.yaml", "-o", "run")
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert re.search(f"'{re.escape(process)}' has one final-state particle: a 2 -> 1 cross section is a delta "
                     "function in sqrt\\(s\\).*beams: \\[p, p\\].*'e\\+ e- > z, z > mu\\+ mu-'", message,
                     re.IGNORECASE), message
    assert message.count("final-state particle") == 1 and not (tmp_path / "run").exists()


def test_a_massless_particle_alone_is_refused_with_hadron_beams(tmp_path):
    """p p > a: s-hat would be 0; one error naming the card's process (not one per q q~ subprocess)."""
    (tmp_path / "a.yaml").write_text("model: sm\nprocess: p p > a\n")
    (tmp_path / "run.yaml").write_text("sqrt_s: 13000\nbeams: [p, p]\nn_events: 10\n")
    result = madgen_command(tmp_path, "launch", "a.yaml", "--run", "run.yaml", "-o", "run")
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert "'p p > a' produces one massless particle: s-hat = M^2 = 0" in message, message
    assert message.count("massless") == 1 and not (tmp_path / "run").exists()


def test_the_summary_names_the_event_files_or_says_none_were_written(workdir):
    for extra, expected in (("lhe: false\ncolumnar: none\n", "selected, none written (lhe: false, columnar: none)"),
                            ("columnar: npz\n", ": events.lhe, events.npz")):
        (workdir / "files.yaml").write_text(QUICK_RUN.format(n=20) + extra)
        result = madgen_command(workdir, "launch", "ee.yaml", "--run", "files.yaml", "-o", "files", "--force")
        assert result.returncode == 0, result.stderr
        assert f"20 unweighted events (seed 3) {'in files' if 'npz' in extra else ''}" in result.stdout
        assert expected in result.stdout.splitlines()[-1], result.stdout
