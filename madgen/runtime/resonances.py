"""Decay-chain resonances in event records, with MadGraph's LHE structure.

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
    otherwise); empty when the package has none."""
    decays = placed_decays(kernel.channels)

    def depth(index):
        parent, steps = decays[index].get("parent"), 0
        while parent is not None:
            parent, steps = decays[parent].get("parent"), steps + 1
        return steps

    return [dict(decays[i], index=i) for i in sorted(range(len(decays)), key=lambda i: (depth(i), i))]


def resonance_lines(kernel, columns: dict):
    """An ``EventRecord`` of the legs in ``columns`` (``EventRecord.from_arrays`` keywords) with
    the kernel's decay-chain resonances inserted as status-2 lines."""
    from madgen.runtime.columnar import EventRecord

    n_initial = kernel.n_initial
    decays = decays_of(kernel)
    if not decays:
        return EventRecord.from_arrays(**columns, n_initial=n_initial)
    legs = [int(leg["number"]) for leg in kernel.channels["legs"]]
    products = [frozenset(legs.index(int(leg)) for leg in d["legs"]) for d in decays]
    position = {d["index"]: n_initial + r for r, d in enumerate(decays)}
    n_legs, n_res = len(legs), len(decays)
    line_of_leg = [leg if leg < n_initial else leg + n_res for leg in range(n_legs)]
    base = EventRecord.from_arrays(**columns, n_initial=n_initial)
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
    for r in reversed(range(n_res)):  # children before parents: colours flow up the chain
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
