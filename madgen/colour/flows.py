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
closed gluon loop gives 2^{n/2} Tr(T^{g1} T^{g2} ...). These are exactly the networks of
``madgen.colour.algebra`` (a gluon's colour end is its k, its anticolour end its l).

Decomposition. Every basis tensor of ``madgen.colour.basis`` is written exactly as
B_k = sum_sigma M[k][sigma] F_sigma, so that the flow amplitudes are
JAMPFLOW_sigma = sum_k M[k][sigma] JAMP_k. Flows are considered in a fixed order: fewest closed
gluon loops first (leading colour first), then lexicographically in the permutation. When the
flow tensors are linearly dependent (SU(3) relations; e.g. already for four gluons, where the
nine flows span an eight-dimensional space), the greedy maximal independent subset in that
order is used, so single-trace flows are always preferred to multi-trace ones. Flows whose
column of M is zero (e.g. the U(1)-like flow delta_ij Tr(T^a T^b) of g g > t t~) are dropped.
M is exact: the algebra expands B_k into flows with exact coefficients, the chosen flows are
proven independent (their Gram matrix has full rank modulo a prime) and every other flow that
occurs is proven to be the stated combination of them (a vanishing squared norm, in integers).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Mapping, Sequence

import sympy

from madgen.colour.algebra import FIRST, FUNDAMENTAL, SECOND, gram
from madgen.colour.basis import ColourBasis, ColourFactor, factor_expansion, network_coordinates
from madgen.colour.exact import ColourInternalError, span_of, to_sympy
from madgen.colour.tensors import SLOT_DIMS, parse_colour
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
    leading: tuple[bool, ...] = ()  # per flow: leading colour for some B_k (see ``_leading``)


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


# ---------------------------------------------------------------------------
# Exact decomposition.
# ---------------------------------------------------------------------------


def _line_network(lines, reps) -> tuple:
    """The algebra network (pairs of external ends) of a flow given by its lines."""
    pairs = []
    for c, a in lines:
        colour_end = (c + 1, FIRST if int(reps[c]) == 8 else FUNDAMENTAL)
        anticolour_end = (a + 1, SECOND if int(reps[a]) == 8 else FUNDAMENTAL)
        pairs.append(tuple(sorted((colour_end, anticolour_end))))
    return tuple(sorted(pairs)), ()


def colour_flows(reps: Sequence[int], n_initial: int, factors: Sequence[ColourFactor],
                 index_dims: Mapping[int, int], process: str = "") -> ColourFlows:
    """Colour flows and the exact K x F decomposition matrix of the basis tensors {B_k}.

    ``reps``: signed colour representation (1, 3, -3, 8) of each leg's particle as written in
    the process (not crossed); ``factors``: the colour factors of the basis terms (B_k), whose
    labels have the dimensions ``index_dims``. A colourless process has one flow with every tag 0.
    Flows that do not occur in any B_k are left out (F = 0 if K = 0).
    """
    reps = tuple(int(r) for r in reps)
    n_legs = len(reps)
    candidates = _candidate_lines(reps, n_initial, process)
    if not factors:
        return ColourFlows(reps, n_initial, (), (), ())
    dims = tuple(abs(r) for r in reps)
    expansions = [factor_expansion(cf, dims, index_dims) for cf in factors]
    position = {_line_network(lines, reps): j for j, lines in enumerate(candidates)}
    needed = sorted({net for values, _ in expansions for net in values}, key=lambda net: position.get(net, -1))
    if needed and needed[0] not in position:
        raise ColourInternalError(f"madgen.colour: a colour tensor of '{process}' is not a combination of "
                                  f"colour flows (network {needed[0]})")
    considered = candidates[:position[needed[-1]] + 1] if needed else []
    networks = [_line_network(lines, reps) for lines in considered]
    g_full, den = gram(networks, networks, dims)
    span = span_of(g_full, den, [position[net] for net in needed])
    rows = [{k: (Fraction(re, den), Fraction(im, den)) for k, (re, im) in entries.items()}
            for entries, den in network_coordinates(expansions, span, networks)]
    keep = sorted({k for row in rows for k in row})
    flows = tuple(_lhe_tags(considered[span.chosen[j]], n_legs, n_initial) for j in keep)
    n_gluons = sum(1 for r in reps if r == 8)
    zero = (Fraction(0), Fraction(0))
    dense = [[row.get(j, zero) for j in keep] for row in rows]
    matrix = tuple(tuple(_flow_coefficient(x, n_gluons) for x in row) for row in dense)
    leading = _leading(dense)
    return ColourFlows(reps, n_initial, flows, matrix, leading)


@lru_cache(maxsize=4096)
def _flow_coefficient(x: tuple[Fraction, Fraction], n_gluons: int) -> sympy.Expr:
    """M = x 2^{-n_gluons/2}: the network coefficients leave out 1/sqrt2 per external gluon."""
    half = Fraction(1, 2 ** ((n_gluons + 1) // 2))
    value = to_sympy(x[0] * half, x[1] * half)
    return sympy.expand(value * sympy.sqrt(2)) if n_gluons % 2 else value


def _leading(rows) -> tuple[bool, ...]:
    """Per flow: whether it is a leading-colour flow of some basis tensor B_k.

    Each B_k is one term's colour factor (a product of vertex colour strings), so its flow
    coefficients are, up to a common factor, (-1/N)^m for a flow reached with m subleading
    (U(1)) pieces of the Fierz identity: the leading flows of B_k are those whose |M[k][f]| is
    the largest in row k (compared exactly). A flow that is subleading in every B_k (e.g. the
    delta_{u u~} delta_{d d~} flow of u u~ > d d~ through an s-channel gluon) is never chosen
    for LHE colour lines, as in MadGraph.
    """
    if not rows:
        return ()
    out = [False] * len(rows[0])
    for row in rows:
        size = [re * re + im * im for re, im in row]
        top = max(size, default=0)
        if top == 0:
            continue
        for f, s in enumerate(size):
            if s == top:
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
    return colour_flows(reps, n_initial, factors, index_dims, process)
