"""Refuse, before anything is integrated, runs that would fail late or give a silently wrong number.

Each check returns the problems it finds as sentences; ``check_run`` raises them together as one
``RunCardError`` naming the run card: a 2 -> 1 process, a collision energy below the final-state
threshold, cuts that leave the cross section infinite, a zero width on an s-channel resonance the phase space reaches on
shell, and with hadron beams: massive initial partons, a model without ``aS``, partonic energies not
bounded away from zero, fixed scales outside the PDF set's Q range. It warns, without refusing, of x
below the PDF set's grid and of cuts by PDG id that cut nothing.
"""

from __future__ import annotations

import numpy as np

from madgen.errors import MadgenError, RunCardError


def check_run(process, run, collider, energy_bounds, parameters=None, warn=print) -> None:
    """Every check of the module docstring; ``energy_bounds[i]``: the s-hat range (GeV) the cuts
    leave subprocess i (see ``madgen.runtime.cuts.partonic_energy_bounds``)."""
    from madgen.runtime.cuts import check_divergent, massless_splittings, uncut_legs
    from madgen.runtime.resonances import placed_decays

    problems = []
    one_body = [sub.process for sub in process.subprocesses if sub.n_initial == 2 and sub.n_legs == 3]
    two_hadron_beams = all(collider.hadrons)  # where a 2 -> 1 process is integrated over the rapidity
    if one_body and not two_hadron_beams:
        problems.append(one_particle_final_state(process.process))
    for index, sub in enumerate(process.subprocesses):
        if sub.process in one_body and not two_hadron_beams:
            continue
        masses = np.asarray(sub.masses(parameters), dtype=float)
        if sub.process in one_body and not masses[2] > 0:
            problems.append(f"'{process.process}' produces one massless particle: s-hat = M^2 = 0, where no parton "
                            "pair collides; generate it with a recoiling particle (e.g. 'p p > a j') or its decay")
            continue
        sqrt_s = np.sqrt(collider.s) if collider.has_pdf else collider.fixed_sqrt_s(*masses[:2])
        threshold = float(np.sum(masses[2:]))
        if sqrt_s <= threshold:
            problems.append(f"the collision energy sqrt(s) = {sqrt_s:.6g} GeV is below the threshold "
                            f"{threshold:.6g} GeV of '{sub.process}' (the sum of its final-state masses): "
                            "raise sqrt_s or beam_energies")
        decays = placed_decays(sub.channels)
        problems += check_divergent(sub.pdg_ids, run.cuts, n_initial=sub.n_initial,
                                    maxjetflavor=run.maxjetflavor, masses=masses,
                                    decays=decays, uncut=uncut_legs(decays, run.cut_decays),
                                    massless_pairs=massless_splittings(sub.channels))
        problems += zero_width_resonances(sub, sqrt_s, parameters, variable_energy=collider.has_pdf)
        if collider.has_pdf:
            problems += _hadron_problems(sub, masses, collider, energy_bounds[index])
    if tuple(run.me_frame) != (1, 2) and any(getattr(sub, "polarised", False) for sub in process.subprocesses):
        problems.append(f"key 'me_frame': {list(run.me_frame)} asks MadGraph to define the polarised particles' "
                        "helicities in the rest frame of those legs; madgen defines them in the partonic centre-of-mass "
                        "frame only (me_frame [1, 2]): remove the key, or polarise a decay process for its rest frame "
                        "(t > w+{0} b)")
    if collider.has_pdf:
        problems += _scale_problems(run, collider)
        _warn_small_x(process, collider, energy_bounds, warn)
    _warn_idle_pdg_cuts(process, run, warn)
    if problems:
        raise RunCardError(f"{run.path}: " + "; ".join(dict.fromkeys(problems)))


def check_defined_point(process, parameters, what: str = "parameters for this run") -> dict:
    """The model must be defined at ``parameters`` (complete, one point): every derived parameter and
    coupling the process uses finite. MZ = 0 makes the SM's sw2 = 1 - MW^2/MZ^2 nan, and the run would
    end in a nan cross section blamed on the cuts; name the quantity instead. Returns the internal
    parameters it checked (the masses and widths of the run)."""
    sub = process.subprocesses[0]
    internal = sub.internal_parameters(parameters)
    defaults = sub.default_parameters()
    for name, value in internal.items():
        array = np.asarray(value)
        if not np.all(np.isfinite(array)):
            moved = {k: v for k, v in dict(parameters).items() if k in defaults and np.ndim(v) == 0
                     and float(v) != float(defaults[k])}
            given = ", ".join(f"{k} = {float(v):g}" for k, v in moved.items()) or "the package's defaults"
            raise MadgenError(f"{what}: at {given} the model's {name} of '{process.process}' is "
                              f"{array.reshape(-1)[0]} (not finite); choose values at which the model is defined")
    return internal


def one_particle_final_state(process: str) -> str:
    """Why a 2 -> 1 process cannot be launched without two hadron beams: its cross section is a delta
    function in the partonic energy, which only the momentum fractions of two partons can integrate
    (over the rapidity, as MadGraph does); its decay, generated with it, has a finite cross section."""
    return (f"'{process}' has one final-state particle: a 2 -> 1 cross section is a delta function in sqrt(s) "
            "(nonzero only at sqrt(s) equal to the mass) unless both beams are hadrons (beams: [p, p], where "
            "the rapidity is integrated at s-hat = M^2); generate the particle with its decay instead (a decay "
            "chain such as 'e+ e- > z, z > mu+ mu-', or the final state 'e+ e- > mu+ mu-')")


def _hadron_problems(sub, masses, collider, bounds) -> list[str]:
    problems = []
    for side in (0, 1):
        if collider.hadrons[side] and masses[side] != 0.0:
            problems.append(f"'{sub.process}' has a massive initial parton (leg {side + 1}, {masses[side]:g} GeV) "
                            "in a hadron beam: partons from a PDF are massless (use a model restriction with "
                            "that mass 0, e.g. sm-no_b_mass, or define p without it in the card's multiparticles)")
    if "aS" not in sub.default_parameters():
        problems.append(f"the model of '{sub.process}' has no external parameter 'aS': alpha_s(muR) of the PDF "
                        "set cannot be used in its matrix element")
    lower = max(float(np.sum(masses[2:])), bounds[0])
    if lower <= 0.0:
        problems.append(f"the partonic energy of '{sub.process}' is not bounded away from 0 (massless final "
                        "state without cuts): s-hat reaches 0, where a massless exchange makes the cross section "
                        "diverge and the PDFs are extrapolated far below their grid; add a cut "
                        "(e.g. cuts.mmll, cuts.ptl, cuts.ptj)")
    return problems


def _scale_problems(run, collider) -> list[str]:
    """Fixed scales outside the PDF set's Q range (LHAPDF would extrapolate them silently)."""
    q_min, q_max = collider.pdf.q_range
    scales = run.scales
    fixed = []
    if scales.fixed_ren_scale:
        fixed.append(("scale", scales.scale))
    if scales.fixed_fac_scale:
        fixed += [("dsqrt_q2fact1", scales.dsqrt_q2fact1), ("dsqrt_q2fact2", scales.dsqrt_q2fact2)]
    return [f"key '{key}': the fixed scale {value:g} GeV is outside the Q range [{q_min:g}, {q_max:g}] GeV "
            f"of the PDF set {collider.pdf.name}; choose a scale inside it"
            for key, value in fixed if not q_min <= value <= q_max]


def _warn_small_x(process, collider, energy_bounds, warn) -> None:
    """x below the set's grid is extrapolated (LHAPDF's continuation, as LHAPDF does): say so."""
    x_min = collider.pdf.x_range[0]
    for index, sub in enumerate(process.subprocesses):
        lower = max(float(np.sum(np.asarray(sub.masses(), dtype=float)[2:])), energy_bounds[index][0])
        tau_min = lower ** 2 / collider.s
        if 0.0 < tau_min < x_min:
            warn(f"warning: '{sub.process}' reaches x down to {tau_min:.3g}, below the smallest x = {x_min:.3g} "
                 f"of {collider.pdf.name}: the PDF is extrapolated there (LHAPDF's continuation)")
            return


def idle_pdg_cuts(process, run) -> list[tuple[str, int, str]]:
    """(key, PDG id, why) of every cut by PDG id that acts on no event: no subprocess has the particle
    (or its antiparticle) in its final state, or, with ``cut_decays`` false, only as a decay product,
    which MadGraph leaves uncut. A typo in an id (600 for 6) would otherwise pass unnoticed."""
    from madgen.runtime.cuts import uncut_legs
    from madgen.runtime.resonances import placed_decays

    present, cut = set(), set()
    for sub in process.subprocesses:
        uncut = uncut_legs(placed_decays(sub.channels), run.cut_decays)
        for leg in range(sub.n_initial, len(sub.pdg_ids)):
            code = abs(int(sub.pdg_ids[leg]))
            present.add(code)
            if leg not in uncut:
                cut.add(code)
    idle = []
    for key, entries in run.cuts.by_pdg:
        for code, _ in entries:
            if code == "default":
                continue
            if code not in present:
                idle.append((key, code, "no final-state particle of the process has it"))
            elif code not in cut:
                idle.append((key, code, "it is only a decay product, which cut_decays = false leaves uncut"))
    return idle


def _warn_idle_pdg_cuts(process, run, warn) -> None:
    for key, code, why in idle_pdg_cuts(process, run):
        warn(f"warning: {run.path}: '{key}' for PDG id {code} cuts nothing in '{process.process}': {why}")


def zero_width_resonances(process, sqrt_s: float, parameters=None, variable_energy: bool = False) -> list[str]:
    """Why an s-channel propagator with mass M > 0 and width 0 can go on shell in ``process``
    (its decay products are lighter than M and sqrt(s) leaves room for it; a propagator carrying
    the whole final state is on shell only at sqrt(s) = M, or anywhere up to sqrt(s) when the
    partonic energy varies (``variable_energy``: hadron beams)), one line per culprit.

    MadGraph requires widths for such propagators: at the pole |M|^2 is infinite and its gradient
    in the width is wrong (0 instead of the 1/width^2 growth)."""
    values = process.internal_parameters(parameters)
    masses = np.asarray(process.masses(parameters), dtype=float)
    data = process.channels
    legs = [int(leg["number"]) for leg in data["legs"]]
    initial = {int(leg["number"]) for leg in data["legs"] if leg["initial"]}
    final_mass = {leg: masses[i] for i, leg in enumerate(legs) if leg not in initial}
    found = []
    for diagram in data["diagrams"]:
        for prop in diagram["propagators"]:
            if not prop.get("s_channel", True):
                continue
            mass = 0.0 if prop["mass"] == "ZERO" else float(np.real(values[prop["mass"]]))
            width = 0.0 if prop["width"] == "ZERO" else float(np.real(values[prop["width"]]))
            if mass <= 0.0 or width > 0.0:
                continue
            side = set(int(leg) for leg in prop["legs"])
            products = side if not side & initial else set(final_mass) - side
            others = set(final_mass) - products
            lightest = sum(final_mass[leg] for leg in products)
            heaviest = sqrt_s - sum(final_mass[leg] for leg in others)
            if not others and not variable_energy:  # the propagator carries the whole final state
                on_shell = abs(sqrt_s - mass) <= 1e-9 * mass
            else:
                on_shell = lightest < mass <= heaviest
            if on_shell:
                name = prop["width"] if prop["width"] != "ZERO" else f"the width of {prop['particle']}"
                found.append(f"'{process.process}' has an s-channel {prop['particle']} (mass {mass:g} GeV) with "
                             f"zero width {name}, which the phase space reaches on shell; give it a width "
                             "(param_card DECAY or 'parameters:' in the process card), as MadGraph requires")
    return list(dict.fromkeys(found))
