"""Resonances in event records, with MadGraph's LHE structure: the decay-chain resonances, and the
s-channel resonances on their mass shell in each event's channel (``onshell_resonances``).

A generated package lists the resonances of its decay chains in its channel table
(``channels["decays"]``: particle, PDG id, mass and width names, the final-state legs of its
products, the index of its parent resonance or None, and ``required`` for a required s-channel
such as ``e+ e- > z > mu+ mu-``). MadGraph writes each as a line with status 2 (``addmothers`` in
``unwgt.f``): after the incoming partons and before the final-state particles, parents before their
children; its momentum is the sum of its products'; its mothers are the incoming partons (1 2), or
its parent resonance (twice); a final-state particle's mothers are its closest resonance (twice),
else 1 2; its colour is what its decay products carry after matched colour-anticolour pairs
cancel (0 0 for a colour singlet); its helicity is 0.
"""

from __future__ import annotations

import numpy as np

STATUS_INITIAL, STATUS_FINAL, STATUS_RESONANCE = -1, 1, 2


def placed_decays(channels) -> list[dict]:
    """The channel table's ``decays`` that sit on known legs: a required s-channel that the diagrams put on
    different legs (``e+ e- > z > e+ e- mu+ mu-``: ``legs`` None) has no one line to write nor one pair of
    products to check, and is left out (its diagrams stay in |M|^2); ``parent`` indices follow the list."""
    decays = list(channels.get("decays") or ())
    kept = [i for i, d in enumerate(decays) if d.get("legs") is not None]
    new_index = {old: new for new, old in enumerate(kept)}
    return [dict(decays[i], parent=new_index.get(decays[i].get("parent"))) for i in kept]


def decays_of(kernel) -> list[dict]:
    """The resonances of the kernel's decay chains, parents before children (their order kept
    otherwise; ``_ordered``); empty when the package has none."""
    return _ordered(placed_decays(kernel.channels))


def with_resonances(kernel, base, decays: list[dict]):
    """``base`` (an ``EventRecord`` of the kernel's legs) with ``decays`` inserted as status-2 lines."""
    from madgen.runtime.columnar import EventRecord

    n_initial = kernel.n_initial
    if not decays:
        return base
    legs = [int(leg["number"]) for leg in kernel.channels["legs"]]
    products = [frozenset(legs.index(int(leg)) for leg in d["legs"]) for d in decays]
    position = {d["index"]: n_initial + r for r, d in enumerate(decays)}
    n_legs, n_res = len(legs), len(decays)
    line_of_leg = [leg if leg < n_initial else leg + n_res for leg in range(n_legs)]
    n_events = len(base)
    total = n_legs + n_res

    def expand(array, fill):
        out = np.full((n_events, total) + array.shape[2:], fill, dtype=array.dtype)
        out[:, line_of_leg] = array
        return out

    momenta, pdg_ids = expand(base.momenta, 0.0), expand(base.pdg_ids, 0)
    masses, helicities, colour = expand(base.masses, 0.0), expand(base.helicities, 0.0), expand(base.colour, 0)
    status = np.full((n_events, total), STATUS_FINAL)
    status[:, :n_initial] = STATUS_INITIAL
    mothers = np.zeros((n_events, total, 2), dtype=np.int64)
    mothers[:, n_initial:] = (1, 2)
    for leg in range(n_initial, n_legs):
        owner = _closest(leg, products)
        if owner is not None:
            mothers[:, line_of_leg[leg]] = position[decays[owner]["index"]] + 1
    for r, decay in enumerate(decays):
        line = n_initial + r
        legs_r = sorted(products[r])
        momenta[:, line] = base.momenta[:, legs_r].sum(axis=1)
        squared = momenta[:, line, 0] ** 2 - np.sum(momenta[:, line, 1:] ** 2, axis=-1)
        masses[:, line] = np.sqrt(np.maximum(squared, 0.0))
        pdg_ids[:, line] = int(decay["pdg"])
        status[:, line] = STATUS_RESONANCE
        parent = decay.get("parent")
        mothers[:, line] = (1, 2) if parent is None else position[parent] + 1
    for r in reversed(range(n_res if n_events else 0)):  # children before parents: colours flow up the chain
        children = [i for i in range(total) if (mothers[0, i] == n_initial + r + 1).all() and i != n_initial + r]
        colour[:, n_initial + r] = _net_colour(colour[:, children])
    return EventRecord(pdg_ids=pdg_ids, momenta=momenta, masses=masses, helicities=helicities, colour=colour,
                       weights=base.weights, scale=base.scale, aqed=base.aqed, aqcd=base.aqcd, status=status,
                       mothers=mothers, x1=base.x1, x2=base.x2, mu_r=base.mu_r, mu_f=base.mu_f,
                       luminosity=base.luminosity, n_qcd=base.n_qcd, process_id=base.process_id, mu_f2=base.mu_f2,
                       lifetime=expand(base.lifetime, 0.0))


def _closest(leg: int, products) -> int | None:
    """The resonance with the fewest products among those that decay into ``leg``."""
    owners = [r for r, legs in enumerate(products) if leg in legs]
    return min(owners, key=lambda r: len(products[r])) if owners else None


def _net_colour(children):
    """(colour, anticolour) per event of a resonance from its children's tags (events, k, 2): tags
    that appear both as a colour and as an anticolour cancel; one remaining colour and one remaining
    anticolour at most (else, or for a singlet, 0)."""
    result = np.zeros((children.shape[0], 2), dtype=np.int64)
    for event in range(children.shape[0]):
        colours = [int(c) for c in children[event, :, 0] if c]
        anticolours = [int(a) for a in children[event, :, 1] if a]
        shared = set(colours) & set(anticolours)
        colours = [c for c in colours if c not in shared]
        anticolours = [a for a in anticolours if a not in shared]
        if len(colours) <= 1 and len(anticolours) <= 1:
            result[event] = (colours[0] if colours else 0, anticolours[0] if anticolours else 0)
    return result


# -- resonances on their mass shell (MadGraph's OnBW) ------------------------------------------------


MAX_WIDTH_OVER_MASS = 0.1
"""MadGraph writes a resonance that is not forced on shell only while Gamma / M is below this (cuts.f)."""


def s_channel_lines(channels, diagram_number: int) -> list[dict] | None:
    """The s-channel propagators of one diagram of a channel table, each as {pdg (the particle it carries
    toward the final state), mass, width, legs (the final-state legs it decays into, sorted)}; None for a
    table without ``final_pdg`` (a package generated before it was recorded)."""
    initial = {int(leg["number"]) for leg in channels["legs"] if leg["initial"]}
    final = [int(leg["number"]) for leg in channels["legs"] if not leg["initial"]]
    diagram = next(d for d in channels["diagrams"] if d["number"] == diagram_number)
    lines = []
    for prop in diagram["propagators"]:
        if not prop["s_channel"]:
            continue
        if "final_pdg" not in prop:
            return None
        numbers = {int(n) for n in prop["legs"]}
        products = [n for n in final if n not in numbers] if numbers & initial else sorted(numbers)
        lines.append({"pdg": int(prop["final_pdg"]), "mass": prop["mass"], "width": prop["width"], "legs": products})
    return lines


def onshell_resonances(kernel, diagram_number: int | None, momenta, internal, bwcutoff: float):
    """MadGraph's status-2 lines of the events of one integration channel (its first diagram,
    ``diagram_number``; None: a flat channel, none): groups (rows, decays), every event in one group, where
    ``decays`` lists the resonances to insert (``with_resonances``): the decay-chain resonances, always, and
    each other s-channel propagator of the diagram with a width that is on its mass shell in the event,
    |m - M| < bwcutoff Gamma with Gamma / M < 0.1 (``OnBW`` in MadGraph's cuts.f). Of a propagator and its
    daughter of the same particle one line is kept (the forced one, else the closer to the pole); a
    propagator whose daughter is an external leg of its own particle gets none."""
    forced = [d for d in decays_of(kernel) if not d.get("required")]
    lines = s_channel_lines(kernel.channels, diagram_number) if diagram_number is not None else None
    n_events = len(momenta)
    if not lines:
        return [(np.arange(n_events), _ordered(forced))]
    legs = [int(leg["number"]) for leg in kernel.channels["legs"]]
    leg_pdg = {int(leg["number"]): int(leg["pdg"]) for leg in kernel.channels["legs"]}
    forced_sets = {(frozenset(map(int, d["legs"])), abs(int(d["pdg"]))) for d in forced}
    for line in lines:
        line["forced"] = (frozenset(line["legs"]), abs(line["pdg"])) in forced_sets
    candidates = [i for i, line in enumerate(lines) if not line["forced"] and line["mass"] != "ZERO"
                  and line["width"] != "ZERO"]
    if not candidates:
        return [(np.arange(n_events), _ordered(forced))]
    mass, distance, on = {}, {}, np.zeros((n_events, len(lines)), dtype=bool)
    for i in candidates:
        line = lines[i]
        # |M|: SLHA's negative neutralino masses are a sign of the mixing (MadGraph's pmass is ABS of it)
        pole, width = abs(float(np.real(internal[line["mass"]]))), float(np.real(internal[line["width"]]))
        total = np.asarray(momenta)[:, [legs.index(n) for n in line["legs"]]].sum(axis=1)
        mass[i] = np.sqrt(np.maximum(total[:, 0] ** 2 - np.sum(total[:, 1:] ** 2, axis=-1), 0.0))
        distance[i] = np.abs(mass[i] - pole)
        on[:, i] = (distance[i] < bwcutoff * width) & (0 < width < MAX_WIDTH_OVER_MASS * pole)
    sets = [frozenset(line["legs"]) for line in lines]
    for i in sorted(candidates, key=lambda i: len(sets[i])):  # daughters first, as MadGraph's propagators
        children = [j for j in range(len(lines)) if sets[j] < sets[i]
                    and not any(sets[j] < sets[k] < sets[i] for k in range(len(lines)))]
        external = sets[i] - frozenset().union(*(sets[j] for j in children))
        if any(leg_pdg[n] == lines[i]["pdg"] for n in external):
            on[:, i] = False  # the final-state particle carries it
            continue
        for j in children:
            if lines[j]["pdg"] != lines[i]["pdg"]:
                continue
            if lines[j]["forced"]:
                on[:, i] = False
            else:
                parent_farther = on[:, i] & (distance[i] > distance[j])
                on[:, j] &= ~(on[:, i] & ~parent_farther)
                on[:, i] &= ~parent_farther
        parents = [k for k in range(len(lines)) if sets[i] < sets[k] and lines[k]["forced"]
                   and lines[k]["pdg"] == lines[i]["pdg"]
                   and not any(sets[i] < sets[m] < sets[k] for m in range(len(lines)))]
        if parents:
            on[:, i] = False  # a daughter of a forced line of its own particle
    patterns, inverse = np.unique(on[:, candidates], axis=0, return_inverse=True)
    groups = []
    for p, pattern in enumerate(patterns):
        written = forced + [{"particle": None, "pdg": lines[i]["pdg"], "legs": lines[i]["legs"]}
                            for i, flag in zip(candidates, pattern) if flag]
        groups.append((np.nonzero(inverse.reshape(-1) == p)[0], _ordered(written)))
    return groups


def _ordered(resonances: list[dict]) -> list[dict]:
    """Resonances as ``with_resonances`` takes them: parents (the smallest superset of products) before
    children, then in the given order; ``index`` its position, ``parent`` its parent's."""
    sets = [frozenset(map(int, r["legs"])) for r in resonances]

    def parent(i):
        supersets = [k for k in range(len(sets)) if sets[i] < sets[k]]
        return min(supersets, key=lambda k: len(sets[k])) if supersets else None

    def depth(i):
        steps, above = 0, parent(i)
        while above is not None:
            steps, above = steps + 1, parent(above)
        return steps

    order = sorted(range(len(resonances)), key=lambda i: (depth(i), i))
    position = {old: new for new, old in enumerate(order)}
    return [dict(resonances[i], index=position[i], parent=None if parent(i) is None else position[parent(i)])
            for i in order]
