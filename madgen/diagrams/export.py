"""Diagrams as plain JSON-ready data (exported as diagrams.json in each generated package).

With a decay chain or a required s-channel the data also hold ``"decays"``: the resonances the
process string asks for, in the order written (``{"particle", "pdg", "mass", "width", "legs",
"parent"}``, plus ``"required": true`` for a required s-channel; docs/decay_chains.md), and
each such propagator carries ``"resonance"``: its index in that list. With squared-order
constraints they hold ``"squared_orders"`` and each diagram its ``"order_class"``.
"""

from __future__ import annotations

from madgen.diagrams.generate import DiagramSet, is_s_channel, model_names, toward_final_state
from madgen.diagrams.types import Diagram
from madgen.model.types import Model


def diagram_set_to_data(model: Model, diagram_set: DiagramSet) -> dict:
    legs = [{"number": leg.number, "particle": leg.particle, "pdg": model.particle(leg.particle).pdg_code,
             "initial": leg.initial} for leg in diagram_set.legs]
    initial = frozenset(leg.number for leg in diagram_set.legs if leg.initial)
    resonances = resonance_data(model, diagram_set)
    data = {"legs": legs, "orders": dict(diagram_set.orders),
            "diagrams": [diagram_to_data(model, d, initial, resonances) for d in diagram_set.diagrams]}
    if resonances:
        data["decays"] = resonances
    selection = diagram_set.selection
    if selection.constraints:
        data["squared_orders"] = selection.describe()
        data["order_classes"] = [dict(key) for key in selection.classes]
        data["allowed_order_pairs"] = [list(pair) for pair in selection.allowed_pairs]
        for entry, diagram in zip(data["diagrams"], diagram_set.diagrams):
            entry["order_class"] = selection.class_of(diagram.orders)
    return data


def onshell_veto_lines(model: Model, diagram_set: DiagramSet, vetoed, decays=()) -> list[list[str]]:
    """MadGraph's '$ x' as data for the runtime: each ``[line, particle]`` of the diagrams' propagators (as
    in their ``"propagators"``) that is an s-channel carrying a particle of its piece's list toward the
    final state (signed, as MadGraph matches it: '$ w+' vetoes the W+ of u d~ > e+ ve, not its W-), once
    each. ``vetoed`` is the production's list, ``decays`` the resolved decays (``process.decays.Decay``,
    each with its own ``onshell_veto``) as MadGraph applies each '$' to its own piece: a decaying
    particle's line is never vetoed, and a line inside a decay only by that decay's list."""
    from madgen.process.decays import flatten

    initial = frozenset(leg.number for leg in diagram_set.legs if leg.initial)
    all_legs = frozenset(leg.number for leg in diagram_set.legs)
    pieces = [(frozenset(decay.legs), model_names(model, decay.onshell_veto)) for decay, _ in flatten(decays)]
    production = model_names(model, vetoed)
    if not production and not any(names for _, names in pieces):
        return []
    found = {}
    for diagram in diagram_set.diagrams:
        for current in diagram.currents():
            legs = frozenset(current.legs)
            if not is_s_channel(legs, initial):
                continue
            side = all_legs - legs if legs & initial else legs  # its final-state legs
            holding = [(len(decay_legs), decay_legs, names) for decay_legs, names in pieces if side <= decay_legs]
            if any(decay_legs == side for _, decay_legs, names in holding):
                continue  # a decaying particle's own line
            names = min(holding, key=lambda item: item[0])[2] if holding else production
            if toward_final_state(model, current.line_particle, legs, initial) in names:
                found[(_line_name(current.legs), model.particle(current.line_particle).name)] = None
    return [list(key) for key in found]


def resonance_data(model: Model, diagram_set: DiagramSet) -> list[dict]:
    """The ``"decays"`` table: one entry per decaying particle (and required s-channel)."""
    table = []
    for resonance in diagram_set.resonances:
        particle = model.particle(resonance.particle)
        entry = {"particle": particle.name, "pdg": particle.pdg_code, "mass": particle.mass, "width": particle.width,
                 "legs": None if resonance.legs is None else list(resonance.legs), "parent": resonance.parent}
        if resonance.required:
            entry["required"] = True
        table.append(entry)
    return table


def diagram_to_data(model: Model, diagram: Diagram, initial_legs: frozenset, resonances=()) -> dict:
    """Vertices and propagators of one diagram. Lines are named by the legs on their far side:
    external leg n is line "n", a propagator carrying legs 1 and 2 is line "1_2"."""
    propagators = []
    vertices = []
    all_legs = frozenset(leg for current in diagram.slots for leg in current.legs)
    for current in diagram.currents():
        particle = model.particle(current.line_particle)
        s_channel = is_s_channel(frozenset(current.legs), initial_legs)
        propagator = {
            "line": _line_name(current.legs), "particle": particle.name, "pdg": particle.pdg_code,
            "mass": particle.mass, "width": particle.width, "spin": particle.spin.value,
            "legs": list(current.legs), "s_channel": s_channel,
            "final_pdg": model.particle(toward_final_state(model, current.line_particle, frozenset(current.legs),
                                                           initial_legs)).pdg_code if s_channel else None}
        index = _resonance_of(current, particle, all_legs, resonances)
        if index is not None:
            propagator["resonance"] = index
        propagators.append(propagator)
        lines = [_line_name(child.legs) for _, child in current.slot_children()]
        lines.insert(current.offshell_slot, _line_name(current.legs))
        vertices.append({"vertex": current.vertex, "particles": list(model.vertex(current.vertex).particles),
                         "lines": lines})
    vertices.append({"vertex": diagram.vertex, "particles": list(model.vertex(diagram.vertex).particles),
                     "lines": [_line_name(c.legs) for c in diagram.slots]})
    return {"number": diagram.number, "orders": dict(diagram.orders), "vertices": vertices,
            "propagators": propagators}


def _resonance_of(current, particle, all_legs: frozenset, resonances) -> int | None:
    """Index of the resonance this propagator is (same particle or antiparticle, same split of the legs)."""
    legs = frozenset(current.legs)
    for index, entry in enumerate(resonances):
        if entry["legs"] is None or particle.pdg_code not in (entry["pdg"], -entry["pdg"]):
            continue
        side = frozenset(entry["legs"])
        if legs == side or legs == all_legs - side:
            return index
    return None


def _line_name(legs) -> str:
    return "_".join(str(n) for n in legs)
