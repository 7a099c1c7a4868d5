"""Plain, frozen data describing a UFO model after loading and restriction.

These are what every later stage reads; nothing here refers back to the UFO Python
objects. Expressions of internal parameters and couplings are sympy expressions in
the symbols of the parameters (``sympy.Symbol(name)``), already simplified by the
restriction (parameters fixed to 0 or 1 substituted, vanishing couplings dropped).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping

import sympy

ZERO = "ZERO"
"""Name UFO uses for an exactly vanishing mass or width."""


class Spin(enum.Enum):
    """Spin of a field, valued by UFO's 2s+1 code (ghosts use negative codes in UFO)."""

    SCALAR = 1
    FERMION = 2
    VECTOR = 3
    RARITA_SCHWINGER = 4
    TENSOR = 5

    @property
    def n_components(self) -> int:
        """Number of complex components of the wavefunction madgen uses."""
        return {Spin.SCALAR: 1, Spin.FERMION: 4, Spin.VECTOR: 4, Spin.TENSOR: 16}.get(self, 0)


@dataclass(frozen=True)
class Particle:
    """One UFO particle; its antiparticle is another ``Particle`` with the names swapped."""

    name: str
    antiname: str
    pdg_code: int
    spin: Spin
    color: int  # 1, 3, -3, 6, -6, 8
    mass: str  # parameter name, or ZERO
    width: str  # parameter name, or ZERO
    charge: float
    line: str = "straight"
    ghost: bool = False
    goldstone: bool = False
    propagating: bool = True
    propagator: str | None = None  # name of a custom propagator (UFO propagators.py), if any

    @property
    def self_conjugate(self) -> bool:
        return self.name == self.antiname

    @property
    def majorana(self) -> bool:
        return self.spin is Spin.FERMION and self.self_conjugate

    @property
    def massless(self) -> bool:
        return self.mass == ZERO


@dataclass(frozen=True)
class Parameter:
    """An external (card) or internal (derived) model parameter.

    ``value`` is a float for external parameters (the default from the restricted
    card) and a sympy expression for internal ones.
    """

    name: str
    nature: str  # "external" | "internal"
    type: str  # "real" | "complex"
    value: object
    lhablock: str | None = None
    lhacode: tuple[int, ...] = ()
    texname: str = ""

    @property
    def external(self) -> bool:
        return self.nature == "external"

    @property
    def symbol(self) -> sympy.Symbol:
        return parameter_symbol(self.name, self.type)


def parameter_symbol(name: str, type_: str = "real") -> sympy.Symbol:
    """The sympy symbol standing for a model parameter in every expression."""
    if type_ == "real":
        return sympy.Symbol(name, real=True)
    return sympy.Symbol(name)


@dataclass(frozen=True)
class Coupling:
    """A coupling constant: a sympy expression in parameters, with its coupling orders."""

    name: str
    value: sympy.Expr
    orders: tuple[tuple[str, int], ...]

    @property
    def order_dict(self) -> dict[str, int]:
        return dict(self.orders)


@dataclass(frozen=True)
class LorentzStructure:
    """A UFO Lorentz structure: the string in P, Metric, Gamma, ProjM, ... over slot numbers."""

    name: str
    spins: tuple[int, ...]
    structure: str


@dataclass(frozen=True)
class VertexTerm:
    """One term of a vertex: colour structure index, Lorentz structure name, coupling name."""

    colour_index: int
    lorentz: str
    coupling: str


@dataclass(frozen=True)
class Vertex:
    """A UFO vertex; ``particles`` are particle names in slot order (slot k is UFO index k+1).

    UFO convention, which madgen follows: slot k is filled by an *outgoing* particle
    ``particles[k]`` (equivalently an incoming antiparticle).
    """

    name: str
    particles: tuple[str, ...]
    colour: tuple[str, ...]
    terms: tuple[VertexTerm, ...]
    orders: tuple[tuple[str, int], ...]

    @property
    def order_dict(self) -> dict[str, int]:
        return dict(self.orders)


@dataclass(frozen=True)
class Propagator:
    """A custom propagator of UFO's ``propagators.py``, selected by ``particle.propagator``.

    ``numerator`` and ``denominator`` are UFO strings over ``P('mu', id)``, ``Mass(id)``,
    ``Width(id)``, ``Metric``, ``Gamma``, ``Identity``... and model parameters; index 1 is
    the vertex side and index 2 the output of the current, ``id`` the propagating line
    (ALOHA's convention). ``parameters`` are the model parameters the strings use (passed
    to the current routines); ``fixed`` those a restriction fixed, with their values.
    ``denominator`` None means the numerator is the whole propagator.
    """

    name: str
    numerator: str
    denominator: str | None
    parameters: tuple[str, ...] = ()
    fixed: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class CouplingOrder:
    name: str
    hierarchy: int
    expansion_order: int


@dataclass(frozen=True)
class FixedEntry:
    """An external parameter a restriction card fixed (to 0 or 1) and removed: its param-card entry
    (block, codes) and the value the restricted model assumes."""

    name: str
    lhablock: str
    lhacode: tuple[int, ...]
    value: float


@dataclass(frozen=True)
class TiedEntry:
    """An external parameter a restriction card merged into another of its block (the same value up to
    sign, as MadGraph's ``detect_identical_parameters``): now internal, ``sign`` times ``source``."""

    name: str
    lhablock: str
    lhacode: tuple[int, ...]
    source: str
    sign: int


def unrestricted_name(name: str, restriction: str | None) -> str:
    """The spelling of a model without restriction, MadGraph's ``-full``: ``sm`` and ``sm-no_b_mass`` ->
    ``sm-full``, ``SMEFTsim_..._UFO-massless`` -> ``SMEFTsim_..._UFO-full``; the model's own name may hold '-'."""
    if restriction is None and name.endswith("-full"):
        return name
    suffix = (restriction or "").removeprefix("restrict_").removesuffix(".dat")
    base = name[:-len(suffix) - 1] if suffix and name.endswith("-" + suffix) else name
    return f"{base}-full"


@dataclass(frozen=True)
class Model:
    """A loaded, restricted UFO model."""

    name: str  # e.g. "sm" or "sm-no_b_mass"
    source: str  # importable name or directory it was loaded from
    restriction: str | None  # restriction card file name applied, if any
    particles: tuple[Particle, ...]
    parameters: tuple[Parameter, ...]  # external first, then internal in dependency order
    couplings: tuple[Coupling, ...]
    lorentz: tuple[LorentzStructure, ...]
    vertices: tuple[Vertex, ...]
    orders: tuple[CouplingOrder, ...]
    fingerprint: str = ""  # sha256 of the model's source files, for provenance
    propagators: tuple[Propagator, ...] = ()  # custom propagators used by particles
    directory: str = ""  # the UFO directory the model was loaded from
    conversion_cache: str = ""  # where its Python-3 copy lives, for a converted Python-2 model
    converted_files: tuple[str, ...] = ()  # the files that conversion changed
    fixed_entries: tuple[FixedEntry, ...] = ()  # externals the restriction fixed and removed
    tied_entries: tuple[TiedEntry, ...] = ()  # externals the restriction merged into another of their block
    _by_name: Mapping[str, object] = field(default=None, compare=False, hash=False, repr=False)

    @property
    def full_name(self) -> str:
        """This model without its restriction (``unrestricted_name``), to name in messages."""
        return unrestricted_name(self.name, self.restriction)

    def __post_init__(self):
        index: dict[str, object] = {}
        for p in self.particles:
            index["particle:" + p.name] = p
        for p in self.parameters:
            index["parameter:" + p.name] = p
        for c in self.couplings:
            index["coupling:" + c.name] = c
        for lz in self.lorentz:
            index["lorentz:" + lz.name] = lz
        for v in self.vertices:
            index["vertex:" + v.name] = v
        for propagator in self.propagators:
            index["propagator:" + propagator.name] = propagator
        object.__setattr__(self, "_by_name", index)

    def particle(self, name: str) -> Particle:
        return self._by_name["particle:" + name]

    def has_particle(self, name: str) -> bool:
        return ("particle:" + name) in self._by_name

    def antiparticle(self, name: str) -> Particle:
        return self.particle(self.particle(name).antiname)

    def parameter(self, name: str) -> Parameter:
        return self._by_name["parameter:" + name]

    def coupling(self, name: str) -> Coupling:
        return self._by_name["coupling:" + name]

    def vertex(self, name: str) -> Vertex:
        return self._by_name["vertex:" + name]

    def propagator_of(self, particle: Particle) -> Propagator | None:
        """The custom propagator of ``particle`` (None: the standard one of its spin)."""
        return None if particle.propagator is None else self._by_name["propagator:" + particle.propagator]

    def lorentz_structure(self, name: str) -> LorentzStructure:
        return self._by_name["lorentz:" + name]

    @property
    def external_parameters(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.external)

    @property
    def internal_parameters(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if not p.external)

    def order_hierarchy(self) -> dict[str, int]:
        return {o.name: o.hierarchy for o in self.orders}
