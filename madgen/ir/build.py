"""Diagrams → wavefunction graph: what the generated matrix element computes, in order.

Every diagram is evaluated as in HELAS: external wavefunctions, then off-shell
currents from the leaves toward the root vertex, where the amplitude is closed.
Identical subtrees (same vertices, same legs, same colour choice) are the same
hashable key and so are computed once and shared by all diagrams. A vertex with
several colour structures splits a diagram into one amplitude term per choice;
each term has its own colour factor, passed on to the colour stage.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from madgen.colour.basis import ColourFactor
from madgen.colour.tensors import string_monomials
from madgen.diagrams.fermions import FermionFlow, analyse_fermion_flow
from madgen.diagrams.generate import DiagramSet, is_s_channel
from madgen.diagrams.types import Current, Diagram
from madgen.errors import UnsupportedFeature
from madgen.lorentz.routines import RoutineRequest
from madgen.lorentz.structures import SUPPORTED_SPINS
from madgen.model.types import ZERO, Model, Spin
from madgen.process.polarisation import EXTERNAL_HELICITIES, PROPAGATOR_STATES

Momentum = tuple[int, tuple[int, ...]]  # (sign, legs): sign * sum of outgoing-convention momenta of legs


@dataclass(frozen=True)
class RoutineCall:
    routine: str
    coupling: str


@dataclass(frozen=True)
class ExternalWavefunction:
    """Wavefunction of an external leg for every helicity of that leg.

    ``role`` is "ket", "bra", "vector", "tensor" or "scalar"; ``flag`` is ``antiparticle`` for
    spinors (v or v-bar) and ``outgoing`` for vectors and tensors (conjugated polarisation)."""

    name: str
    leg: int
    role: str
    flag: bool
    mass: str
    helicities: tuple[int, ...]


@dataclass(frozen=True)
class OffshellWavefunction:
    """An off-shell current: sum of ``calls`` on ``inputs`` (slot order, off-shell slot skipped)."""

    name: str
    calls: tuple[RoutineCall, ...]
    inputs: tuple[str, ...]
    momenta: tuple[Momentum, ...]  # incoming momentum of every slot, off-shell slot included
    mass: str
    width: str
    particle: str
    parameters: tuple[str, ...] = ()  # model parameters of a custom propagator, after COUP, M, W
    # A decayed vector polarised as MadGraph's 'w+{0}' (madgen.process.polarisation): the terms of its
    # propagator's numerator ("-1", "0", "1", "A"), and whether the current is the decay products' (its
    # momentum k flows toward them) or the rest's (-k); empty: the whole propagator.
    polarisation: tuple[str, ...] = ()
    decay_side: bool = True
    polarisation_label: str = ""  # the decayed particle as written ('W+{0}'), for the generated code's comment


class _PolarisedLine(NamedTuple):
    """A polarised decayed vector's propagator as one current sees it (``_GraphBuilder.polarised``)."""

    pdg: int  # |PDG id| of the line's particle
    label: str  # MadGraph's label, '0' for 'w+{0}'
    decay_side: bool  # the current of the decay products (else of the rest)
    text: str  # the particle as written, 'W+{0}', for the generated code's comment


@dataclass(frozen=True)
class AmplitudeTerm:
    """One colour-stripped amplitude: a diagram with one colour choice at each vertex, its
    coupling orders (the diagram's) and its order class (index into the graph's ``order_classes``)."""

    name: str
    diagram: int
    calls: tuple[RoutineCall, ...]
    inputs: tuple[str, ...]
    momenta: tuple[Momentum, ...]
    sign: int
    colour: ColourFactor
    orders: tuple[tuple[str, int], ...] = ()
    order_class: int = 0


@dataclass(frozen=True)
class WavefunctionGraph:
    externals: tuple[ExternalWavefunction, ...]
    currents: tuple[OffshellWavefunction, ...]
    amplitudes: tuple[AmplitudeTerm, ...]
    routines: tuple[RoutineRequest, ...]
    couplings: tuple[str, ...]
    masses: tuple[str, ...]
    widths: tuple[str, ...]
    helicities: tuple[tuple[int, ...], ...]  # the helicity combinations, one row each
    colour_dims: tuple[int, ...]
    parameters: tuple[str, ...] = ()  # further model parameters the routines take (custom propagators)
    # Squared-order selection (madgen.diagrams.orders): the amplitude-order classes (each the values
    # of the orders the squared constraints name), the pairs (a, b) whose interference enters |M|^2,
    # and the constraints themselves ("NP^2==1"; empty: the whole |M|^2).
    order_classes: tuple[tuple[tuple[str, int], ...], ...] = ((),)
    allowed_order_pairs: tuple[tuple[int, int], ...] = ((0, 0),)
    squared_orders: str = ""
    polarised: bool = False  # a leg or a decayed vector polarised ('w+{0}'): |M|^2 depends on the frame


def build_wavefunction_graph(model: Model, diagram_set: DiagramSet) -> WavefunctionGraph:
    """Lower every diagram of ``diagram_set`` to shared wavefunctions and amplitude terms."""
    refuse_unsupported_spins(model, diagram_set)
    builder = _GraphBuilder(model, diagram_set)
    for diagram in diagram_set.diagrams:
        builder.add_diagram(diagram)
    legs = diagram_set.legs
    leg_helicities = [leg_helicity_states(model, leg) for leg in legs]
    return WavefunctionGraph(
        externals=tuple(builder.externals.values()),
        currents=tuple(builder.currents.values()),
        amplitudes=tuple(builder.amplitudes),
        routines=tuple(sorted(builder.routines.values(), key=lambda r: r.name)),
        couplings=tuple(sorted(builder.couplings)),
        masses=tuple(sorted(builder.masses)),
        widths=tuple(sorted(builder.widths)),
        helicities=tuple(itertools.product(*leg_helicities)),
        colour_dims=tuple(colour_dim(model, leg.particle) for leg in legs),
        parameters=tuple(sorted(builder.parameters)),
        order_classes=diagram_set.selection.classes,
        allowed_order_pairs=diagram_set.selection.allowed_pairs,
        squared_orders=diagram_set.selection.describe(),
        polarised=any(leg.polarisation for leg in legs) or any(r.polarisation for r in diagram_set.resonances),
    )


def refuse_unsupported_spins(model: Model, diagram_set: DiagramSet) -> None:
    """A particle of spin 3/2 on an external leg or an internal line is refused by name: madgen has no
    wavefunctions or propagators for it."""
    lines = [(leg.particle, f"leg {leg.number}") for leg in diagram_set.legs]
    lines += [(current.line_particle, f"an internal line of diagram {diagram.number}")
              for diagram in diagram_set.diagrams for current in diagram.currents()]
    for name, where in lines:
        spin = model.particle(name).spin
        if spin not in SUPPORTED_SPINS:
            raise UnsupportedFeature(
                f"particle '{name}' ({where}) has spin {(spin.value - 1) / 2:g} (UFO spin code {spin.value}) in "
                f"model '{model.name}': madgen computes spins 0, 1/2, 1 and 2 only; exclude it with '/ {name}' "
                "where it is internal")


def helicity_states(model: Model, name: str) -> tuple[int, ...]:
    """A leg's helicity states as MadGraph labels them: 2s + 1 for a massive particle, the two extreme
    ones for a massless particle of spin 1/2 and more."""
    particle = model.particle(name)
    if particle.spin is Spin.SCALAR:
        return (0,)
    if particle.spin is Spin.VECTOR and not particle.massless:
        return (-1, 0, 1)
    if particle.spin is Spin.TENSOR:
        return (-2, 2) if particle.massless else (-2, -1, 0, 1, 2)
    return (-1, 1)


def leg_helicity_states(model: Model, leg) -> tuple[int, ...]:
    """The helicity states a leg sums over: ``helicity_states``, or those its polarisation keeps (``w+{0}``)."""
    if leg.polarisation:
        return EXTERNAL_HELICITIES[leg.polarisation]
    return helicity_states(model, leg.particle)


def colour_dim(model: Model, name: str) -> int:
    return abs(model.particle(name).color)


def averaging_factor(model: Model, diagram_set: DiagramSet) -> int:
    """Initial-state spin and colour states times the identical-particle factor: the final-state
    factorials, or for a decay chain MadGraph's factor (``madgen.process.decays``)."""
    factor = 1
    for leg in diagram_set.legs:
        if leg.initial:
            factor *= len(helicity_states(model, leg.particle)) * colour_dim(model, leg.particle)
    if diagram_set.identical_factor is not None:
        return factor * diagram_set.identical_factor
    counts = Counter((leg.particle, leg.polarisation) for leg in diagram_set.legs if not leg.initial)
    for count in counts.values():
        factor *= math.factorial(count)
    return factor


class _GraphBuilder:
    """Accumulates wavefunctions by key so that identical ones are shared."""

    def __init__(self, model: Model, diagram_set: DiagramSet):
        self.model = model
        self.selection = diagram_set.selection
        self.legs = {leg.number: leg for leg in diagram_set.legs}
        self.initial_legs = frozenset(n for n, leg in self.legs.items() if leg.initial)
        every_leg = frozenset(self.legs)
        # polarised decayed vectors: the leg sets of the two currents that can carry each one's propagator
        self.polarised = {}
        for resonance in diagram_set.resonances:
            if resonance.polarisation and resonance.legs:
                pdg = abs(model.particle(resonance.particle).pdg_code)
                text = f"{resonance.particle}{{{resonance.polarisation}}}"
                self.polarised[frozenset(resonance.legs)] = _PolarisedLine(pdg, resonance.polarisation, True, text)
                self.polarised[every_leg - frozenset(resonance.legs)] = _PolarisedLine(
                    pdg, resonance.polarisation, False, text)
        self.externals: dict = {}
        self.currents: dict = {}
        self.amplitudes: list[AmplitudeTerm] = []
        self.routines: dict = {}
        self.couplings: set[str] = set()
        self._colour_checked: set[str] = set()
        self.masses: set[str] = set()
        self.widths: set[str] = set()
        self.parameters: set[str] = set()

    # -- diagrams ---------------------------------------------------------------------------
    def add_diagram(self, diagram: Diagram) -> None:
        flow = analyse_fermion_flow(self.model, diagram)
        occurrences = list(diagram.currents()) + [None]
        choices = [self._colour_choices(self._vertex_of(diagram, occ)) for occ in occurrences]
        labels = self._line_labels(diagram)
        for combination in itertools.product(*choices):
            colour_of = dict(zip(occurrences, combination))
            inputs = tuple(self._wavefunction(child, flow, colour_of) for child in diagram.slots)
            vertex = self.model.vertex(diagram.vertex)
            calls = self._calls(vertex, colour_of[None], 0, flow.flipped_pairs(None), False)
            momenta = tuple((-1, child.legs) for child in diagram.slots)
            factors = tuple(
                (self._vertex_of(diagram, occ).colour[colour_of[occ]], self._slot_labels(diagram, occ, labels))
                for occ in occurrences if self._vertex_of(diagram, occ).colour[colour_of[occ]].strip() != "1")
            self.amplitudes.append(AmplitudeTerm(
                name=f"amp{len(self.amplitudes) + 1}", diagram=diagram.number, calls=calls,
                inputs=inputs, momenta=momenta, sign=flow.sign, colour=ColourFactor(factors),
                orders=diagram.orders, order_class=self.selection.class_of(diagram.orders)))

    def _vertex_of(self, diagram: Diagram, occurrence):
        return self.model.vertex(diagram.vertex if occurrence is None else occurrence.vertex)

    def _colour_choices(self, vertex) -> tuple[int, ...]:
        self._check_colour(vertex)
        return tuple(sorted({term.colour_index for term in vertex.terms}))

    def _check_colour(self, vertex) -> None:
        """Each colour structure a vertex uses must read (``string_monomials``) and give every coloured leg an
        index; a model error names the vertex, its particles and the model's vertices.py."""
        if vertex.name in self._colour_checked:
            return
        self._colour_checked.add(vertex.name)
        colours = [self.model.particle(name).color for name in vertex.particles]
        slot_dims = tuple((k + 1, abs(c)) for k, c in enumerate(colours) if abs(c) != 1)
        where = (f"vertex {vertex.name} [{', '.join(vertex.particles)}] in "
                 f"{self.model.directory or self.model.source}/vertices.py")
        for index in sorted({term.colour_index for term in vertex.terms}):
            string = vertex.colour[index]
            try:
                slots, _ = string_monomials(string, slot_dims)
            except UnsupportedFeature as error:
                raise UnsupportedFeature(f"{where}: {error}") from None
            bare = [k for k, _ in slot_dims if k not in slots]
            if bare:
                names = ", ".join(f"{vertex.particles[k - 1]} (slot {k})" for k in bare)
                raise UnsupportedFeature(f"{where}: colour structure {string!r} gives the coloured particle(s) "
                                         f"{names} no colour index; each colour structure of a vertex must carry "
                                         "the index of every coloured leg (e.g. 'Identity(1,2)' for a quark pair)")

    # -- wavefunctions ----------------------------------------------------------------------
    def _wavefunction(self, current: Current, flow: FermionFlow, colour_of) -> str:
        if current.is_leaf:
            return self._external(current.leg, flow)
        inputs = tuple(self._wavefunction(child, flow, colour_of) for _, child in current.slot_children())
        particle = self.model.particle(current.line_particle)
        width = ZERO if not is_s_channel(frozenset(current.legs), self.initial_legs) else particle.width
        flips = flow.flipped_pairs(current)
        vertex = self.model.vertex(current.vertex)
        propagator = self.model.propagator_of(particle)
        massless_boson = (particle.spin in (Spin.VECTOR, Spin.TENSOR) and particle.massless
                          and propagator is None)
        calls = self._calls(vertex, colour_of[current], current.offshell_slot + 1, flips, massless_boson,
                            propagator)
        children = dict(current.slot_children())
        momenta = tuple((1, current.legs) if slot == current.offshell_slot else (-1, children[slot].legs)
                        for slot in range(len(vertex.particles)))
        polarised = self.polarised.get(frozenset(current.legs))
        if polarised is not None and polarised.pdg != abs(particle.pdg_code):
            polarised = None
        key = ("current", calls, inputs, momenta, particle.mass, width, polarised)
        if key not in self.currents:
            self._use_parameter(self.masses, particle.mass)
            self._use_parameter(self.widths, width)
            parameters = propagator.parameters if propagator is not None else ()
            self.parameters.update(parameters)
            self.currents[key] = OffshellWavefunction(
                name=f"w{len(self.externals) + len(self.currents) + 1}", calls=calls, inputs=inputs,
                momenta=momenta, mass=particle.mass, width=width, particle=particle.name, parameters=parameters,
                polarisation=PROPAGATOR_STATES[polarised.label] if polarised else (),
                decay_side=polarised.decay_side if polarised else True,
                polarisation_label=polarised.text if polarised else "")
        return self.currents[key].name

    def _external(self, number: int, flow: FermionFlow) -> str:
        leg = self.legs[number]
        particle = self.model.particle(leg.particle)
        if particle.spin is Spin.FERMION:
            role = "ket" if number in flow.ket_ends else "bra"
            flag = (role == "ket") != leg.initial
        elif particle.spin is Spin.VECTOR:
            role, flag = "vector", not leg.initial
        elif particle.spin is Spin.TENSOR:
            role, flag = "tensor", not leg.initial
        elif particle.spin is Spin.SCALAR:
            role, flag = "scalar", False
        else:  # pragma: no cover - the model stage rejects other spins
            raise AssertionError(particle.spin)
        key = ("external", number, role)
        if key not in self.externals:
            self._use_parameter(self.masses, particle.mass)
            self.externals[key] = ExternalWavefunction(
                name=f"w{len(self.externals) + len(self.currents) + 1}", leg=number, role=role, flag=flag,
                mass=particle.mass, helicities=leg_helicity_states(self.model, leg))
        return self.externals[key].name

    def _calls(self, vertex, colour_index: int, offshell: int, flips, massless_boson: bool, propagator=None):
        calls = []
        for term in vertex.terms:
            if term.colour_index != colour_index:
                continue
            request = RoutineRequest(self.model.lorentz_structure(term.lorentz), offshell, tuple(flips),
                                     massless_boson, propagator)
            self.routines[request.name] = request
            self.couplings.add(term.coupling)
            calls.append(RoutineCall(request.name, term.coupling))
        return tuple(calls)

    @staticmethod
    def _use_parameter(bucket: set, name: str) -> None:
        if name != ZERO:
            bucket.add(name)

    # -- colour labels ----------------------------------------------------------------------
    def _line_labels(self, diagram: Diagram) -> dict:
        return {current: line_label(diagram, i) for i, current in enumerate(diagram.currents())}

    def _slot_labels(self, diagram: Diagram, occurrence, labels) -> tuple[int, ...]:
        if occurrence is None:
            lines = diagram.slots
        else:
            children = dict(occurrence.slot_children())
            lines = [occurrence if slot == occurrence.offshell_slot else children[slot]
                     for slot in range(len(children) + 1)]
        return tuple(line.leg if line.is_leaf else labels[line] for line in lines)


def line_label(diagram: Diagram, index: int) -> int:
    """Colour label of the diagram's ``index``-th internal line: negative, unique in the process."""
    return -(1000 * diagram.number + index + 1)


def colour_index_dims(model: Model, diagram_set: DiagramSet) -> dict[int, int]:
    """Dimension of every colour label used by ``build_wavefunction_graph``'s colour factors."""
    dims = {leg.number: colour_dim(model, leg.particle) for leg in diagram_set.legs}
    for diagram in diagram_set.diagrams:
        for i, current in enumerate(diagram.currents()):
            dims[line_label(diagram, i)] = abs(model.particle(current.line_particle).color)
    return dims
