"""Colour flows of a process and the exact decomposition of its colour basis into them.

Conventions (MadGraph's, as written in LHE files):

* An outgoing quark carries a colour tag, an outgoing antiquark an anticolour tag, a gluon
  both; an *incoming* quark carries a colour tag and an incoming antiquark an anticolour tag.
* Colour lines are counted with initial-state legs crossed to the final state (an incoming
  quark is an outgoing antiquark): every tag appears once as a "crossed colour" (colour of a
  final-state leg or anticolour of an initial-state leg) and once as a "crossed anticolour"
  (anticolour of a final-state leg or colour of an initial-state leg).
* A flow sigma joins every crossed-colour slot to a crossed-anticolour slot. A gluon's colour
  never joins its own anticolour (Tr T^a = 0).

Flow tensors. With all legs outgoing, a leg whose outgoing particle is a triplet has the row
(first fundamental) index of the UFO T(a,i,j), an antitriplet the column index. A line from
colour slot c to anticolour slot a is delta(colour index of c, anticolour index of a), and a
gluon with colour index k and anticolour index l becomes the adjoint index via sqrt(2) T^a_{lk}.
So for a quark line through gluons g1, g2, ... F = 2^{n/2} (T^{g1} T^{g2} ...)_{i j}, and a
closed gluon loop gives 2^{n/2} Tr(T^{g1} T^{g2} ...).

Decomposition. Every basis tensor of ``madgen.colour.basis`` is written exactly as
B_k = sum_sigma M[k][sigma] F_sigma, so that the flow amplitudes are
JAMPFLOW_sigma = sum_k M[k][sigma] JAMP_k. Flows are considered in a fixed order: fewest closed
gluon loops first (leading colour first), then lexicographically in the permutation. When the
flow tensors are linearly dependent (SU(3) relations; e.g. already for four gluons, where the
nine flows span an eight-dimensional space), the greedy maximal independent subset in that
order is used, so single-trace flows are always preferred to multi-trace ones. Flows whose
column of M is zero (e.g. the U(1)-like flow delta_ij Tr(T^a T^b) of g g > t t~) are dropped.
M is proven exact: B_k * den == sum_sigma (M den) F_sigma in integer arithmetic (or solved over
Q(i) with sympy and checked), in the rescaled basis of ``madgen.colour.tensors``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping, Sequence

import numpy as np
import sympy
from sympy import QQ_I
from sympy.polys.matrices import DomainMatrix

from madgen.colour.basis import (
    _EXACT_LIMIT,
    ColourBasis,
    ColourFactor,
    ColourInternalError,
    _contract,
    _greedy_basis,
    _rationalise,
    _round_integral,
    _sketch_rows,
    _TermTensor,
    _to_sympy,
    term_tensor,
)
from madgen.colour.tensors import SLOT_DIMS, elementary, parse_colour
from madgen.errors import UnsupportedFeature

FIRST_TAG = 501
"""First colour-line tag, as MadGraph writes them in LHE files."""


@dataclass(frozen=True)
class ColourFlows:
    """The colour flows of a process and the decomposition of its colour basis into them.

    ``flows[s][leg]`` is the (colour, anticolour) LHE tag pair of leg ``leg`` in flow s (0 for
    none; initial-state legs as in LHE: an incoming quark has a colour tag).
    ``matrix[k][s]`` is exact (sympy), B_k = sum_s matrix[k][s] F_s, F_s normalised with
    sqrt(2) T^a per gluon (see the module docstring).
    """

    reps: tuple[int, ...]  # signed colour representation of each leg's particle: 1, 3, -3 or 8
    n_initial: int
    flows: tuple[tuple[tuple[int, int], ...], ...]
    matrix: tuple[tuple[sympy.Expr, ...], ...]  # K x F
    leading: tuple[bool, ...] = ()  # per flow: leading colour for some B_k (see ``leading_flows``)


# ---------------------------------------------------------------------------
# Slots and flows.
# ---------------------------------------------------------------------------


def _slots(reps: Sequence[int], n_initial: int, process: str) -> tuple[list[int], list[int]]:
    """(legs with a crossed-colour slot, legs with a crossed-anticolour slot), in leg order."""
    colour, anticolour = [], []
    for leg, rep in enumerate(reps):
        rep = int(rep)
        if rep not in (1, 3, -3, 8):
            raise UnsupportedFeature(
                f"colour flows of '{process}': leg {leg + 1} is in the colour representation {rep}; "
                "only colour singlets, triplets, antitriplets and octets are supported "
                "(sextets are not)")
        crossed = -rep if leg < n_initial and rep in (3, -3) else rep
        if crossed in (3, 8):
            colour.append(leg)
        if crossed in (-3, 8):
            anticolour.append(leg)
    if len(colour) != len(anticolour):
        raise UnsupportedFeature(
            f"colour flows of '{process}': {len(colour)} colour and {len(anticolour)} anticolour "
            "lines cannot be paired (baryon-number-violating, epsilon-type colour structures "
            "are not supported)")
    return colour, anticolour


def _candidate_lines(reps, n_initial, process) -> list[tuple[tuple[int, int], ...]]:
    """All flows as lines ((colour leg, anticolour leg), ...), leading colour first."""
    colour, anticolour = _slots(reps, n_initial, process)
    out = []
    for perm in itertools.permutations(anticolour):
        if any(c == a for c, a in zip(colour, perm)):  # a gluon's colour on its own anticolour
            continue
        lines = tuple(zip(colour, perm))
        out.append((_closed_loops(lines, reps), perm, lines))
    out.sort(key=lambda x: (x[0], x[1]))
    return [lines for _, _, lines in out]


def _closed_loops(lines, reps) -> int:
    """Number of closed loops (made of gluons only) of a flow."""
    nxt = dict(lines)  # colour slot of a leg -> the leg holding the anticolour end
    seen: set[int] = set()
    loops = 0
    for start in nxt:
        if start in seen or int(reps[start]) != 8:
            continue
        leg = start
        while leg in nxt and leg not in seen and int(reps[leg]) == 8:
            seen.add(leg)
            leg = nxt[leg]
        if leg == start:
            loops += 1
    return loops


def _lhe_tags(lines, n_legs: int, n_initial: int) -> tuple[tuple[int, int], ...]:
    """Lines -> per-leg (colour, anticolour) LHE tags, numbered by first appearance in leg order."""
    start_of = {c: i for i, (c, _) in enumerate(lines)}  # crossed colour slot of a leg -> line
    end_of = {a: i for i, (_, a) in enumerate(lines)}  # crossed anticolour slot -> line
    number: dict[int, int] = {}

    def tag(line):
        if line is None:
            return 0
        return number.setdefault(line, FIRST_TAG + len(number))

    out = []
    for leg in range(n_legs):
        initial = leg < n_initial
        lhe_colour = end_of.get(leg) if initial else start_of.get(leg)
        lhe_anticolour = start_of.get(leg) if initial else end_of.get(leg)
        c = tag(lhe_colour)  # colour before anticolour: tags number in reading order
        out.append((c, tag(lhe_anticolour)))
    return tuple(out)


def _lines_from_tags(tags, reps, n_initial: int) -> tuple[tuple[int, int], ...]:
    """Inverse of ``_lhe_tags``: the lines of a flow given as per-leg LHE tags."""
    colour_leg, anticolour_leg = {}, {}
    for leg, (c, a) in enumerate(tags):
        crossed_c, crossed_a = (a, c) if leg < n_initial else (c, a)
        if crossed_c:
            colour_leg[int(crossed_c)] = leg
        if crossed_a:
            anticolour_leg[int(crossed_a)] = leg
    if set(colour_leg) != set(anticolour_leg):
        raise ValueError(f"colour tags {tags} do not form closed colour lines")
    return tuple(sorted((colour_leg[t], anticolour_leg[t]) for t in colour_leg))


# ---------------------------------------------------------------------------
# Flow tensors (rescaled basis of madgen.colour.tensors).
# ---------------------------------------------------------------------------


def _flow_raw(lines, reps) -> np.ndarray:
    """Flow tensor without the sqrt(2) per gluon and in the rescaled basis, times 2^{n_gluons}:
    a flat Gaussian-integer array over the coloured legs (leg order)."""
    two_t, _ = elementary("T")  # 2 T'^a_{ij}
    eye = np.eye(3, dtype=complex)
    ids = itertools.count()
    ext, colour_var, anticolour_var, ops = {}, {}, {}, []
    for leg, rep in enumerate(reps):
        rep = int(rep)
        if rep == 1:
            continue
        ext[leg] = next(ids)
        if rep == 8:  # sqrt2 T^a_{l k}: l the gluon's anticolour, k its colour
            colour_var[leg], anticolour_var[leg] = next(ids), next(ids)
            ops.append((two_t, (ext[leg], anticolour_var[leg], colour_var[leg])))
        else:
            colour_var[leg] = anticolour_var[leg] = ext[leg]
    for c, a in lines:
        ops.append((eye, (colour_var[c], anticolour_var[a])))
    out = tuple(ext[leg] for leg in sorted(ext))
    if not ops:
        return np.ones(1, complex)
    return np.asarray(_contract(ops, out), dtype=complex).reshape(-1)


def flow_tensor(reps: Sequence[int], n_initial: int, tags) -> np.ndarray:
    """F of a flow given by its per-leg LHE tags, as a float array in the rescaled basis of
    ``madgen.colour.tensors`` (flat over the coloured legs), comparable with ``basis_tensor``."""
    n_gluons = sum(1 for r in reps if int(r) == 8)
    return _flow_raw(_lines_from_tags(tags, reps, n_initial), reps) / 2.0 ** (n_gluons / 2)


def basis_tensor(tensor: _TermTensor) -> np.ndarray:
    """A term tensor (``madgen.colour.basis.term_tensor``) as a float array."""
    return tensor.raw * float(tensor.scale)


# ---------------------------------------------------------------------------
# Exact decomposition.
# ---------------------------------------------------------------------------


def _solve(basis_raw, basis_scales, flow_raw, rows):
    """Independent flows (indices) and X[k][j] (Fractions) with raw_k s_k = sum_j X R_{flow j}."""
    sub = flow_raw[:, rows]
    gram = _round_integral(sub.conj() @ sub.T, "a flow inner product")
    chosen = _greedy_basis(gram)
    if not chosen:
        return chosen, None
    sc = np.array([float(s) for s in basis_scales])
    rhs = _round_integral(sub[chosen].conj() @ basis_raw[:, rows].T, "a flow projection")  # (S, K)
    x_num = np.linalg.solve(gram[np.ix_(chosen, chosen)], rhs * sc[None, :]).T  # (K, S)
    x = [[_rationalise(complex(z)) for z in row] for row in x_num]
    if _verify(basis_raw, basis_scales, flow_raw[chosen], x):
        return chosen, x
    if len(rows) != flow_raw.shape[1]:
        return chosen, None
    # exact fallback over Q(i): normal equations on all coordinates
    k_dim, s_dim = len(basis_scales), len(chosen)
    g = DomainMatrix([[QQ_I(int(gram[i, j].real), int(gram[i, j].imag)) for j in chosen] for i in chosen],
                     (s_dim, s_dim), QQ_I)
    r = DomainMatrix([[QQ_I(Fraction(int(rhs[i, k].real)) * basis_scales[k],
                            Fraction(int(rhs[i, k].imag)) * basis_scales[k]) for k in range(k_dim)]
                      for i in range(s_dim)], (s_dim, k_dim), QQ_I)
    sol = g.lu_solve(r).to_list()
    x = [[(Fraction(int(sol[j][k].x.numerator), int(sol[j][k].x.denominator)),
           Fraction(int(sol[j][k].y.numerator), int(sol[j][k].y.denominator))) for j in range(s_dim)]
         for k in range(k_dim)]
    if not _verify(basis_raw, basis_scales, flow_raw[chosen], x, exact=True):
        raise ColourInternalError("madgen.colour: a colour basis tensor is not a combination of colour flows")
    return chosen, x


def _verify(basis_raw, basis_scales, chosen_raw, x, exact=False) -> bool:
    """Check raw_k s_k * den_k == sum_j (X_kj den_k) R_j exactly (integer-valued float64 or,
    with ``exact``, Python integers when float64 could overflow)."""
    for k, row in enumerate(x):
        a = [(re / basis_scales[k], im / basis_scales[k]) for re, im in row]  # raw_k = sum a_j R_j
        den = 1
        for re, im in a:
            den = math.lcm(den, re.denominator, im.denominator)
        coeffs = [(int(re * den), int(im * den)) for re, im in a]
        bound = (sum(abs(c) + abs(d) for c, d in coeffs) * float(np.max(np.abs(chosen_raw), initial=1.0))
                 + den * float(np.max(np.abs(basis_raw[k]), initial=1.0)))
        if bound < _EXACT_LIMIT:
            lhs = basis_raw[k] * den
            rhs = np.array([complex(c, d) for c, d in coeffs]) @ chosen_raw
            if not np.array_equal(lhs, rhs):
                return False
        elif exact:
            re_r, im_r = chosen_raw.real.astype(object), chosen_raw.imag.astype(object)
            cr = np.array([c for c, _ in coeffs], dtype=object)
            ci = np.array([d for _, d in coeffs], dtype=object)
            rhs_re, rhs_im = cr @ re_r - ci @ im_r, cr @ im_r + ci @ re_r
            if not (np.array_equal(basis_raw[k].real.astype(object) * den, rhs_re)
                    and np.array_equal(basis_raw[k].imag.astype(object) * den, rhs_im)):
                return False
        else:
            return False
    return True


def colour_flows(reps: Sequence[int], n_initial: int, basis_tensors: Sequence[_TermTensor],
                 process: str = "") -> ColourFlows:
    """Colour flows and the exact K x F decomposition matrix of the basis tensors {B_k}.

    ``reps``: signed colour representation (1, 3, -3, 8) of each leg's particle as written in
    the process (not crossed); ``basis_tensors``: B_k as returned by ``term_tensor`` for the
    basis terms, over the coloured legs in leg order. A colourless process has one flow with
    every tag 0. Flows that do not occur in any B_k are left out (F = 0 if K = 0).
    """
    reps = tuple(int(r) for r in reps)
    n_legs = len(reps)
    candidates = _candidate_lines(reps, n_initial, process)
    if not basis_tensors:
        return ColourFlows(reps, n_initial, (), (), ())
    basis_raw = np.array([t.raw for t in basis_tensors])
    scales = [t.scale for t in basis_tensors]
    flow_raw = np.array([_flow_raw(lines, reps) for lines in candidates])
    if flow_raw.shape[1] != basis_raw.shape[1]:
        raise ColourInternalError(
            f"madgen.colour: flow tensors of '{process}' have {flow_raw.shape[1]} components, "
            f"the basis tensors {basis_raw.shape[1]}")
    amax = float(max(np.max(np.abs(flow_raw)), 1.0))
    if amax * amax * flow_raw.shape[1] * 2 >= _EXACT_LIMIT:
        raise ColourInternalError("madgen.colour: flow inner products too large for exact float64")
    rows = _sketch_rows(np.concatenate([basis_raw, flow_raw]), 1024 + 8 * len(candidates))
    chosen, x = _solve(basis_raw, scales, flow_raw, rows)
    if x is None:  # the sketch lost rank or the rationalisation failed: all coordinates
        chosen, x = _solve(basis_raw, scales, flow_raw, np.arange(flow_raw.shape[1]))
    n_gluons = sum(1 for r in reps if r == 8)
    root2 = sympy.sqrt(2) ** n_gluons  # F = R / 2^{n/2}, so M = X 2^{n/2}
    keep = [j for j in range(len(chosen)) if any(x[k][j] != (0, 0) for k in range(len(x)))]
    flows = tuple(_lhe_tags(candidates[chosen[j]], n_legs, n_initial) for j in keep)
    matrix = tuple(tuple(sympy.expand(_to_sympy(*x[k][j]) * root2) for j in keep) for k in range(len(x)))
    return ColourFlows(reps, n_initial, flows, matrix, leading_flows(matrix))


def leading_flows(matrix) -> tuple[bool, ...]:
    """Per flow: whether it is a leading-colour flow of some basis tensor B_k.

    Each B_k is one term's colour factor (a product of vertex colour strings), so its flow
    coefficients are, up to a common factor, (-1/N)^m for a flow reached with m subleading
    (U(1)) pieces of the Fierz identity: the leading flows of B_k are those whose |M[k][f]| is
    the largest in row k. A flow that is subleading in every B_k (e.g. the
    delta_{u u~} delta_{d d~} flow of u u~ > d d~ through an s-channel gluon) is never chosen
    for LHE colour lines, as in MadGraph.
    """
    if not matrix:
        return ()
    out = [False] * len(matrix[0])
    for row in matrix:
        size = [abs(complex(sympy.N(v, 30))) for v in row]
        top = max(size)
        if top == 0:
            continue
        for f, s in enumerate(size):
            if s >= top * (1 - 1e-12):
                out[f] = True
    return tuple(out)


# ---------------------------------------------------------------------------
# From the compiler's data.
# ---------------------------------------------------------------------------


def infer_index_dims(factors: Sequence[ColourFactor], external_dims: Sequence[int]) -> dict[int, int]:
    """Dimension of every colour label of the given colour factors, from the tensors they enter
    (T, f, d, ...) and Identity chains; external legs from ``external_dims`` (leg order)."""
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    known: dict = {}
    for leg, d in enumerate(external_dims, start=1):
        if abs(int(d)) != 1:
            known[("label", leg)] = abs(int(d))
    for n, cf in enumerate(factors):
        for f, (string, labels) in enumerate(cf.factors):
            for m, mono in enumerate(parse_colour(string)):
                def node(a):
                    return ("label", labels[a - 1]) if a > 0 else ("dummy", n, f, m, a)
                for name, args in mono.factors:
                    if name == "Identity":
                        ra, rb = find(node(args[0])), find(node(args[1]))
                        if ra != rb:
                            parent[ra] = rb
                    else:
                        for a, d in zip(args, SLOT_DIMS[name]):
                            known.setdefault(node(a), d)
    dims: dict[int, int] = {}
    by_root = {}
    for key, d in known.items():
        by_root.setdefault(find(key), d)
    for key in list(parent) + list(known):
        if key[0] == "label" and find(key) in by_root:
            dims[key[1]] = by_root[find(key)]
    return dims


def subprocess_colour_flows(reps: Sequence[int], n_initial: int, basis: ColourBasis,
                            terms: Sequence[ColourFactor], index_dims: Mapping[int, int] | None = None,
                            process: str = "") -> ColourFlows:
    """``colour_flows`` for a compiled subprocess: the basis tensors are the colour tensors of
    the terms ``basis.basis_terms`` (``terms``: every amplitude term's colour factor)."""
    _slots(reps, n_initial, process)  # unsupported representations first, with a clear message
    dims = tuple(abs(int(r)) for r in reps)
    factors = [terms[t] for t in basis.basis_terms]
    if index_dims is None:
        index_dims = infer_index_dims(factors, dims)
    tensors = [term_tensor(cf, dims, index_dims) for cf in factors]
    return colour_flows(reps, n_initial, tensors, process)
