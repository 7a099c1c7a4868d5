"""Generation-level cuts as MadGraph applies them (run_card ``ptj``, ``etaa``, ``drll``, ``mmjj``, ...).

Final-state particles are classified once, by PDG id, as MadGraph's ``setcuts.f`` does:
``j`` (gluon and quarks with |id| <= maxjetflavor), ``b`` (quarks with maxjetflavor < |id| <= 5),
``a`` (photon), ``l`` (charged leptons e, mu and tau).  Neutrinos, heavy particles (t, W, Z, H)
and BSM particles are never cut.  The cut function is pure JAX: a boolean mask per event that the
integrand multiplies by.  Decays (one initial particle) get no cuts, as in MadGraph, and nor do the
products of a decay chain's resonances unless the run card sets ``cut_decays`` (``uncut_legs``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Collection, Mapping, Sequence

import jax.numpy as jnp

from madgen.runtime import kinematics
from madgen.runtime.runcard import CUT_DEFAULTS, PDG_CUTS, PDG_PAIR_FLAG, Cuts

PHOTON, GLUON = 22, 21
CHARGED_LEPTONS = (11, 13, 15)  # MadGraph's is_a_l includes taus
HEAVY = (6, 23, 24, 25)  # MadGraph: no cuts on particles heavier than 10 GeV (top, W, Z, H)
HEAVY_MASS = 10.0  # GeV: MadGraph's is_heavy, the particles ptheavy acts on
CLASS_NAMES = {"j": "jet", "b": "b quark", "a": "photon", "l": "charged lepton"}
_PAIR_ORDER = {"jj": "jj", "bb": "bb", "ll": "ll", "aa": "aa", "bj": "bj", "jb": "bj", "aj": "aj",
               "ja": "aj", "jl": "jl", "lj": "jl", "ab": "ab", "ba": "ab", "bl": "bl", "lb": "bl",
               "al": "al", "la": "al"}  # MadGraph's spelling of each pair in drXY keys


def particle_class(pdg_id: int, maxjetflavor: int = 4, mass: float | None = None) -> str | None:
    """MadGraph's cut class of a final-state particle: 'j', 'b', 'a', 'l' or None (not cut)."""
    code = abs(int(pdg_id))
    if code in HEAVY or (mass is not None and mass > HEAVY_MASS):
        return None
    if code == GLUON or 1 <= code <= min(maxjetflavor, 5):
        return "j"
    if maxjetflavor < code <= 5:
        return "b"
    if code == PHOTON:
        return "a"
    if code in CHARGED_LEPTONS:
        return "l"
    return None


@dataclass(frozen=True)
class EventCuts:
    """MadGraph's cuts on several particles at once (cuts.f after the per-particle ones), resolved to
    legs. A particle's class counts here even where ``cut_decays`` exempts it, as in MadGraph."""

    at_least_one: tuple[tuple[tuple[int, ...], float], ...] = ()
    # (legs, ptmin): one of them with pT >= ptmin (xptj, xptb, xpta, xptl; ptheavy)
    ordered: tuple[tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...], bool], ...] = ()
    # (legs, minima, maxima, one_is_enough): the pT of the k-th hardest leg within [minima[k], maxima[k]]
    # (ptj1min ... ptj4max, ptl1min ...); a leg the process lacks fails a minimum > 0
    pt_sums: tuple[tuple[tuple[int, ...], int, float, float], ...] = ()
    # (legs, k, min, max): the scalar pT sum of the k hardest legs (0: all) (ht2min ..., htjmin, ihtmin)
    vector_pts: tuple[tuple[tuple[int, ...], float, float], ...] = ()
    # (legs, min, max): the pT of the legs' summed momentum (misset, ptllmin for a lepton pair)
    masses: tuple[tuple[tuple[int, ...], float, float], ...] = ()
    # (legs, min, max): the invariant mass of the legs' summed momentum (mmnl)
    rapidity_gap: tuple[tuple[int, ...], float, float] | None = None
    # (jets, xetamin, deltaeta): the two hardest jets with |y| >= xetamin in opposite hemispheres, |y1 - y2| >= deltaeta
    isolation: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...] | None, float, float, float] | None = None
    # (photons, partons, leptons (None: no isoEM), R0gamma, xn, epsgamma): Frixione's smooth cone


@dataclass(frozen=True)
class CutPlan:
    """The cuts that act on one process, resolved to leg indices (built once, outside jit)."""

    singles: tuple[tuple[int, float, float, float, float, float, float], ...]
    # (leg, ptmin, ptmax, emin, emax, |eta|min, |eta|max) with inf for "no upper cut"
    pairs: tuple[tuple[int, int, float, float, float, float], ...]
    # (leg1, leg2, drmin, drmax, mmin, mmax)
    event: EventCuts | None = None  # MadGraph's cuts on the event as a whole (xptj, htjmin, misset, ...)

    @property
    def is_trivial(self) -> bool:
        return not self.singles and not self.pairs and self.event is None

    @property
    def rapidity_limits(self) -> tuple[tuple[int, float], ...]:
        """(leg, |y| max) of every leg with an upper rapidity cut (see ``rapidity_window``)."""
        return tuple((leg, etamax) for leg, *_, etamax in self.singles if math.isfinite(etamax))


def _upper(value: float) -> float:
    return math.inf if value < 0 else value


def uncut_legs(decays: Sequence[Mapping], cut_decays: bool = False) -> frozenset[int]:
    """Leg indices (from 0) that no cut acts on: with MadGraph's ``cut_decays = False`` (its default),
    the products of every decay-chain resonance of the channel table's ``decays`` (``p p > z, z > e+ e-``:
    the leptons), not those of a required s-channel (``p p > z > e+ e-``), whose legs are cut."""
    if cut_decays:
        return frozenset()
    return frozenset(leg - 1 for decay in decays if not decay.get("required") for leg in decay["legs"])


def run_cut_arguments(run, subprocess, masses: Sequence[float] | None) -> tuple:
    """``(cuts, pdg_ids, n_initial, maxjetflavor, masses, uncut)`` of one subprocess (a generated package's
    ``Process``) in a run (a ``RunCard`` resolved by ``runcard.for_process``): the arguments ``plan_cuts``,
    ``cut_function`` and ``partonic_energy_bounds`` take, spelled once for every caller that has a run."""
    uncut = uncut_legs(subprocess.channels.get("decays", ()), run.cut_decays)
    return run.cuts, subprocess.pdg_ids, subprocess.n_initial, run.maxjetflavor, masses, uncut


def plan_cuts(cuts: Cuts | Mapping[str, float], pdg_ids: Sequence[int], n_initial: int,
              maxjetflavor: int = 4, masses: Sequence[float] | None = None,
              uncut: Collection[int] = ()) -> CutPlan:
    """Resolve run-card cuts to the legs of a process (none on the legs ``uncut``, see ``uncut_legs``);
    trivial (all-pass) bounds are dropped."""
    values = {**CUT_DEFAULTS, **(cuts.as_dict() if isinstance(cuts, Cuts) else dict(cuts))}
    if n_initial == 1:
        return CutPlan((), ())
    kinds = [None] * n_initial + [particle_class(pdg, maxjetflavor, None if masses is None else masses[leg])
                                  for leg, pdg in enumerate(pdg_ids) if leg >= n_initial]
    classes = [None if leg in uncut else kind for leg, kind in enumerate(kinds)]
    by_pdg = {key: {code: value for code, value in dict(values.get(key) or {}).items()}
              for key in (*PDG_CUTS, PDG_PAIR_FLAG)}
    singles = []
    for leg, kind in enumerate(classes):
        code = abs(int(pdg_ids[leg]))
        if leg >= n_initial and leg not in uncut and any(code in by_pdg[key] for key in PDG_CUTS):
            bounds = tuple(float(by_pdg[key].get(code, PDG_CUTS[key])) for key in PDG_CUTS if key != "mxx_min_pdg")
            bounds = tuple(_upper(value) if position % 2 else value for position, value in enumerate(bounds))
        elif kind is None:
            continue
        else:
            ptmin = values["ptgmin"] if kind == "a" and values["ptgmin"] > 0 else values[f"pt{kind}"]
            bounds = (ptmin, _upper(values[f"pt{kind}max"]), values[f"e{kind}"],
                      _upper(values[f"e{kind}max"]), values[f"eta{kind}min"], _upper(values[f"eta{kind}"]))
        if bounds[0::2] != (0.0, 0.0, 0.0) or bounds[1::2] != (math.inf,) * 3:
            singles.append((leg, *bounds))
    pairs = []
    for first, second in itertools.combinations(range(len(classes)), 2):
        kind1, kind2 = classes[first], classes[second]
        if kind1 is None or kind2 is None:
            continue
        pair = _PAIR_ORDER[kind1 + kind2]
        drmin, drmax = values[f"dr{pair}"], _upper(values[f"dr{pair}max"])
        if pair == "aj" and values["ptgmin"] > 0:  # isolation replaces draj, as in MadGraph
            drmin = 0.0
        mmin, mmax = 0.0, math.inf
        if kind1 == kind2 and f"mm{pair}" in values:
            same_flavour_opposite_sign = pdg_ids[first] == -pdg_ids[second]
            if kind1 != "l" or same_flavour_opposite_sign:
                mmin, mmax = values[f"mm{pair}"], _upper(values[f"mm{pair}max"])
        if (drmin, drmax, mmin, mmax) != (0.0, math.inf, 0.0, math.inf):
            pairs.append((first, second, drmin, drmax, mmin, mmax))
    pairs += _pdg_mass_pairs(pdg_ids, n_initial, by_pdg["mxx_min_pdg"], by_pdg[PDG_PAIR_FLAG], uncut)
    return CutPlan(tuple(singles), tuple(pairs), plan_event_cuts(values, pdg_ids, n_initial, kinds, masses))


NEUTRINOS = (12, 14, 16)


def plan_event_cuts(values: Mapping[str, float], pdg_ids: Sequence[int], n_initial: int,
                    kinds: Sequence[str | None], masses: Sequence[float] | None) -> EventCuts | None:
    """MadGraph's cuts on the event as a whole (``EventCuts``) from the run-card ``values``, for the
    final-state legs of classes ``kinds``; None when none acts. As MadGraph's setcuts.f, a cut on a class
    the process lacks is ignored (xptj without jets), except the minima of ordered pTs and HT."""
    final = range(n_initial, len(pdg_ids))
    of_kind = {kind: tuple(leg for leg in final if kinds[leg] == kind) for kind in "jbal"}
    neutrinos = tuple(leg for leg in final if abs(int(pdg_ids[leg])) in NEUTRINOS)
    heavy = tuple(leg for leg in final if masses is not None and masses[leg] > HEAVY_MASS)
    jets, leptons = of_kind["j"], of_kind["l"]

    at_least_one = [(of_kind[kind], values[f"xpt{kind}"]) for kind in "jbal"
                    if values[f"xpt{kind}"] > 0 and of_kind[kind]]
    if values["ptheavy"] > 0 and heavy:
        at_least_one.append((heavy, values["ptheavy"]))
    ordered = []
    for kind, legs, one_is_enough in (("j", jets, values["cutuse"] == 1), ("l", leptons, False)):
        minima = tuple(values[f"pt{kind}{k}min"] for k in range(1, 5))
        maxima = tuple(_upper(values[f"pt{kind}{k}max"]) for k in range(1, 5))
        if any(minima) or any(math.isfinite(m) for m in maxima):
            ordered.append((legs, minima, maxima, one_is_enough))
    pt_sums = [(jets, k, values[f"ht{k}min"], _upper(values[f"ht{k}max"])) for k in range(2, 5)
               if len(jets) >= k and (values[f"ht{k}min"] > 0 or values[f"ht{k}max"] > 0)]
    if values["htjmin"] > 0 or values["htjmax"] > 0:
        pt_sums.append((jets, 0, values["htjmin"], _upper(values["htjmax"])))
    if values["ihtmin"] > 0 or values["ihtmax"] > 0:
        pt_sums.append((jets + of_kind["b"], 0, values["ihtmin"], _upper(values["ihtmax"])))
    vector_pts = []
    if neutrinos and (values["misset"] > 0 or values["missetmax"] > 0):
        vector_pts.append((neutrinos, values["misset"], _upper(values["missetmax"])))
    if values["ptllmin"] > 0 or values["ptllmax"] > 0:
        for first, second in itertools.combinations(sorted(leptons + neutrinos), 2):
            charged = (first in leptons, second in leptons)
            if charged != (True, True) or pdg_ids[first] == -pdg_ids[second]:  # l+ l- of one flavour, l nu, nu nu
                vector_pts.append(((first, second), values["ptllmin"], _upper(values["ptllmax"])))
    masses_of_sums = []
    if values["mmnl"] > 0 or values["mmnlmax"] > 0:
        masses_of_sums.append((tuple(sorted(leptons + neutrinos)), values["mmnl"], _upper(values["mmnlmax"])))
    if values["dsqrt_shat"] > 0 or values["dsqrt_shatmax"] > 0:
        masses_of_sums.append((tuple(final), values["dsqrt_shat"], _upper(values["dsqrt_shatmax"])))
    gap = (jets, values["xetamin"], values["deltaeta"]) \
        if len(jets) >= 2 and (values["xetamin"] > 0 or values["deltaeta"] > 0) else None
    isolation = None
    if values["ptgmin"] > 0 and of_kind["a"]:
        isolation = (of_kind["a"], jets, leptons if values["isoEM"] else None, values["R0gamma"],
                     abs(values["xn"]), values["epsgamma"])
    event = EventCuts(tuple(at_least_one), tuple(ordered), tuple(pt_sums), tuple(vector_pts), tuple(masses_of_sums),
                      gap, isolation)
    return None if event == EventCuts() else event


def _pdg_mass_pairs(pdg_ids, n_initial, mxx_min: Mapping, only_part_antipart: Mapping, uncut) -> list[tuple]:
    """MadGraph's mxx_min_pdg: a minimal invariant mass of every pair of final-state particles of one
    |PDG id| (only particle with antiparticle where mxx_only_part_antipart says so)."""
    pairs = []
    for first, second in itertools.combinations(range(n_initial, len(pdg_ids)), 2):
        code = abs(int(pdg_ids[first]))
        if code not in mxx_min or abs(int(pdg_ids[second])) != code or {first, second} & set(uncut):
            continue
        if only_part_antipart.get(code, only_part_antipart.get("default", False)) \
                and pdg_ids[first] != -pdg_ids[second]:
            continue
        pairs.append((first, second, 0.0, math.inf, float(mxx_min[code]), math.inf))
    return pairs


def cut_function(cuts: Cuts | Mapping[str, float], pdg_ids: Sequence[int], n_initial: int,
                 maxjetflavor: int = 4, masses: Sequence[float] | None = None,
                 uncut: Collection[int] = ()) -> Callable:
    """``momenta (batch, n, 4) -> bool (batch,)``: True where the event passes every cut.

    ``pdg_ids`` and ``momenta`` cover all legs, initial ones first, momenta as (E, px, py, pz).
    """
    plan = plan_cuts(cuts, pdg_ids, n_initial, maxjetflavor, masses, uncut)
    singles = [jnp.asarray(column) for column in zip(*plan.singles)] if plan.singles else None
    pairs = [jnp.asarray(column) for column in zip(*plan.pairs)] if plan.pairs else None

    def passes(momenta):
        momenta = jnp.asarray(momenta)
        mask = jnp.ones(momenta.shape[:-2], dtype=bool)
        if singles is not None:
            legs, ptmin, ptmax, emin, emax, etamin, etamax = singles
            p = momenta[..., legs, :]
            pt, energy = kinematics.transverse_momentum(p), p[..., 0]
            eta = jnp.abs(kinematics.rapidity(p))  # MadGraph's etaj, etal, ... and eta_max_pdg cut y (its rap)
            ok = (pt >= ptmin) & (pt <= ptmax) & (energy >= emin) & (energy <= emax)
            ok &= (eta >= etamin) & (eta <= etamax)
            mask &= jnp.all(ok, axis=-1)
        if pairs is not None:
            first, second, drmin, drmax, mmin, mmax = pairs
            p1, p2 = momenta[..., first, :], momenta[..., second, :]
            dr, mass = kinematics.delta_r(p1, p2), kinematics.pair_mass(p1, p2)
            ok = (dr >= drmin) & (dr <= drmax) & (mass >= mmin) & (mass <= mmax)
            mask &= jnp.all(ok, axis=-1)
        if plan.event is not None:
            mask &= passes_event_cuts(plan.event, momenta)
        return mask

    passes.plan = plan
    return passes


def passes_event_cuts(event: EventCuts, momenta):
    """``EventCuts`` on ``momenta`` (batch, n, 4): True where the event passes all of them."""
    mask = jnp.ones(momenta.shape[:-2], dtype=bool)
    pt = kinematics.transverse_momentum(momenta)
    for legs, ptmin in event.at_least_one:
        mask &= jnp.max(pt[..., list(legs)], axis=-1) >= ptmin
    for legs, minima, maxima, one_is_enough in event.ordered:
        mask &= _ordered_pts_pass(pt, legs, minima, maxima, one_is_enough)
    for legs, k, low, high in event.pt_sums:
        hardest = -jnp.sort(-pt[..., list(legs)], axis=-1)[..., :k or None] if legs else jnp.zeros(mask.shape + (0,))
        total = jnp.sum(hardest, axis=-1)
        mask &= (total >= low) & (total <= high)
    for legs, low, high in event.vector_pts:
        total = kinematics.transverse_momentum(jnp.sum(momenta[..., list(legs), :], axis=-2))
        mask &= (total >= low) & (total <= high)
    for legs, low, high in event.masses:
        summed = jnp.sum(momenta[..., list(legs), :], axis=-2) if legs else jnp.zeros(mask.shape + (4,))
        mass = jnp.sqrt(jnp.maximum(summed[..., 0] ** 2 - jnp.sum(summed[..., 1:] ** 2, axis=-1), 0.0))
        mask &= (mass >= low) & (mass <= high)
    if event.rapidity_gap is not None:
        jets, xetamin, deltaeta = event.rapidity_gap
        order = jnp.argsort(-pt[..., list(jets)], axis=-1)[..., :2]
        y = jnp.take_along_axis(kinematics.rapidity(momenta[..., list(jets), :]), order, axis=-1)
        mask &= jnp.all(jnp.abs(y) >= xetamin, axis=-1) & (y[..., 0] * y[..., 1] <= 0)
        mask &= jnp.abs(y[..., 0] - y[..., 1]) >= deltaeta
    if event.isolation is not None:
        mask &= _isolated(momenta, pt, *event.isolation)
    return mask


def _isolated(momenta, pt, photons, partons, leptons, r0, xn, epsilon):
    """Frixione's isolation of every photon (hep-ph/9801442, eq. 3.4; MadGraph's ptgmin): sorted by their
    Delta R to the photon, the partons inside R0 sum their pT, at each one's distance r, to at most
    epsilon pT(photon) ((1 - cos r) / (1 - cos R0))^xn; with isoEM the same for the other photons and
    the leptons."""
    ok = jnp.ones(momenta.shape[:-2], dtype=bool)
    for photon in photons:
        electromagnetic = () if leptons is None else tuple(leg for leg in photons + leptons if leg != photon)
        for others in (partons, electromagnetic):
            if not others:
                continue
            others = list(others)
            r = kinematics.delta_r(momenta[..., photon:photon + 1, :], momenta[..., others, :])
            order = jnp.argsort(r, axis=-1)
            r_sorted = jnp.take_along_axis(r, order, axis=-1)
            summed = jnp.cumsum(jnp.take_along_axis(pt[..., others], order, axis=-1), axis=-1)
            allowed = epsilon * pt[..., photon:photon + 1] * ((1 - jnp.cos(r_sorted)) / (1 - math.cos(r0))) ** xn
            ok &= jnp.all((r_sorted > r0) | (summed <= allowed), axis=-1)
    return ok


def _ordered_pts_pass(pt, legs, minima, maxima, one_is_enough):
    """MadGraph's ptj1min ... ptj4max (and ptl...): the k-th hardest leg's pT within its window, for
    every k (or, with one_is_enough, for one k) up to the number of legs; a k beyond the legs fails
    a minimum above 0."""
    if any(minimum > 0 for minimum in minima[len(legs):]):
        return jnp.zeros(pt.shape[:-1], dtype=bool)
    n = min(len(legs), 4)
    if n == 0:
        return jnp.ones(pt.shape[:-1], dtype=bool)
    hardest = -jnp.sort(-pt[..., list(legs)], axis=-1)[..., :n]
    ok = (hardest >= jnp.asarray(minima[:n])) & (hardest <= jnp.asarray(maxima[:n]))
    return jnp.any(ok, axis=-1) if one_is_enough else jnp.all(ok, axis=-1)


BEYOND_ANY_CUT = 1.0e3
"""The rapidity given to a leg along the beam (no transverse mass): beyond every rapidity cut."""


def rapidity_window(momenta, masses, limits):
    """(lower, upper) per event: the longitudinal boosts (rapidities y along +z) that can bring every
    leg of ``limits`` ((leg, |y| max) pairs, ``CutPlan.rapidity_limits``) within its cut, from
    ``momenta`` (batch, n, 4) in the partons' frame and the legs' ``masses``.

    A boost by y adds y to a rapidity Y = asinh(pz / mT), so the window is exactly the boosts an event
    can take and pass the rapidity cuts: sampling y only inside it changes no integral. An empty window
    has upper < lower."""
    legs = [leg for leg, _ in limits]
    etamax = jnp.asarray([limit for _, limit in limits])
    p = momenta[..., legs, :]
    mt_squared = jnp.asarray(masses)[jnp.asarray(legs)] ** 2 + p[..., 1] ** 2 + p[..., 2] ** 2
    moving = mt_squared > 0
    mt = jnp.sqrt(jnp.where(moving, mt_squared, 1.0))
    y = jnp.where(moving, jnp.arcsinh(p[..., 3] / mt), jnp.sign(p[..., 3]) * BEYOND_ANY_CUT)
    return jnp.max(-etamax - y, axis=-1), jnp.min(etamax - y, axis=-1)


def check_divergent(pdg_ids: Sequence[int], cuts: Cuts | Mapping[str, float], n_initial: int = 2,
                    maxjetflavor: int = 4, masses: Sequence[float] | None = None,
                    decays: Sequence[Mapping] = (), uncut: Collection[int] = (),
                    massless_pairs: Collection[frozenset] | None = None) -> list[str]:
    """Reasons the cross section is infinite with these cuts: massless final states left uncut.

    A heuristic, as MadGraph's: a massless final-state jet, b, photon or lepton needs a pT cut when
    it can be soft (three or more final-state particles) or come from a massless t-channel
    exchange with the beams; two massless jets/b's/same-flavour leptons among three or more
    final-state particles need a Delta R or invariant-mass cut.  ``masses`` (all legs) sharpen the
    test; without them quarks d u s c, gluon, photon, e and mu count as massless.  Returns
    messages (empty: finite as far as generation cuts can tell); the caller decides to raise.

    ``decays`` (the channel table's resonances of a decay chain, legs numbered from 1) change the
    counting: the products of a two-body decay of a massive resonance sit inside its bwcutoff
    window, so they are neither soft nor collinear and count as one massive final-state particle.
    Legs ``uncut`` (decay products without ``cut_decays``) take no cut: a decay of three or more bodies
    among whose massless products a gluon or photon can be soft, or two like ones collinear, is named.
    ``massless_pairs`` (leg-number pairs that a massless propagator of the process's diagrams splits into,
    ``massless_splittings``) make the collinear test exact for decays: two like products are collinear only
    where a photon or gluon makes them (the muons of n2 > n1 mu+ mu- come from a Z or smuons: finite).
    """
    if n_initial == 1:
        return []
    values = {**CUT_DEFAULTS, **(cuts.as_dict() if isinstance(cuts, Cuts) else dict(cuts))}
    legs = [(int(pdg), particle_class(pdg, maxjetflavor), _is_massless(pdg, leg, masses))
            for leg, pdg in enumerate(pdg_ids)]
    shielded, n_final = _two_body_decay_products(decays, len(legs) - n_initial)
    initial = legs[:n_initial]
    final = [leg for index, leg in enumerate(legs[n_initial:], start=n_initial + 1)
             if leg[1] is not None and leg[2] and index not in shielded and index - 1 not in uncut]
    can_be_soft = n_final >= 3
    problems = _uncut_decay_problems(legs, decays, shielded, uncut, massless_pairs)
    for kind in ("j", "b", "a", "l"):
        candidates = [pdg for pdg, k, _ in final if k == kind]
        if not candidates or values[f"pt{kind}"] > 0 or (kind == "a" and values["ptgmin"] > 0):
            continue
        if can_be_soft or any(_t_channel_possible(kind, pdg, initial) for pdg in candidates):
            problems.append(f"final-state {CLASS_NAMES[kind]} with pt{kind}=0: the cross section is infinite "
                            f"without a pT cut (soft or collinear to the beam); set cuts.pt{kind} > 0, "
                            f"e.g. {CUT_DEFAULTS[f'pt{kind}'] or 20:g}"
                            + ("; or, in a 5-flavour scheme (massless b in p and j), 'maxjetflavor: 5' to make b "
                               "quarks jets with the jet cuts, as MadGraph's run card for such a process has it"
                               if kind == "b" else ""))
    if can_be_soft:
        for kind in ("j", "b", "l"):
            pair = kind + kind
            collinear = any(k1 == k2 == kind and (kind != "l" or p1 == -p2)
                            for (p1, k1, _), (p2, k2, _) in itertools.combinations(final, 2))
            if collinear and values[f"dr{pair}"] <= 0 and values[f"mm{pair}"] <= 0:
                problems.append(f"two massless final-state {CLASS_NAMES[kind]}s with dr{pair}=0 and mm{pair}=0: "
                                f"the cross section is infinite when they are collinear; set cuts.dr{pair} > 0 "
                                f"(e.g. 0.4) or cuts.mm{pair} > 0")
    return problems


def _uncut_decay_problems(legs, decays: Sequence[Mapping], shielded: set[int], uncut: Collection[int],
                          massless_pairs: Collection[frozenset] | None = None) -> list[str]:
    """Decays whose uncut massless products can be soft (a gluon or photon) or collinear (two jets, two
    b's or a same-flavour lepton pair; with ``massless_pairs``, only a pair a massless propagator makes)
    among three or more bodies: their rate is infinite without cuts."""
    problems = []
    for decay in decays:
        exposed = [(n, legs[n - 1]) for n in decay["legs"]
                   if n - 1 in uncut and n not in shielded and legs[n - 1][1] is not None and legs[n - 1][2]]
        soft = any(abs(pdg) in (GLUON, PHOTON) for _, (pdg, _, _) in exposed)
        collinear = any(k1 == k2 and (k1 != "l" or p1 == -p2)
                        and (massless_pairs is None or frozenset((n1, n2)) in massless_pairs)
                        for (n1, (p1, k1, _)), (n2, (p2, k2, _)) in itertools.combinations(exposed, 2))
        if soft or collinear:
            problems.append(f"the decay of the {decay['particle']} has massless products that can be "
                            f"{'soft' if soft else 'collinear'}, and decay products take no cuts "
                            "(cut_decays: false, MadGraph's default): its rate is infinite; set 'cut_decays: true' "
                            "for the run card's cuts to act on them")
    return problems


def massless_splittings(channels: Mapping) -> frozenset:
    """Pairs of leg numbers (from 1) that a massless propagator of the channel table's diagrams decays to:
    where two massless products can be collinear (a photon's lepton pair, a gluon's quarks)."""
    return frozenset(frozenset(int(n) for n in prop["legs"]) for diagram in channels.get("diagrams", ())
                     for prop in diagram["propagators"] if prop.get("mass") == "ZERO" and len(prop["legs"]) == 2)


def _two_body_decay_products(decays: Sequence[Mapping], n_final: int) -> tuple[set[int], int]:
    """(leg numbers inside a two-body decay's window, final-state multiplicity counting each
    outermost such decay as one particle). A decay's direct products are its child resonances
    plus its legs not inside a child."""
    shielded, outermost = set(), 0
    by_index = list(decays)
    for index, decay in enumerate(by_index):
        children = [d for d in by_index if d.get("parent") == index]
        inside_children = {leg for child in children for leg in child["legs"]}
        direct = len(children) + len(set(decay["legs"]) - inside_children)
        if direct == 2:
            shielded |= set(decay["legs"])
    for decay in by_index:
        legs = set(decay["legs"])
        parent = decay.get("parent")
        if legs <= shielded and (parent is None or not set(by_index[parent]["legs"]) <= shielded):
            outermost += 1
    return shielded, n_final - len(shielded) + outermost


def _is_massless(pdg: int, leg: int, masses: Sequence[float] | None) -> bool:
    if masses is not None:
        return masses[leg] == 0
    return abs(int(pdg)) in (1, 2, 3, 4, GLUON, PHOTON, 11, 13)


def _t_channel_possible(kind: str, pdg: int, initial) -> bool:
    """Can a massless exchange link this final state to a beam (colour, charge or flavour line)?"""
    coloured = any(k in ("j", "b") and massless for _, k, massless in initial)
    photon = any(abs(p) == PHOTON for p, _, _ in initial)
    charged = any((k in ("b", "l") or (k == "j" and abs(p) != GLUON)) for p, k, _ in initial)
    if kind in ("j", "b"):
        return coloured or photon
    if kind == "a":
        return charged
    return photon or any(abs(p) == abs(pdg) for p, _, _ in initial)  # lepton: Bhabha-like


def partonic_energy_bounds(cuts: Cuts | Mapping[str, float], pdg_ids: Sequence[int], n_initial: int,
                           maxjetflavor: int = 4, masses: Sequence[float] | None = None,
                           uncut: Collection[int] = ()) -> tuple[float, float]:
    """Bounds (GeV) on sqrt(s-hat) implied by the cuts (invariant under boosts along the beam):
    at least the sum of the final-state minimal transverse masses sqrt(m^2 + ptmin^2), at least
    (at most) the minimal (maximal) invariant mass of a pair that is the whole final state.
    Returns (lower, upper); upper is inf when the cuts set none."""
    plan = plan_cuts(cuts, pdg_ids, n_initial, maxjetflavor, masses, uncut)
    masses = [0.0] * len(pdg_ids) if masses is None else [float(m) for m in masses]
    ptmin = {leg: single[0] for leg, *single in plan.singles}
    lower = sum(math.sqrt(masses[leg] ** 2 + ptmin.get(leg, 0.0) ** 2) for leg in range(n_initial, len(pdg_ids)))
    upper = math.inf
    final = set(range(n_initial, len(pdg_ids)))
    wholes = [(mmin, mmax) for first, second, _, _, mmin, mmax in plan.pairs if {first, second} == final]
    wholes += [(low, high) for legs, low, high in (plan.event.masses if plan.event else ()) if set(legs) == final]
    for mmin, mmax in wholes:
        lower, upper = max(lower, mmin), min(upper, mmax)
    return lower, upper
