"""Helicity routines (ALOHA-style) derived symbolically from a UFO Lorentz structure.

For a structure L over slots 1..n with wavefunctions W_n (scalar W[0]; spinor W[0..3];
vector W^mu upper components; spin-2 tensor W^{mu nu} upper components at W[4 mu + nu]) the
amplitude is::

    A = COUP * sum bra_s L_{s s'}(P) ket_{s'} * prod_vectors (W^mu g_{mu mu})
        * prod_tensors (W^{mu nu} g_{mu mu} g_{nu nu}) * prod_scalars W[0]

with slot 2k the bra (row) and slot 2k-1 the ket (column) of fermion pair k, unless the
pair is *flipped*, in which case L -> C L^T C^-1 on that pair and slot 2k-1 is the bra.
Momenta P_n flow *into* the vertex. The off-shell routine for slot k returns the
propagated current built from J = dA/dW_k (without COUP), D = P_k^2 - M^2 + i M W::

    scalar:            COUP * i/D * J
    vector (unitary):  COUP * (-i/D) * (J^mu - P_k^mu (P_k.J)/M^2)
    vector (P0):       COUP * (-i/D) * J^mu                  (D = P_k^2)
    bra slot:          COUP * i/D * (pslash + M) J,  p = -P_k   (a ket / column)
    ket slot:          COUP * i/D * J (pslash + M),  p = +P_k   (a bra / row)
    spin 2 (massive):  COUP * i/D * B^{mu nu, a b} J_{ab},  B the sum over its five polarisations
    spin 2 (P0):       COUP * i/P^2 * (J^{(mu nu)} - g^{mu nu} J^a_a / 2)   (de Donder gauge)

The *closing* routine of slot k returns COUP * J itself (no propagator): the amplitude is then
sum_c W_k[c] * COUP * J[c], which a kernel on the grid helicity layout computes on the helicities of
the other slots' legs before it multiplies by the widest wavefunction (``madgen.codegen.emit``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from madgen.errors import UnsupportedFeature
from madgen.lorentz.fermion_chains import fermion_flow_sign
from madgen.lorentz.propagators import parameter_argument, propagator_tensors
from madgen.lorentz.structures import (
    CMATRIX,
    CMATRIX_INV,
    METRIC,
    TENSOR_INDEX_OFFSETS,
    IndexKind,
    Tensor,
    contract,
    evaluate_structure,
    from_matrix,
    momentum_symbol,
    slash,
    slot_kinds,
)
from madgen.model.types import LorentzStructure, Propagator, Spin

COUP = sympy.Symbol("COUP")
MASS = sympy.Symbol("M", real=True)
WIDTH = sympy.Symbol("W", real=True)
DENOM = sympy.Symbol("denom")


def wf_symbol(slot: int, comp: int) -> sympy.Symbol:
    """W<slot>[comp]: component of the wavefunction plugged into ``slot``."""
    return sympy.Symbol(f"W{slot}[{comp}]")


@dataclass(frozen=True)
class RoutineRequest:
    """Which routine to build: amplitude (offshell=0) or the current of slot ``offshell``."""

    lorentz: LorentzStructure
    offshell: int
    flipped_pairs: tuple[int, ...] = ()
    massless_propagator: bool = False
    propagator: Propagator | None = None  # a custom propagator of the off-shell line
    closing: bool = False  # COUP * dA/dW_offshell without a propagator: the amplitude closed on that slot

    @property
    def name(self) -> str:
        """ALOHA-style name ``<Lorentz>[C<k>...][P0|P<propagator>|J]_<offshell>`` (J: the closing routine)."""
        flips = "".join(f"C{k}" for k in sorted(set(self.flipped_pairs)))
        p0 = "P0" if self.massless_propagator else ""
        custom = f"P{self.propagator.name}" if self.propagator is not None else ""
        closing = "J" if self.closing else ""
        return f"{self.lorentz.name}{flips}{custom}{p0}{closing}_{self.offshell}"

    @property
    def parameter_arguments(self) -> tuple[str, ...]:
        """Model parameters the routine takes after ``COUP, M, W`` (a custom propagator's)."""
        return self.propagator.parameters if self.propagator is not None else ()


@dataclass(frozen=True)
class RoutineSpec:
    """A routine ready to print: ``statements`` are (name, expr) temporaries in order."""

    name: str
    arguments: tuple[str, ...]
    output_spin: int
    statements: tuple[tuple[str, sympy.Expr], ...]
    result: tuple[sympy.Expr, ...]
    doc: str = ""
    returns: str = ""  # what the routine returns, where its output spin does not say it (closing routines)


# --------------------------------------------------------------------------- helpers

def _flip(tensor: Tensor, pair: int) -> Tensor:
    """L -> C L^T C^-1 on fermion pair ``pair``: new row index = slot 2k-1, column = slot 2k.

    L'_{x y} = C_{x c} L_{d c} C^-1_{d y}, where L_{d c} has d on slot 2k and c on slot 2k-1.
    """
    a, b = 2 * pair - 1, 2 * pair
    sa, sb = (a, IndexKind.SPINOR), (b, IndexKind.SPINOR)
    da, db = (-1001, IndexKind.SPINOR), (-1002, IndexKind.SPINOR)
    relabel = {sa: da, sb: db}
    renamed = Tensor(tuple(relabel.get(ix, ix) for ix in tensor.indices), tensor.data)
    out = contract(contract(from_matrix(CMATRIX, sa, da), renamed), from_matrix(CMATRIX_INV, db, sb))
    order = [out.indices.index(ix) for ix in tensor.indices]
    return Tensor(tensor.indices, {tuple(k[p] for p in order): v for k, v in out.data.items()})


def _amplitude(tensor: Tensor, kinds: tuple[Spin, ...]) -> sympy.Expr:
    """Full contraction of the structure tensor with every slot's wavefunction (no COUP).

    A vector slot's index is lowered with the metric; a spin-2 slot's two indices (1000 + n, 2000 + n)
    both are, and meet its wavefunction's component 4 mu + nu."""
    labels = [lab for lab, _ in tensor.indices]
    terms = []
    for comp, val in tensor.data.items():
        term = val
        by_label = dict(zip(labels, comp))
        for slot, kind in enumerate(kinds, start=1):
            if kind is Spin.FERMION:
                term = term * wf_symbol(slot, by_label[slot])
            elif kind is Spin.VECTOR:
                c = by_label[slot]
                term = term * METRIC[c] * wf_symbol(slot, c)
            elif kind is Spin.TENSOR:
                mu, nu = (by_label[offset + slot] for offset in TENSOR_INDEX_OFFSETS)
                term = term * METRIC[mu] * METRIC[nu] * wf_symbol(slot, 4 * mu + nu)
        terms.append(term)
    amp = sympy.Add(*terms)
    for n, k in enumerate(kinds, start=1):
        if k is Spin.SCALAR:
            amp = amp * wf_symbol(n, 0)
    return sympy.expand(amp)


def _coefficient(expr: sympy.Expr, symbol: sympy.Symbol) -> sympy.Expr:
    """d expr / d symbol for an expanded ``expr`` linear in ``symbol`` (term by term, fast)."""
    parts = []
    for term in sympy.Add.make_args(expr):
        factors = sympy.Mul.make_args(term)
        if symbol not in factors:
            if term.has(symbol):  # not linear in it: let sympy differentiate
                return sympy.expand(sympy.diff(expr, symbol))
            continue
        rest = list(factors)
        rest.remove(symbol)
        if any(f.has(symbol) for f in rest):
            return sympy.expand(sympy.diff(expr, symbol))
        parts.append(sympy.Mul(*rest))
    return sympy.Add(*parts)


def _nest(expr: sympy.Expr, slots: list[int], kinds: tuple[Spin, ...]) -> sympy.Expr:
    """Multilinear ``expr`` written as sum_c W_s[c] * (nested coefficient) over ``slots`` in turn."""
    if not slots:
        return expr
    s, rest = slots[0], slots[1:]
    terms = []
    for c in range(kinds[s - 1].n_components):
        coef = _coefficient(expr, wf_symbol(s, c))
        if coef != 0:
            terms.append(wf_symbol(s, c) * _nest(coef, rest, kinds))
    return sympy.Add(*terms)


def _is_bra(slot: int, flipped: tuple[int, ...]) -> bool:
    pair = (slot + 1) // 2
    even = slot % 2 == 0
    return even != (pair in flipped)


def _dot(a, b) -> sympy.Expr:
    return sum(METRIC[m] * a[m] * b[m] for m in range(4))


def _validate(req: RoutineRequest, kinds: tuple[Spin, ...]) -> None:
    name = req.lorentz.name
    if not 0 <= req.offshell <= len(kinds):
        raise UnsupportedFeature(f"Lorentz structure {name}: no slot {req.offshell} to put off shell")
    n_pairs = sum(k is Spin.FERMION for k in kinds) // 2
    for p in req.flipped_pairs:
        if not 1 <= p <= n_pairs:
            raise UnsupportedFeature(f"Lorentz structure {name}: no fermion pair {p} to flip")
    if req.massless_propagator and (req.offshell == 0 or kinds[req.offshell - 1] not in (Spin.VECTOR, Spin.TENSOR)):
        raise UnsupportedFeature(
            f"Lorentz structure {name}: massless (P0) propagator requested for a slot that is neither a vector "
            f"nor a spin-2 tensor"
        )
    if req.closing and (req.offshell == 0 or req.massless_propagator or req.propagator is not None):
        raise UnsupportedFeature(f"Lorentz structure {name}: a closing routine needs a slot and no propagator")
    if req.propagator is not None and (req.offshell == 0 or req.massless_propagator):
        raise UnsupportedFeature(f"Lorentz structure {name}: custom propagator {req.propagator.name} requested "
                                 f"for an amplitude or together with the massless (P0) propagator")


def _cse(exprs: list[sympy.Expr], prefix: str = "t"):
    temps, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols(prefix), order="canonical")
    return [(str(s), e) for s, e in temps], list(reduced)


# --------------------------------------------------------------------------- build

def build_routine(request: RoutineRequest) -> RoutineSpec:
    """Derive the amplitude or off-shell current routine of ``request`` symbolically."""
    lz = request.lorentz
    kinds = slot_kinds(lz.name, tuple(lz.spins))
    _validate(request, kinds)
    flipped = tuple(sorted(set(request.flipped_pairs)))
    tensor = evaluate_structure(lz.name, tuple(lz.spins), lz.structure)
    chain_sign = fermion_flow_sign(lz.name, tuple(lz.spins), lz.structure)
    if chain_sign < 0:
        if flipped:
            raise UnsupportedFeature(f"Lorentz structure {lz.name}: its spinor chains do not join the fermions "
                                     f"in UFO pairs (1,2), (3,4); madgen cannot charge-conjugate such a vertex "
                                     f"(Majorana fermions or fermion-number violation through it)")
        tensor = -tensor
    for pair in flipped:
        tensor = _flip(tensor, pair)
    amp = _amplitude(tensor, kinds)
    n = len(kinds)
    k = request.offshell
    momenta = tuple(f"P{i}" for i in range(1, n + 1))
    flip_doc = f" with fermion pair(s) {flipped} flipped (L -> C L^T C^-1)" if flipped else ""
    if chain_sign < 0:
        flip_doc += (" times -1, the sign of its spinor chains relative to the pairs (1,2), (3,4) "
                     "(MadGraph puts it on the coupling)")
    if k == 0:
        statements, (red,) = _cse([_nest(amp, list(range(n, 0, -1)), kinds)])
        return RoutineSpec(
            name=request.name,
            arguments=tuple(f"W{i}" for i in range(1, n + 1)) + momenta + ("COUP",),
            output_spin=0,
            statements=tuple(statements),
            result=(COUP * red,),
            doc=f"Amplitude COUP * [{lz.structure}]{flip_doc}, fully contracted.",
        )

    kind = kinds[k - 1]
    ncomp = kind.n_components
    others = [i for i in range(n, 0, -1) if i != k]
    J = [_nest(_coefficient(amp, wf_symbol(k, c)), others, kinds) for c in range(ncomp)]
    if request.closing:
        return _closing_routine(request, J, kind, momenta, flip_doc)
    P = [momentum_symbol(k, m) for m in range(4)]
    statements, Jred = _cse(J)
    jsyms = [sympy.Symbol(f"J{c}") for c in range(ncomp)]
    p2 = _dot(P, P)
    if request.propagator is not None:
        denom, result, what = _custom_current(request.propagator, kind, k, _is_bra(k, flipped), jsyms)
    elif kind is Spin.SCALAR:
        denom = COUP * sympy.I / (p2 - MASS**2 + sympy.I * MASS * WIDTH)
        result = (DENOM * jsyms[0],)
        what = "scalar current COUP * i/D * J"
    elif kind is Spin.VECTOR:
        # J_mu (lower) -> J^mu (upper)
        Jred = [METRIC[m] * Jred[m] for m in range(4)]
        if request.massless_propagator:
            denom = -COUP * sympy.I / p2
            result = tuple(DENOM * jsyms[m] for m in range(4))
            what = "vector current COUP * (-i/P^2) * J^mu (Feynman gauge, massless)"
        else:
            denom = -COUP * sympy.I / (p2 - MASS**2 + sympy.I * MASS * WIDTH)
            pj = sympy.Symbol("PJ")
            Jred.append(_dot(P, jsyms) / MASS**2)
            jsyms = jsyms + [pj]
            result = tuple(DENOM * (jsyms[m] - P[m] * pj) for m in range(4))
            what = "vector current COUP * (-i/D) * (J^mu - P^mu (P.J)/M^2) (unitary gauge)"
    elif kind is Spin.TENSOR:
        denom, Jred, jsyms, result, what = _tensor_current(request.massless_propagator, P, Jred, jsyms, p2)
    else:
        bra = _is_bra(k, flipped)
        denom = COUP * sympy.I / (p2 - MASS**2 + sympy.I * MASS * WIDTH)
        if bra:
            prop = slash([-x for x in P]) + MASS * sympy.eye(4)
            vec = prop * sympy.Matrix(jsyms)
            what = "ket spinor COUP * i/D * (pslash + M) J with p = -P_k"
        else:
            prop = slash(P) + MASS * sympy.eye(4)
            vec = (sympy.Matrix(jsyms).T * prop).T
            what = "bra spinor COUP * i/D * J (pslash + M) with p = +P_k"
        result = tuple(DENOM * sympy.expand(vec[c]) for c in range(4))
    # J components that are 0 or a single symbol/number are substituted, not assigned
    inline = {s: e for s, e in zip(jsyms, Jred) if e.is_Atom}
    statements = statements + [(str(s), e.subs(inline)) for s, e in zip(jsyms, Jred) if s not in inline]
    statements.append((str(DENOM), denom))
    result = tuple(r.subs(inline) for r in result)
    extra = tuple(parameter_argument(p) for p in request.parameter_arguments)
    denominator_doc = "" if request.propagator is not None else f", D = P{k}^2 - M^2 + i M W"
    return RoutineSpec(
        name=request.name,
        arguments=tuple(f"W{i}" for i in range(1, n + 1) if i != k) + momenta + ("COUP", "M", "W") + extra,
        output_spin=int(lz.spins[k - 1]),
        statements=tuple(statements),
        result=result,
        doc=f"Off-shell slot {k} of [{lz.structure}]{flip_doc}: {what}, J = dA/dW{k}{denominator_doc}.",
    )


def _tensor_current(massless: bool, P: list, Jred: list, jsyms: list, p2: sympy.Expr):
    """A spin-2 current from J_{ab} (lower indices, component 4 a + b): ``(denom, Jred, jsyms, result, what)``
    with the temporaries the propagator needs appended to ``Jred``/``jsyms``.

    With K_{ab} the symmetric part of J, its trace K = g^{ab} K_{ab}, v_b = P^a K_{ab} and s = v.P:
    massive:   COUP * i/D * (B^{mu nu, a b} K_{ab}),  B = (P^{mu a} P^{nu b} + P^{mu b} P^{nu a}) / 2
               - P^{mu nu} P^{a b} / 3,  P^{mu nu} = -g^{mu nu} + P^mu P^nu / M^2 (the sum over the five
               polarisation tensors, as the vector's numerator is over its three), which is
               K^{mu nu} - (P^mu v^nu + P^nu v^mu) / M^2 + P^mu P^nu s / M^4 + P^{mu nu} (K - s / M^2) / 3;
    massless:  COUP * i/P^2 * (K^{mu nu} - g^{mu nu} K / 2) (de Donder gauge)."""
    k_lower = {(a, b): (jsyms[4 * a + b] + jsyms[4 * b + a]) / 2 for a in range(4) for b in range(4)}
    k_upper = [[METRIC[a] * METRIC[b] * k_lower[a, b] for b in range(4)] for a in range(4)]
    trace = sympy.Symbol("KT")
    Jred, jsyms = list(Jred), list(jsyms)
    Jred.append(sum(METRIC[a] * k_lower[a, a] for a in range(4)))
    jsyms.append(trace)
    if massless:
        denom = COUP * sympy.I / p2
        result = tuple(DENOM * (k_upper[a][b] - sympy.Rational(1, 2) * (METRIC[a] if a == b else 0) * trace)
                       for a in range(4) for b in range(4))
        what = "spin-2 current COUP * i/P^2 * (K^{mu nu} - g^{mu nu} K / 2) (de Donder gauge, massless)"
        return denom, Jred, jsyms, result, what
    v = [sympy.Symbol(f"KP{b}") for b in range(4)]  # v_b / M^2
    for b in range(4):
        Jred.append(sum(P[a] * k_lower[a, b] for a in range(4)) / MASS**2)
        jsyms.append(v[b])
    s = sympy.Symbol("KPP")  # s / M^4
    Jred.append(sum(P[b] * v[b] for b in range(4)) / MASS**2)
    jsyms.append(s)
    v_upper = [METRIC[b] * v[b] for b in range(4)]
    denom = COUP * sympy.I / (p2 - MASS**2 + sympy.I * MASS * WIDTH)
    third = sympy.Rational(1, 3)

    def projector(a, b):
        return -(METRIC[a] if a == b else 0) + P[a] * P[b] / MASS**2

    result = tuple(
        DENOM * (k_upper[a][b] - P[a] * v_upper[b] - P[b] * v_upper[a] + P[a] * P[b] * s
                 + third * projector(a, b) * (trace - s * MASS**2))
        for a in range(4) for b in range(4))
    what = ("spin-2 current COUP * i/D * B^{mu nu, a b} K_{ab}, B = (P^{mu a} P^{nu b} + P^{mu b} P^{nu a}) / 2 "
            "- P^{mu nu} P^{ab} / 3, P^{mu nu} = -g^{mu nu} + P^mu P^nu / M^2 (the sum over the five polarisations)")
    return denom, Jred, jsyms, result, what


def _closing_routine(request: RoutineRequest, J: list[sympy.Expr], kind: Spin, momenta: tuple[str, ...],
                     flip_doc: str) -> RoutineSpec:
    """COUP * J, J = dA/dW_k (the coefficient of each of W_k's components): A = sum_c W_k[c] COUP J[c]."""
    k, n = request.offshell, len(momenta)
    statements, reduced = _cse(J)
    return RoutineSpec(
        name=request.name,
        arguments=tuple(f"W{i}" for i in range(1, n + 1) if i != k) + momenta + ("COUP",),
        output_spin=int(request.lorentz.spins[k - 1]),
        statements=tuple(statements),
        result=tuple(COUP * r for r in reduced),
        doc=(f"Slot {k} of [{request.lorentz.structure}]{flip_doc} for closing an amplitude on it: "
             f"COUP * J, J = dA/dW{k} (no propagator), so that the amplitude is sum_c W{k}[c] * COUP * J[c] "
             f"(close_on)."),
        returns=f"COUP * J, a tuple of {kind.n_components} component arrays, the coefficients of W{k}'s components",
    )


def _custom_current(propagator: Propagator, kind: Spin, k: int, bra: bool, jsyms: list[sympy.Symbol]):
    """(denom, result, description) of a current through a UFO custom propagator.

    ``jsyms`` are J's components as the vertex gives them (a vector's and a tensor's with lower indices).
    """
    numerator, denominator = propagator_tensors(propagator, kind, k, kind is Spin.FERMION and not bra)
    denom = COUP * sympy.I / denominator
    n = numerator.data
    if kind is Spin.SCALAR:
        result = (DENOM * n.get((), 0) * jsyms[0],)
        shape = "N J"
    elif kind is Spin.VECTOR:
        result = tuple(DENOM * sympy.Add(*(n.get((mu, nu), 0) * jsyms[mu] for mu in range(4))) for nu in range(4))
        shape = "N^{mu nu} J_mu"
    elif kind is Spin.TENSOR:  # indices 1001, 2001 on the vertex side, 1002, 2002 the output
        result = tuple(DENOM * sympy.Add(*(n.get((a, b, mu, nu), 0) * jsyms[4 * a + b]
                                           for a in range(4) for b in range(4)))
                       for mu in range(4) for nu in range(4))
        shape = "N^{ab, mu nu} J_{ab}"
    elif bra:  # the current is a ket: output on index 1
        result = tuple(DENOM * sympy.Add(*(n.get((a, b), 0) * jsyms[b] for b in range(4))) for a in range(4))
        shape = "N_{a b} J_b (a ket)"
    else:  # the current is a bra: output on index 2, P -> -P
        result = tuple(DENOM * sympy.Add(*(jsyms[a] * n.get((a, b), 0) for a in range(4))) for b in range(4))
        shape = "J_a N_{a b} with P -> -P (a bra)"
    denominator_text = propagator.denominator or "1"
    what = (f"custom propagator {propagator.name}: COUP * i * {shape} / D, N = {propagator.numerator}, "
            f"D = {denominator_text}")
    return denom, tuple(sympy.expand(r) for r in result), what
