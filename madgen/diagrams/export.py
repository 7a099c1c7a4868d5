"""Diagrams as plain JSON-ready data (exported as diagrams.json in each generated package)."""

from __future__ import annotations

from madgen.diagrams.generate import DiagramSet, is_s_channel
from madgen.diagrams.types import Diagram
from madgen.model.types import Model


def diagram_set_to_data(model: Model, diagram_set: DiagramSet) -> dict:
    legs = [{"number": leg.number, "particle": leg.particle, "pdg": model.particle(leg.particle).pdg_code,
             "initial": leg.initial} for leg in diagram_set.legs]
    initial = frozenset(leg.number for leg in diagram_set.legs if leg.initial)
    return {"legs": legs, "orders": dict(diagram_set.orders),
            "diagrams": [diagram_to_data(model, d, initial) for d in diagram_set.diagrams]}


def diagram_to_data(model: Model, diagram: Diagram, initial_legs: frozenset) -> dict:
    """Vertices and propagators of one diagram. Lines are named by the legs on their far side:
    external leg n is line "n", a propagator carrying legs 1 and 2 is line "1_2"."""
    propagators = []
    vertices = []
    for current in diagram.currents():
        particle = model.particle(current.line_particle)
        propagators.append({
            "line": _line_name(current.legs), "particle": particle.name, "pdg": particle.pdg_code,
            "mass": particle.mass, "width": particle.width, "spin": particle.spin.value,
            "legs": list(current.legs), "s_channel": is_s_channel(frozenset(current.legs), initial_legs)})
        lines = [_line_name(child.legs) for _, child in current.slot_children()]
        lines.insert(current.offshell_slot, _line_name(current.legs))
        vertices.append({"vertex": current.vertex, "particles": list(model.vertex(current.vertex).particles),
                         "lines": lines})
    vertices.append({"vertex": diagram.vertex, "particles": list(model.vertex(diagram.vertex).particles),
                     "lines": [_line_name(c.legs) for c in diagram.slots]})
    return {"number": diagram.number, "orders": dict(diagram.orders), "vertices": vertices,
            "propagators": propagators}


def _line_name(legs) -> str:
    return "_".join(str(n) for n in legs)
