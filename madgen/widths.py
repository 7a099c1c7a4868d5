"""Auto widths: the compiler stage that turns ``widths: auto`` into decay processes.

==============  ===============================================  ==============================
stage           input                                            output
==============  ===============================================  ==============================
widths          ``ProcessCard`` (and its param card), ``Model``,  ``WidthPlan``: per computed
                the main process's ``SubprocessCode`` list        width its decay channels, each
                                                                  a ``SubprocessCode``
==============  ===============================================  ==============================

Which widths (docs/widths.md): the card's ``widths: auto`` takes every external width parameter
the generated process uses in a propagator; ``widths: [t, z]`` or ``{t: auto}`` names particles;
``DECAY pdg auto`` in the card's ``param_card`` adds that particle (MadGraph's syntax).

Which channels (MadGraph's ``compute_widths`` at tree level, with a fixed rule for three-body):

* two-body: every ``X > a b`` that a 3-point vertex holding X allows, each unordered pair once
  (``Z > e- e+`` is one channel); whether it is open (M_X > m_a + m_b) is decided at run time,
  so a channel closed at the card's masses still opens when θ moves the masses. Pairs that can
  never be open (a daughter with X's own mass parameter, as in ``t > t g``) are left out.
* three-body, only for a particle with no open two-body channel at the card's parameters: every
  ``X > a b c`` reached through two 3-point vertices (``X > a Y*, Y* > b c``) or one 4-point
  vertex, kept when open at the card's parameters.

Every decay goes through the normal stages (diagrams, wavefunctions, colour; the helicity routines
are requested like the main process's), with each coupling order bounded by the model's
``expansion_order`` (MadGraph's default bound; SMEFTsim's ``NPprop`` vertices, expansion order 0,
drop out) and all diagrams kept, not only those of minimal WEIGHTED order: a width is the whole
tree-level rate. The widths themselves are emitted by ``madgen.codegen.widths``.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

from madgen.codegen.emit import SubprocessCode
from madgen.errors import CardError, ParamCardError, ProcessError, UnsupportedFeature
from madgen.lorentz.routines import RoutineRequest
from madgen.model.types import ZERO, Model
from madgen.process.card import AUTO, process_tag
from madgen.process.syntax import OrderConstraint

log = logging.getLogger("madgen")


@dataclass(frozen=True)
class WidthRequest:
    """One particle whose width is to be computed, and who asked for it (for messages)."""

    particle: str
    origin: str  # e.g. "process.yaml, key 'widths'" or "card.dat:31 (DECAY 25 auto)"
    source: str  # "widths" (process card) or "param_card" (DECAY pdg auto), for metadata


@dataclass(frozen=True)
class DecayChannel:
    """One decay ``X > a b (c)`` and the generated code of its |M|^2."""

    process: str  # "t > b W+"
    daughters: tuple[str, ...]
    daughter_masses: tuple[str, ...]  # mass parameter of each daughter (ZERO for massless)
    code: SubprocessCode


@dataclass(frozen=True)
class AutoWidth:
    """A width parameter computed as the sum of its channels' partial widths."""

    width: str  # width parameter, e.g. "WT"
    particle: str  # e.g. "t"
    mass: str  # mass parameter of the particle
    n_body: int  # 2 or 3
    channels: tuple[DecayChannel, ...]
    source: str

    def __post_init__(self):
        assert self.channels and all(len(c.daughter_masses) == self.n_body for c in self.channels)


@dataclass(frozen=True)
class WidthPlan:
    """What the code generator needs to emit ``widths.py`` and the decay modules."""

    widths: tuple[AutoWidth, ...] = ()
    routines: tuple[RoutineRequest, ...] = ()

    @property
    def auto_widths(self) -> dict[str, str]:
        """Width parameter -> particle, in computation order (two-body ones first)."""
        return {w.width: w.particle for w in self.widths}

    @property
    def codes(self) -> tuple[SubprocessCode, ...]:
        """The decay modules, each once (channels with identical |M|^2 code share one)."""
        return tuple({c.code.module: c.code for w in self.widths for c in w.channels}.values())

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names (masses, widths, couplings) the decay modules and the kinematics read."""
        names: list[str] = []
        for width in self.widths:
            names.append(width.mass)
            for channel in width.channels:
                graph = channel.code.graph
                names += list(channel.daughter_masses) + list(channel.code.mass_parameters)
                names += list(graph.couplings) + list(graph.masses) + list(graph.widths)
        return tuple(sorted(n for n in set(names) if n != ZERO))

    def metadata(self) -> dict:
        return {w.width: {"particle": w.particle, "n_body": w.n_body, "requested_by": w.source,
                          "channels": [{"process": c.process, "module": c.code.module} for c in w.channels]}
                for w in self.widths}


def plan_auto_widths(model: Model, card, codes) -> WidthPlan:
    """The auto widths the card asks for and their decay channels (module docstring)."""
    requests = _unique_by_width(model, requested_widths(model, card, codes))
    if not requests:
        if card.widths:
            log.warning("%s, key 'widths': the process uses no width in a propagator; none is computed", card.path)
        return WidthPlan()
    fixed = dict(card.parameters)
    for width, request in requests.items():
        if width in fixed:
            raise CardError(f"{card.path}, key 'parameters': {width} is given a value but is also computed "
                            f"({request.origin}); remove one of the two")
    values = parameter_values(model)
    bounds = expansion_bounds(model)
    modules = _DecayModules()
    widths = [_auto_width(model, request, values, bounds, modules) for request in requests.values()]
    widths.sort(key=lambda w: w.n_body)  # two-body widths first: three-body decays may use them
    _check_three_body_inputs(widths)
    routines = {}
    for width in widths:
        for channel in width.channels:
            routines.update({r.name: r for r in channel.code.graph.routines})
    return WidthPlan(tuple(widths), tuple(routines[name] for name in sorted(routines)))


# --------------------------------------------------------------------------- which widths


def requested_widths(model: Model, card, codes) -> list[WidthRequest]:
    """The particles whose widths the card (``widths``) and its param card (``DECAY pdg auto``) ask for."""
    from madgen.process.expand import canonical_particle_name

    where = f"{card.path}, key 'widths'"
    requests = []
    if tuple(card.widths) == (AUTO,):
        used = sorted({w for code in codes for w in code.graph.widths if w != ZERO})
        for width in used:
            if model.parameter(width).external:  # a derived width (SMEFTsim's WZ1 = WZ) follows its input
                requests.append(WidthRequest(particle_of_width(model, width), f"{where} (auto)", "widths"))
    else:
        for token in card.widths:
            name = canonical_particle_name(model, token)
            if name is None:
                close = difflib.get_close_matches(token, [p.name for p in model.particles], n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise CardError(f"{where}: unknown particle '{token}' in model '{model.name}'{hint}")
            requests.append(WidthRequest(name, where, "widths"))
    if card.param_card:
        from madgen.model.param_card import read_param_card

        param_card = read_param_card(Path(card.param_card))
        for pdg, line in param_card.auto_decays.items():
            name = particle_of_pdg(model, pdg)
            origin = f"{param_card.source}:{line} (DECAY {pdg} auto)"
            if name is None:
                raise ParamCardError(f"{origin}: model '{model.name}' has no particle with PDG code {pdg}; "
                                     "fix the code or remove the line")
            requests.append(WidthRequest(name, origin, "param_card"))
    for request in requests:
        check_decayable(model, request)
    return requests


def particle_of_width(model: Model, width: str) -> str:
    """The particle (the one with a positive PDG code, if any) whose width parameter is ``width``."""
    owners = sorted((p for p in model.particles if p.width == width), key=lambda p: (p.pdg_code < 0, p.pdg_code))
    return owners[0].name


def particle_of_pdg(model: Model, pdg: int) -> str | None:
    for particle in model.particles:
        if particle.pdg_code == pdg:
            return particle.name
    return None


def check_decayable(model: Model, request: WidthRequest) -> None:
    """A clear error unless the particle has an external width parameter and a mass."""
    particle = model.particle(request.particle)
    name, origin = particle.name, request.origin
    if particle.width == ZERO:
        hint = (f" (the restriction '{model.restriction}' fixed it to zero; use the model without restriction, "
                f"e.g. '{model.full_name}', to compute it)" if model.restriction else "")
        raise CardError(f"{origin}: '{name}' has no width parameter in model '{model.name}'{hint}; "
                        "there is no width to compute: remove it")
    if not model.parameter(particle.width).external:
        raise CardError(f"{origin}: the width {particle.width} of '{name}' is derived from other parameters in "
                        f"model '{model.name}', not an input: compute the width it is derived from instead")
    if particle.mass == ZERO:
        raise CardError(f"{origin}: '{name}' is massless, so no decay channel is open: it is stable; "
                        "remove it from the widths to compute")


def _unique_by_width(model: Model, requests: list[WidthRequest]) -> dict[str, WidthRequest]:
    """One request per width parameter (a particle and its antiparticle share theirs)."""
    unique: dict[str, WidthRequest] = {}
    for request in requests:
        particle = model.particle(request.particle)
        first = unique.setdefault(particle.width, request)
        if first.particle not in (particle.name, particle.antiname):
            raise UnsupportedFeature(f"{request.origin}: '{particle.name}' and '{first.particle}' share the width "
                                     f"parameter {particle.width} in model '{model.name}'; one width cannot be "
                                     "the total width of two different particles")
    return unique


# --------------------------------------------------------------------------- which channels


def parameter_values(model: Model) -> dict[str, float]:
    """|Re value| of every parameter at the model's (card-updated) defaults: masses for the
    threshold decisions (a negative mass, as some SUSY spectra have, counts by its size)."""
    from madgen.model.restrict import numeric_values

    external = {p.name: float(p.value) for p in model.external_parameters}
    values = numeric_values(model.internal_parameters, (), external)
    return {name: float(abs(complex(value).real)) for name, value in values.items()} | {ZERO: 0.0}


def expansion_bounds(model: Model) -> tuple[OrderConstraint, ...]:
    """Each coupling order bounded by the model's expansion order (MadGraph's default bound)."""
    return tuple(OrderConstraint(o.name, "<=", o.expansion_order) for o in model.orders)


def two_body_final_states(model: Model, name: str) -> list[tuple[str, str]]:
    """Unordered pairs (a, b) with a 3-point vertex X a b, except pairs that can never be open."""
    particle = model.particle(name)
    found: dict[tuple[str, ...], None] = {}
    for vertex in model.vertices:
        if len(vertex.particles) != 3 or particle.antiname not in vertex.particles:
            continue
        rest = list(vertex.particles)
        rest.remove(particle.antiname)  # UFO slots are outgoing: an outgoing X~ is the incoming X
        if any(model.particle(d).mass == particle.mass for d in rest):
            continue  # M > M + m never holds
        found.setdefault(_ordered(model, rest), None)
    return list(found)


def three_body_final_states(model: Model, name: str) -> list[tuple[str, str, str]]:
    """Triples reached through X > a Y*, Y* > b c (two 3-point vertices), ordered (b, c, a) so that
    the first pair is the one the propagator joins (``t > e+ ve b``: the quadrature variable is
    then the W* mass), or through one 4-point vertex; each unordered triple once."""
    particle = model.particle(name)
    found: dict[tuple[str, ...], tuple[str, ...]] = {}
    for vertex in model.vertices:
        if particle.antiname not in vertex.particles or len(vertex.particles) not in (3, 4):
            continue
        rest = list(vertex.particles)
        rest.remove(particle.antiname)
        if len(rest) == 3:
            final = _ordered(model, rest)
            found.setdefault(tuple(sorted(final)), final)
            continue
        for a, y in (rest, rest[::-1]):
            if not model.particle(y).propagating:
                continue
            y_out = model.particle(y).antiname  # Y is produced, so Y~ fills the second vertex's slot
            for second in model.vertices:
                if len(second.particles) == 3 and y_out in second.particles:
                    pair = list(second.particles)
                    pair.remove(y_out)
                    final = _ordered(model, pair) + (a,)
                    found.setdefault(tuple(sorted(final)), final)
    return list(found.values())


def _ordered(model: Model, names) -> tuple[str, ...]:
    """Daughters in a fixed order: particles before antiparticles, then by |PDG code| (``W+ > ve e+``)."""
    def key(n):
        return (model.particle(n).pdg_code < 0, abs(model.particle(n).pdg_code), n)

    return tuple(sorted(names, key=key))


def is_open(model: Model, particle: str, daughters, values) -> bool:
    mass = values[model.particle(particle).mass]
    return mass > sum(values[model.particle(d).mass] for d in daughters)


class _DecayModules:
    """Numbers the decay modules and shares one between channels whose |M|^2 code is identical
    (``Z > d d~`` and ``Z > s s~`` in the SM: same couplings, masses, helicities and colour)."""

    def __init__(self):
        self.numbers = itertools.count(1)
        self.by_signature: dict[tuple, SubprocessCode] = {}

    def code(self, model: Model, particle: str, daughters, bounds) -> SubprocessCode | None:
        tag = process_tag(particle + " > " + " ".join(daughters))
        code = decay_code(model, particle, daughters, f"D?_{tag}", bounds)
        if code is None:
            return None
        signature = (code.graph, code.colour, code.mass_parameters, code.averaging_factor, code.colour_reps,
                     tuple(sorted((code.colour_index_dims or {}).items())))
        if signature not in self.by_signature:
            self.by_signature[signature] = dataclasses.replace(code, module=f"D{next(self.numbers)}_{tag}")
        return self.by_signature[signature]


def _auto_width(model: Model, request: WidthRequest, values, bounds, modules: _DecayModules) -> AutoWidth:
    particle = model.particle(request.particle)
    two_body = two_body_final_states(model, particle.name)
    n_body, finals = 2, two_body
    if not any(is_open(model, particle.name, f, values) for f in two_body):
        n_body = 3
        finals = [f for f in three_body_final_states(model, particle.name) if is_open(model, particle.name, f, values)]
    channels = []
    for final in finals:
        code = modules.code(model, particle.name, final, bounds)
        if code is not None:
            text = f"{particle.name} > {' '.join(final)}"
            channels.append(DecayChannel(text, final, tuple(model.particle(d).mass for d in final), code))
    if not any(is_open(model, particle.name, c.daughters, values) for c in channels):
        closed = ", ".join(f"{particle.name} > {' '.join(f)}" for f in two_body) or "none"
        raise CardError(
            f"{request.origin}: no decay channel of '{particle.name}' is open at the card's parameters "
            f"({particle.mass} = {values[particle.mass]:g} GeV; closed two-body channels: {closed}; no open "
            f"three-body channel): it is stable in model '{model.name}'; remove it from the widths to compute")
    return AutoWidth(particle.width, particle.name, particle.mass, n_body, tuple(channels), request.source)


def decay_code(model: Model, particle: str, daughters, module: str, bounds) -> SubprocessCode | None:
    """The decay ``particle > daughters`` through the normal stages; None if it has no diagram."""
    from madgen.colour.basis import colour_basis
    from madgen.diagrams.export import diagram_set_to_data
    from madgen.diagrams.generate import generate_diagrams, make_legs
    from madgen.ir.build import averaging_factor, build_wavefunction_graph, colour_index_dims
    from madgen.process.expand import conservation_violation

    text = f"{particle} > {' '.join(daughters)}"
    if conservation_violation(model, (particle,), tuple(daughters)):
        return None
    legs = make_legs(model, (particle,), tuple(daughters))
    try:
        diagram_set = generate_diagrams(model, legs, bounds, (), (), text)
    except ProcessError:
        return None  # e.g. only through vertices beyond the expansion order
    graph = build_wavefunction_graph(model, diagram_set)
    index_dims = colour_index_dims(model, diagram_set)
    colour = colour_basis(graph.colour_dims, index_dims, [amp.colour for amp in graph.amplitudes])
    names = (particle,) + tuple(daughters)
    return SubprocessCode(
        module=module, process=text, pdg_ids=tuple(model.particle(n).pdg_code for n in names), n_initial=1,
        mass_parameters=tuple(model.particle(n).mass for n in names), graph=graph, colour=colour,
        averaging_factor=averaging_factor(model, diagram_set), n_diagrams=len(diagram_set.diagrams),
        diagrams=diagram_set_to_data(model, diagram_set),
        colour_reps=tuple(model.particle(n).color for n in names), colour_index_dims=index_dims)


def _check_three_body_inputs(widths: list[AutoWidth]) -> None:
    """Three-body decays are computed after the two-body widths; they cannot use another three-body one."""
    three_body = {w.width for w in widths if w.n_body == 3}
    for width in widths:
        for channel in width.channels:
            circular = sorted(set(channel.code.graph.widths) & three_body)
            if circular:
                raise UnsupportedFeature(
                    f"the three-body decay {channel.process} (for {width.width}) needs the width {circular[0]}, "
                    "itself computed from three-body decays; give one of them a fixed value instead")
