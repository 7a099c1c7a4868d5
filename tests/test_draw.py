"""SVG drawing of tree-level diagrams (madgen.diagrams.draw)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from madgen.diagrams.draw import diagram_svg, draw_package, line_style

SVG = "{http://www.w3.org/2000/svg}"

EE_LEGS = [
    {"number": 1, "particle": "e+", "pdg": -11, "initial": True},
    {"number": 2, "particle": "e-", "pdg": 11, "initial": True},
    {"number": 3, "particle": "mu+", "pdg": -13, "initial": False},
    {"number": 4, "particle": "mu-", "pdg": 13, "initial": False},
]
EE_S = {
    "number": 1, "orders": {"QED": 2},
    "vertices": [{"vertex": "V_1", "particles": ["e+", "e-", "a"], "lines": ["1", "2", "1_2"]},
                 {"vertex": "V_2", "particles": ["mu+", "mu-", "a"], "lines": ["3", "4", "1_2"]}],
    "propagators": [{"line": "1_2", "particle": "a", "pdg": 22, "legs": [1, 2], "s_channel": True}],
}
# e+ e- > e+ e- style t-channel (Bhabha), legs reused with electron names
BHABHA_LEGS = [
    {"number": 1, "particle": "e+", "pdg": -11, "initial": True},
    {"number": 2, "particle": "e-", "pdg": 11, "initial": True},
    {"number": 3, "particle": "e+", "pdg": -11, "initial": False},
    {"number": 4, "particle": "e-", "pdg": 11, "initial": False},
]
BHABHA_T = {
    "number": 2, "orders": {"QED": 2},
    "vertices": [{"vertex": "V_1", "particles": ["e+", "e-", "a"], "lines": ["1", "3", "1_3"]},
                 {"vertex": "V_1", "particles": ["e+", "e-", "a"], "lines": ["4", "2", "1_3"]}],
    "propagators": [{"line": "1_3", "particle": "a", "pdg": 22, "legs": [1, 3], "s_channel": False}],
}
GG_LEGS = [
    {"number": 1, "particle": "g", "pdg": 21, "initial": True},
    {"number": 2, "particle": "g", "pdg": 21, "initial": True},
    {"number": 3, "particle": "t", "pdg": 6, "initial": False},
    {"number": 4, "particle": "t~", "pdg": -6, "initial": False},
    {"number": 5, "particle": "g", "pdg": 21, "initial": False},
]
# g g > g* ; g* > t t~* ; t~* > t~ g
GG_TTG = {
    "number": 3, "orders": {"QCD": 3},
    "vertices": [
        {"vertex": "V_4", "particles": ["g", "g", "g"], "lines": ["1", "2", "1_2"]},
        {"vertex": "V_11", "particles": ["t~", "t", "g"], "lines": ["4_5", "3", "1_2"]},
        {"vertex": "V_11", "particles": ["t~", "t", "g"], "lines": ["4", "4_5", "5"]},
    ],
    "propagators": [
        {"line": "1_2", "particle": "g", "pdg": 21, "legs": [1, 2], "s_channel": True},
        {"line": "4_5", "particle": "t", "pdg": 6, "legs": [4, 5], "s_channel": False},
    ],
}
CASES = [(EE_LEGS, EE_S), (BHABHA_LEGS, BHABHA_T), (GG_LEGS, GG_TTG)]


def _parse(svg: str):
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def _line_names(diagram):
    return {line for v in diagram["vertices"] for line in v["lines"]}


@pytest.mark.parametrize("legs,diagram", CASES)
def test_valid_deterministic_one_path_per_line(legs, diagram):
    svg = diagram_svg(legs, diagram, "a title")
    root = _parse(svg)
    assert svg == diagram_svg(legs, diagram, "a title")
    paths = root.findall(f"{SVG}path")
    assert sorted(p.get("data-line") for p in paths) == sorted(_line_names(diagram))
    assert len(root.findall(f"{SVG}circle")) == len(diagram["vertices"])
    texts = {t.get("data-line"): t.text for t in root.iter(f"{SVG}text") if t.get("data-line")}
    for leg in legs:
        assert texts[str(leg["number"])] == f"{leg['number']} {leg['particle']}"
    for prop in diagram["propagators"]:
        assert texts[prop["line"]] == prop["particle"]
    assert any(t.text == "a title" for t in root.iter(f"{SVG}text"))


def test_line_styles_and_default_title():
    root = _parse(diagram_svg(GG_LEGS, GG_TTG))
    styles = {p.get("data-line"): p.get("class").split()[1] for p in root.findall(f"{SVG}path")}
    assert styles == {"1": "gluon", "2": "gluon", "5": "gluon", "1_2": "gluon",
                      "3": "fermion", "4": "fermion", "4_5": "fermion"}
    assert len(root.findall(f"{SVG}polygon")) == 3  # one arrow per fermion line
    title = root.find(f"{SVG}title").text
    assert title == "diagram 3 \u2014 g g > t t~ g, QCD=3"
    assert line_style(22) == line_style(23) == line_style(-24) == "vector"
    assert line_style(25) == "scalar" and line_style(-11) == "fermion"
    assert line_style(5000039, spin=5) == "tensor"  # spin 2: a thick wavy line of its own colour
    ee = _parse(diagram_svg(EE_LEGS, EE_S))
    photon = [p for p in ee.findall(f"{SVG}path") if p.get("data-line") == "1_2"][0]
    assert "vector" in photon.get("class") and " Q " in photon.get("d")


def _coords(root):
    return {c.get("data-vertex") + str(i): (float(c.get("cx")), float(c.get("cy")))
            for i, c in enumerate(root.findall(f"{SVG}circle"))}


def test_layout_left_to_right_and_no_overlap():
    for legs, diagram in CASES:
        root = _parse(diagram_svg(legs, diagram))
        points = list(_coords(root).values())
        for i in range(len(points)):
            for j in range(i + 1, len(points)):
                (xa, ya), (xb, yb) = points[i], points[j]
                assert (xa - xb) ** 2 + (ya - yb) ** 2 > 20 ** 2
        ends = {}
        for p in root.findall(f"{SVG}path"):
            if "_" not in p.get("data-line"):
                ends[int(p.get("data-line"))] = p.get("d")
        xs_in = [float(ends[l["number"]].split()[1]) for l in legs if l["initial"]]
        # initial legs start at the left edge, which is left of every vertex
        assert max(xs_in) < min(x for x, _ in points)
    # s-channel: the two vertices sit side by side; t-channel: one above the other
    (xa, ya), (xb, yb) = _coords(_parse(diagram_svg(EE_LEGS, EE_S))).values()
    assert xa < xb and abs(ya - yb) < 1e-6
    (xa, ya), (xb, yb) = _coords(_parse(diagram_svg(BHABHA_LEGS, BHABHA_T))).values()
    assert abs(xa - xb) < 1e-6 and ya < yb


def test_fermion_arrow_direction():
    # e- (pdg 11) incoming: arrow points toward its vertex (rightward);
    # e+ (pdg -11) incoming: arrow points away from the vertex (leftward).
    root = _parse(diagram_svg(EE_LEGS, EE_S))
    arrows = {a.get("data-line"): [tuple(map(float, pt.split(","))) for pt in a.get("points").split()]
              for a in root.findall(f"{SVG}polygon")}

    def direction(points):
        tip, b1, b2 = points
        return tip[0] - (b1[0] + b2[0]) / 2

    assert direction(arrows["2"]) > 0 and direction(arrows["1"]) < 0
    assert direction(arrows["4"]) > 0 and direction(arrows["3"]) < 0


def test_bad_diagram_rejected():
    broken = dict(EE_S, vertices=[EE_S["vertices"][0]])
    with pytest.raises(ValueError):
        diagram_svg(EE_LEGS, broken)


def test_draw_package(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "P1_epem_mupmum_diagrams.json").write_text(
        json.dumps({"legs": EE_LEGS, "orders": {"QED": 2}, "diagrams": [EE_S]}))
    (package / "P2_gg_ttxg_diagrams.json").write_text(
        json.dumps({"legs": GG_LEGS, "orders": {"QCD": 3}, "diagrams": [GG_TTG, dict(GG_TTG, number=7)]}))
    (package / "metadata.json").write_text("{}")
    target = tmp_path / "out"
    paths = draw_package(package, target)
    assert paths == sorted(paths)
    assert [p.relative_to(target).as_posix() for p in paths] == [
        "P1_epem_mupmum/diagram_1.svg", "P2_gg_ttxg/diagram_3.svg", "P2_gg_ttxg/diagram_7.svg"]
    for p in paths:
        _parse(p.read_text(encoding="utf-8"))
    title = _parse(paths[2].read_text(encoding="utf-8")).find(f"{SVG}title").text
    assert title == "diagram 7 \u2014 g g > t t~ g, QCD=3"
    assert sorted(f.name for f in (target / "P2_gg_ttxg").iterdir()) == ["diagram_3.svg", "diagram_7.svg"]
    first = paths[0].read_bytes()
    assert draw_package(package, target) == paths and paths[0].read_bytes() == first
