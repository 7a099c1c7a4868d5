"""The side-by-side benchmark against MadGraph's CUDACPP (benchmarks/matrix_elements.py --compare-cudacpp):
its plumbing only. Nothing here builds CUDACPP or asserts a timing."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import cudacpp_yardstick as yardstick  # noqa: E402
import matrix_elements  # noqa: E402

# The summary that `check_cpp.exe -p 16 256 10` prints (format of check_sa.cc; figures made up)
SAMPLE = """\
-------------------------------------------------------------------------------
TotalEventsComputed         = 40960
EvtsPerSec[Rnd+Rmb+ME](123) = ( 4.777449e+05                 )  sec^-1
EvtsPerSec[Rmb+ME]     (23) = ( 4.958151e+05                 )  sec^-1
EvtsPerSec[MatrixElems] (3) = ( 6.089710e+05                 )  sec^-1
EvtsPerSec[MECalcOnly] (3a) = ( 6.123400e+05                 )  sec^-1
*******************************************************************************
NumMatrixElems(notAbnormal) = 40960
MeanMatrixElemValue         = ( 1.369254e-02 +- 4.038005e-05 )  GeV^0
"""


def test_parse_throughput_reads_check_printout():
    rates = yardstick.parse_throughput(SAMPLE)
    assert rates == {"Rnd+Rmb+ME": 4.777449e5, "Rmb+ME": 4.958151e5, "MatrixElems": 6.089710e5,
                     "MECalcOnly": 6.1234e5}
    assert yardstick.throughput(rates) == 6.1234e5
    assert yardstick.throughput({"MatrixElems": 2.0}) == 2.0
    assert yardstick.parse_throughput("no summary here") == {}


def test_process_pairs_cover_the_four_anchors():
    assert set(yardstick.ANCHOR_OF) == set(matrix_elements.PROCESSES)
    assert sorted(yardstick.ANCHOR_OF.values()) == ["ee_mumu", "gg_tt", "gg_ttg", "gg_ttgg"]
    for anchor in yardstick.ANCHOR_OF.values():
        assert (yardstick.ANCHORS / f"{anchor}.sa" / "SubProcesses").is_dir()


def test_launch_shape_gives_batch_events_per_iteration():
    assert yardstick.launch_shape(4096) == (16, 256)
    assert yardstick.launch_shape(96) == (3, 32)
    assert yardstick.launch_shape(8) == (1, 8)
    with pytest.raises(ValueError):
        yardstick.launch_shape(6)
    with pytest.raises(ValueError):
        yardstick.launch_shape(16, "cuda")


def test_restore_links(tmp_path):
    tree = tmp_path / "p.sa"
    (tree / "SubProcesses" / "P1_x").mkdir(parents=True)
    (tree / "SubProcesses" / "Bridge.h").write_text("#pragma once\n")
    (tree / "SubProcesses" / "P1_x" / "Bridge.h").write_text("../Bridge.h")
    (tree / "SubProcesses" / "P1_x" / "makefile_original.mk").write_text("../makefile_original.mk")  # no target
    (tree / "SubProcesses" / "P1_x" / "note.txt").write_text("ok")
    assert yardstick.restore_links(tree) == 1
    link = tree / "SubProcesses" / "P1_x" / "Bridge.h"
    assert link.is_symlink() and link.read_text() == "#pragma once\n"
    assert not (tree / "SubProcesses" / "P1_x" / "makefile_original.mk").is_symlink()
    assert (tree / "SubProcesses" / "P1_x" / "note.txt").read_text() == "ok"


def test_run_parses_a_check_programme(tmp_path):
    exe = tmp_path / "check_cpp.exe"
    exe.write_text("#!/bin/sh\necho \"args $*\"\ncat <<'EOF'\n" + SAMPLE + "EOF\n")
    exe.chmod(0o755)
    assert yardstick.throughput(yardstick.run(exe, 1, 8, 2)) == 6.1234e5
    bad = tmp_path / "bad.exe"
    bad.write_text("#!/bin/sh\necho nothing\n")
    bad.chmod(0o755)
    with pytest.raises(RuntimeError, match="no throughput"):
        yardstick.run(bad, 1, 8, 2)


def test_madgen_side_runs_and_fills_a_row(tmp_path):
    order = []
    rows = matrix_elements.measure_madgen(
        "epem_mupmum", [8], repeats=1, workdir=tmp_path,
        on_value=lambda row: order.append(("value", row["value_rate"] is not None, row["grad_rate"])),
        on_row=lambda row: order.append(("row", row["grad_rate"] is not None)))
    # the yardstick's hook runs once the value is timed and before the gradient is
    assert order == [("value", True, None), ("row", True)]
    (row,) = rows
    assert row["batch"] == 8 and row["note"] == ""
    assert row["value_rate"] > 0 and row["grad_rate"] > 0 and row["compile_grad"] > 0
    line = matrix_elements.table_row(row, cudacpp_rate=1e6)
    assert line.split()[:2] == ["epem_mupmum", "8"]
    assert len(line.split()) == len(matrix_elements.COLUMNS)


def test_process_budget_skips_value_and_grad(tmp_path):
    (row,) = matrix_elements.measure_madgen("epem_mupmum", [8], repeats=1, workdir=tmp_path, process_budget=0.0)
    assert row["value_rate"] is None and "budget" in row["note"]
    assert matrix_elements.table_row(row, None).split()[2:] == ["-"] * 8


def test_gradient_in_the_parameters_alone(tmp_path):
    """--gradient-in parameters: the value+grad kernel differentiates the parameters, not the momenta."""
    import shutil

    import jax.numpy as jnp

    import madgen

    shutil.copytree(Path(__file__).parent / "golden" / "epem_mupmum", tmp_path / "ee")
    proc = madgen.load(tmp_path / "ee")
    momenta = jnp.asarray(matrix_elements.phase_space_points(91.188, (0.0, 0.0), 8))
    parameters = proc.default_parameters()
    _, both = matrix_elements._kernels(proc, "all")
    _, theta = matrix_elements._kernels(proc, "parameters")
    (value, (g_momenta, g_all)), (value_theta, g_theta) = both(momenta, parameters), theta(momenta, parameters)
    assert g_momenta.shape == momenta.shape and set(g_theta) == set(parameters)
    assert float(value) == pytest.approx(float(value_theta), rel=1e-14)  # two XLA programs: rounding may differ
    for name in parameters:
        assert float(g_theta[name]) == pytest.approx(float(g_all[name]), rel=1e-13, abs=1e-300)
