"""Exact SU(3) colour algebra in the colour-flow (double-line) representation.

Every colour index is traded for ends of fundamental lines, so that any product of UFO colour
tensors becomes a sum of products of Kronecker deltas ('t Hooft's double lines, Cvitanovic's
birdtracks):

* a triplet index is one line end (role ``FUNDAMENTAL``);
* an adjoint index a is two ends, colour k (``FIRST``) and anticolour l (``SECOND``), through
  sqrt2 T^a_{lk}:  T^a_{ij} -> delta_{li} delta_{kj} / sqrt2.  With f^{abc} = -2i Tr([T^a,T^b] T^c),
  d^{abc} = 2 Tr({T^a,T^b} T^c) and delta^{ab} = 2 Tr(T^a T^b), every adjoint tensor is deltas.
  Summing an adjoint index is the Fierz identity
      sum_a (sqrt2 T^a_{lk}) (sqrt2 T^a_{l'k'}) = delta_{lk'} delta_{l'k} - delta_{lk} delta_{l'k'} / N,
  whose 1/N term cancels when either side is an f (a trace over a commutator);
* a sextet index m is two ends (s1, s2) through K6_m^{s1 s2}:  K6_m^{ij} -> delta_{s1 i} delta_{s2 j};
  summing it: sum_m K6_m^{ij} K6Bar_m^{kl} = (delta_ik delta_jl + delta_il delta_jk) / 2, and
  T6^a_{mn} = 2 K6_m^{ij} T^a_{jk} K6Bar_n^{ki} (MadGraph's normalisation);
* Epsilon_{ijk} (numerically equal to EpsilonBar^{ijk}) is a node with three ends; two of them
  reduce to eps_{ijk} eps_{lmn} = det[delta].

A closed line is a factor N = 3. A term's colour tensor is then a finite sum of *networks* --
a perfect matching of its external ends, plus at most one epsilon -- with exact Gaussian-rational
coefficients. The 1/sqrt2 of each adjoint end is kept out of the coefficients: an internal
adjoint index contributes 1/2 (two ends), each external gluon a common 1/sqrt2 per term, left
implicit. The tensor itself is recovered by the leg maps: sqrt2 T^a_{lk} on each gluon (it
projects out the trace of the gluon's pair of ends: P = 1 - E/N) and K6_m^{s1 s2} on each sextet
(it symmetrises: S = (1 + swap)/2). A network in which a gluon's colour end meets its own
anticolour end is annihilated by P and dropped.

Inner products (``gram``):  <A|B> = <A| prod_gluons P prod_sextets S |B>, a sum of N^(closed
loops), exact integers over N^{n_gluons} 2^{n_sextets}.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
from sympy import QQ_I

from madgen.colour.tensors import string_monomials

N_COLOURS = 3
FUNDAMENTAL, FIRST, SECOND = 0, 1, 2
"""End roles: a triplet index; an adjoint colour (k) or sextet first end; an adjoint anticolour (l)
or sextet second end."""


def end_roles(dim: int) -> tuple[int, ...]:
    """Roles of the line ends of an index of dimension ``dim`` (1: none)."""
    return {1: (), 3: (FUNDAMENTAL,), 8: (FIRST, SECOND), 6: (FIRST, SECOND)}[dim]


# ---------------------------------------------------------------------------
# Elementary tensors as deltas.
# ---------------------------------------------------------------------------


def _elementary(name: str, args: tuple, dim: int) -> tuple[tuple[complex, tuple, tuple], ...]:
    """Expansion of one elementary tensor: ((Gaussian-integer coefficient, pairs of ends, epsilon ends), ...).

    Ends are (index, role). ``dim`` is the dimension of an Identity's indices.
    """
    if name == "T":  # T^a_{ij} -> delta_{l_a i} delta_{k_a j}  (times 1/sqrt2, implicit)
        a, i, j = args
        return ((1, (((a, SECOND), (i, FUNDAMENTAL)), ((a, FIRST), (j, FUNDAMENTAL))), ()),)
    if name in ("f", "d"):
        a, b, c = args  # Tr(T^a T^b T^c) and Tr(T^b T^a T^c)
        abc = (((a, FIRST), (b, SECOND)), ((b, FIRST), (c, SECOND)), ((c, FIRST), (a, SECOND)))
        bac = (((b, FIRST), (a, SECOND)), ((a, FIRST), (c, SECOND)), ((c, FIRST), (b, SECOND)))
        if name == "f":  # -2i Tr([T^a, T^b] T^c)
            return ((-2j, abc, ()), (2j, bac, ()))
        return ((2, abc, ()), (2, bac, ()))  # 2 Tr({T^a, T^b} T^c)
    if name == "Identity":
        a, b = args
        if dim == 3:
            return ((1, (((a, FUNDAMENTAL), (b, FUNDAMENTAL)),), ()),)
        if dim == 8:  # delta^{ab} = 2 Tr(T^a T^b)
            return ((2, (((a, FIRST), (b, SECOND)), ((b, FIRST), (a, SECOND))), ()),)
        # sextet: delta_mn = K6_m^{ij} K6Bar_n^{ij}
        return ((1, (((a, FIRST), (b, FIRST)), ((a, SECOND), (b, SECOND))), ()),)
    if name in ("K6", "K6Bar"):
        m, i, j = args
        return ((1, (((m, FIRST), (i, FUNDAMENTAL)), ((m, SECOND), (j, FUNDAMENTAL))), ()),)
    if name == "T6":  # 2 K6_m^{ij} T^a_{jk} K6Bar_n^{ki}
        a, m, n = args
        return ((2, (((m, FIRST), (n, SECOND)), ((m, SECOND), (a, SECOND)), ((a, FIRST), (n, FIRST))), ()),)
    if name in ("Epsilon", "EpsilonBar"):
        i, j, k = args
        return ((1, (), ((i, FUNDAMENTAL), (j, FUNDAMENTAL), (k, FUNDAMENTAL))),)
    raise AssertionError(name)  # string_monomials rejects every other name


_TRACELESS = {"f"}
"""Tensors whose expansion is traceless in each adjoint end pair: no 1/N Fierz term is needed
when one of the two occurrences of a summed adjoint index is in one of them."""


# ---------------------------------------------------------------------------
# Resolving a product of deltas: follow lines from end to end, count closed loops.
# ---------------------------------------------------------------------------


def _resolve(n_nodes: int, edges: list, eps: tuple | None):
    """Contract a product of deltas (``edges``: pairs of node ids < ``n_nodes``) and at most one
    epsilon (``eps``: the three nodes its legs attach to, or None). Every node meets one
    (a terminal: an external end) or two of them (an index summed over).

    Returns (pairs of terminal ids, the terminals of the epsilon's legs in leg order or None,
    number of closed loops), or None if the product vanishes (an epsilon contracted with itself).
    The epsilon's legs are the extra nodes n_nodes, n_nodes + 1, n_nodes + 2.
    """
    size = n_nodes + 3
    first, second = [-1] * size, [-1] * size
    links = edges if eps is None else list(edges) + [(node, n_nodes + k) for k, node in enumerate(eps)]
    for a, b in links:
        if first[a] < 0:
            first[a] = b
        elif second[a] < 0:
            second[a] = b
        else:
            raise AssertionError("colour network node of degree > 2")
        if first[b] < 0:
            first[b] = a
        elif second[b] < 0:
            second[b] = a
        else:
            raise AssertionError("colour network node of degree > 2")
    seen = [False] * size
    pairs, eps_end = [], [None, None, None]
    for start in range(size):
        if seen[start] or first[start] < 0 or second[start] >= 0:
            continue  # seen, absent, or not a terminal
        seen[start] = True
        previous, node = start, first[start]
        while second[node] >= 0:
            seen[node] = True
            previous, node = node, (second[node] if first[node] == previous else first[node])
        seen[node] = True
        if start >= n_nodes and node >= n_nodes:
            return None  # two legs of one epsilon joined: eps_{..i..i..} = 0
        if start >= n_nodes:
            eps_end[start - n_nodes] = node
        elif node >= n_nodes:
            eps_end[node - n_nodes] = start
        else:
            pairs.append((start, node))
    loops = 0
    for start in range(size):
        if seen[start] or first[start] < 0:
            continue
        loops += 1  # a closed loop: every node on it has degree two
        previous, node = -1, start
        while not seen[node]:
            seen[node] = True
            previous, node = node, (second[node] if first[node] == previous and second[node] >= 0 else first[node])
    return pairs, (tuple(eps_end) if eps is not None else None), loops


def _determinants(eps_nodes: list):
    """eps_{a0 a1 a2} eps_{b0 b1 b2} = sum_pi sign(pi) prod_i delta(a_i, b_pi(i)), applied to pairs
    of epsilons until at most one is left: yields (sign, extra edges, remaining epsilon nodes)."""
    if len(eps_nodes) < 2:
        yield 1, [], list(eps_nodes)
        return
    (a, b), rest = eps_nodes[:2], eps_nodes[2:]
    for perm, sign in _PERMUTATIONS_3:
        for sub_sign, sub_edges, remaining in _determinants(rest):
            yield sign * sub_sign, [(a[i], b[perm[i]]) for i in range(3)] + sub_edges, remaining


_PERMUTATIONS_3 = (((0, 1, 2), 1), ((1, 2, 0), 1), ((2, 0, 1), 1), ((0, 2, 1), -1), ((2, 1, 0), -1), ((1, 0, 2), -1))


def _sorted_with_sign(ends: tuple) -> tuple[tuple, int]:
    """(ends sorted, sign of the sorting permutation) for the ends of an antisymmetric epsilon."""
    order = sorted(range(3), key=lambda k: ends[k])
    sign = dict(_PERMUTATIONS_3)[tuple(order)]
    return tuple(ends[k] for k in order), sign


# ---------------------------------------------------------------------------
# A term's colour factor as a sum of networks.
# ---------------------------------------------------------------------------


def label_dim(label, index_dims: Mapping[int, int], external_dims: Sequence[int]) -> int:
    """|dimension| of a global label (1 = colourless, no index; also for labels not in index_dims)."""
    if label in index_dims:
        return abs(int(index_dims[label]))
    if 1 <= label <= len(external_dims):
        return abs(int(external_dims[label - 1]))
    return 1


def _factor_monomials(cf_factors, external_dims, index_dims):
    """Per factor: its string's monomials with global labels (slot k -> labels[k-1], a dummy a of
    factor n -> ('dummy', n, a)), as (coefficient, ((name, args, identity dim), ...), {index: dim})."""
    per_factor, counts = [], {}
    for n, (string, labels) in enumerate(cf_factors):
        slot_dims = tuple((k + 1, d) for k, lab in enumerate(labels)
                          if (d := label_dim(lab, index_dims, external_dims)) != 1)
        slots, monomials = string_monomials(string, slot_dims)
        for k in slots:
            counts[labels[k - 1]] = counts.get(labels[k - 1], 0) + 1

        def glob(a, labels=labels, n=n):
            return labels[a - 1] if a > 0 else ("dummy", n, a)

        per_factor.append([
            (coeff, tuple((name, tuple(glob(a) for a in args), dims[args[0]]) for name, args in factors),
             {glob(a): d for a, d in dims.items()})
            for coeff, factors, dims in monomials])
    return per_factor, counts


def _check_labels(cf_factors, counts: dict, external_dims: Sequence[int]) -> None:
    n = len(external_dims)
    for lab, c in counts.items():
        want = 1 if 1 <= lab <= n else 2
        if c != want:
            raise ValueError(f"colour label {lab} appears {c} times in {cf_factors}, expected {want}")
        if lab > n or lab == 0:
            raise ValueError(f"colour label {lab} is neither an external leg nor negative")
    missing = [leg for leg in range(1, n + 1) if abs(int(external_dims[leg - 1])) != 1 and leg not in counts]
    if missing:
        raise ValueError(f"external coloured legs {missing} carry no colour index in {cf_factors}")


def _links(label, dim: int, traceless: bool):
    """Options for summing an index over its two occurrences (occ 0, 1): (weight, exponent of
    1/2, exponent of 1/N, edges between (index, role, occ) nodes)."""
    def node(role, occ):
        return (label, role, occ)
    if dim == 3:
        return ((1, 0, 0, ((node(FUNDAMENTAL, 0), node(FUNDAMENTAL, 1)),)),)
    if dim == 8:  # 1/2 (delta_{l k'} delta_{l' k} - delta_{lk} delta_{l'k'} / N)
        plain = (1, 1, 0, ((node(SECOND, 0), node(FIRST, 1)), (node(FIRST, 0), node(SECOND, 1))))
        if traceless:
            return (plain,)
        return (plain, (-1, 1, 1, ((node(FIRST, 0), node(SECOND, 0)), (node(FIRST, 1), node(SECOND, 1)))))
    # sextet: 1/2 (delta delta + delta delta)
    return ((1, 1, 0, ((node(FIRST, 0), node(FIRST, 1)), (node(SECOND, 0), node(SECOND, 1)))),
            (1, 1, 0, ((node(FIRST, 0), node(SECOND, 1)), (node(SECOND, 0), node(FIRST, 1)))))


_MAX_COEFFICIENT = 2.0 ** 50
"""Branch coefficients are products of small Gaussian integers held in Python complex numbers:
exact while below 2^53; larger ones raise instead of rounding."""


def _monomial_networks(elementaries, dims: dict, external: set, sextets: set):
    """Networks of one product of elementary tensors: ({network: Gaussian-integer complex}, h, n),
    the coefficients being over the common denominator 2^h N^n of all its branches."""
    occurrence: dict = {}
    traceless: dict = {}
    ids: dict = {}

    def nid(node):
        return ids.setdefault(node, len(ids))

    expansions = []
    for name, args, identity_dim in elementaries:
        if len(set(args)) != len(args):
            raise ValueError(f"colour label repeated within one tensor {name}{args}")
        occ = {}
        for a in args:
            occ[a] = occurrence.get(a, 0)
            occurrence[a] = occ[a] + 1
            if name in _TRACELESS:
                traceless[a] = True
        expansions.append(tuple(
            (c, tuple((nid((x, rx, occ[x])), nid((y, ry, occ[y]))) for (x, rx), (y, ry) in pairs),
             tuple(nid((x, rx, occ[x])) for x, rx in eps))
            for c, pairs, eps in _elementary(name, args, identity_dim)))
    internal = sorted((a for a, c in occurrence.items() if c == 2), key=repr)
    links = []
    for a in internal:
        links.append(tuple((w, h, n, tuple((nid(x), nid(y)) for x, y in edges))
                           for w, h, n, edges in _links(a, dims[a], traceless.get(a, False))))
    end_of = {i: (label, role) for (label, role, _), i in ids.items() if label in external}
    n_nodes = len(ids)
    max_half = sum(1 for a in internal if dims[a] != 3)
    max_n = sum(1 for options in links if len(options) == 2 and options[1][2] == 1)
    total: dict = {}
    n_elem = len(expansions)
    for choice in itertools.product(*expansions, *links):
        coeff = 1
        edges, eps_nodes = [], []
        for c, pairs, eps in choice[:n_elem]:
            coeff *= c
            edges.extend(pairs)
            if eps:
                eps_nodes.append(eps)
        n_power = max_n
        for weight, _, inv_n, link_edges in choice[n_elem:]:
            coeff *= weight
            n_power -= inv_n
            edges.extend(link_edges)
        for sign, extra, remaining in _determinants(eps_nodes):
            resolved = _resolve(n_nodes, edges + extra, remaining[0] if remaining else None)
            if resolved is None:
                continue
            pairs, eps, loops = resolved
            net = _network(pairs, eps, end_of, sextets)
            if net is None:
                continue
            key, net_sign = net
            value = coeff * sign * net_sign * N_COLOURS ** (loops + n_power)
            if abs(value) >= _MAX_COEFFICIENT:
                raise ArithmeticError("colour network coefficient too large for exact arithmetic")
            total[key] = total.get(key, 0) + value
    return {k: v for k, v in total.items() if v != 0}, max_half, max_n


def _network(pairs, eps, end_of: dict, sextets: set):
    """Canonical (network, sign) from resolved terminal pairs, or None if the gluon projector
    annihilates it (a gluon's colour end joined to its own anticolour end)."""
    out = []
    for x, y in pairs:
        a, b = end_of[x], end_of[y]
        if a[0] == b[0] and a[1] != b[1] and a[0] not in sextets:
            return None
        out.append((a, b) if a < b else (b, a))
    sign = 1
    eps_ends = ()
    if eps is not None:
        eps_ends, sign = _sorted_with_sign(tuple(end_of[e] for e in eps))
    return (tuple(sorted(out)), eps_ends), sign


def expand_colour_factor(cf_factors, external_dims: Sequence[int], index_dims: Mapping[int, int]):
    """A term's colour factor (``ColourFactor.factors``) as ({network: (re, im)}, den): exact
    coefficients (re + i im) / den with Python integers.

    Networks are over the external ends (leg, role) and canonical under the sextet symmetry; the
    common 1/sqrt2 per external gluon is left out (see the module docstring).
    """
    per_factor, counts = _factor_monomials(cf_factors, external_dims, index_dims)
    _check_labels(cf_factors, counts, external_dims)
    external = {leg for leg in range(1, len(external_dims) + 1) if abs(int(external_dims[leg - 1])) != 1}
    sextets = {leg for leg in external if abs(int(external_dims[leg - 1])) == 6}
    parts = []  # (numerator re, im, denominator, {network: complex})
    for monomials in itertools.product(*per_factor):
        coeff = QQ_I.one
        elementaries, dims = [], {}
        for c, elems, d in monomials:
            coeff *= c
            elementaries.extend(elems)
            dims.update(d)
        values, halves, inv_n = _monomial_networks(elementaries, dims, external, sextets)
        re, im = Fraction(int(coeff.x.numerator), int(coeff.x.denominator)), \
            Fraction(int(coeff.y.numerator), int(coeff.y.denominator))
        q = math.lcm(re.denominator, im.denominator)
        parts.append((int(re * q), int(im * q), q * 2 ** halves * N_COLOURS ** inv_n, values))
    den = math.lcm(*(q for _, _, q, _ in parts)) if parts else 1
    result: dict = {}
    for a, b, q, values in parts:
        m = den // q
        for key, v in values.items():
            vr, vi = int(v.real), int(v.imag)
            re, im = result.get(key, (0, 0))
            result[key] = (re + m * (a * vr - b * vi), im + m * (a * vi + b * vr))
    result = canonical_sextets(result, sorted(sextets))
    return {k: v for k, v in result.items() if v != (0, 0)}, den


def canonical_sextets(networks: dict, sextets: Sequence[int]) -> dict:
    """Merge networks that the sextet legs' symmetriser S maps to the same tensor (their two
    ends exchanged), keeping the smallest form; drop those S annihilates (antisymmetric in them).
    Coefficients are (re, im) integer pairs."""
    if not sextets:
        return networks
    out: dict = {}
    for net, (re, im) in networks.items():
        images = {}
        for mask in range(2 ** len(sextets)):
            image, sign = _swap_ends(net, [m for k, m in enumerate(sextets) if mask >> k & 1])
            if images.get(image, sign) != sign:
                images = None
                break
            images[image] = sign
        if images is None:
            continue
        best = min(images)
        old = out.get(best, (0, 0))
        out[best] = (old[0] + images[best] * re, old[1] + images[best] * im)
    return out


def _swap_ends(net, labels):
    """The network with the two ends of each sextet label in ``labels`` exchanged, and the sign
    picked up by a re-sorted epsilon."""
    swap = {}
    for m in labels:
        swap[(m, FIRST)], swap[(m, SECOND)] = (m, SECOND), (m, FIRST)
    pairs, eps = net
    new_pairs = []
    for a, b in pairs:
        a, b = swap.get(a, a), swap.get(b, b)
        new_pairs.append((a, b) if a < b else (b, a))
    sign = 1
    if eps:
        eps, sign = _sorted_with_sign(tuple(swap.get(e, e) for e in eps))
    return (tuple(sorted(new_pairs)), eps), sign


# ---------------------------------------------------------------------------
# Gram matrix of networks.
# ---------------------------------------------------------------------------


def external_ends(external_dims: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """The external ends (leg, role) in leg order."""
    return tuple((leg, role) for leg, d in enumerate(external_dims, start=1) for role in end_roles(abs(int(d))))


def gram(rows: Sequence, cols: Sequence, external_dims: Sequence[int]) -> tuple[np.ndarray, int]:
    """<row network| prod P prod S |column network> as an exact integer array G and denominator q
    (inner product = G / q, q = N^{n_gluons} 2^{n_sextets}).

    Evaluated once for the set of all networks involved (cached: the basis and the flow stages
    share it) and indexed; G is read-only.
    """
    dims = tuple(abs(int(d)) for d in external_dims)
    union = tuple(sorted(set(rows) | set(cols)))
    full, q = _symmetric_gram(union, dims)
    position = {net: i for i, net in enumerate(union)}
    out = full[np.ix_([position[r] for r in rows], [position[c] for c in cols])]
    out.setflags(write=False)
    return out, q


@lru_cache(maxsize=8)
def _symmetric_gram(networks: tuple, dims: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """The Gram matrix of ``networks`` (sorted, distinct): networks without epsilons through a
    vectorised evaluation (involutions of the ends as integer arrays), the others directly.
    The matrix is real symmetric (P and S are self-adjoint), so only i <= j is evaluated."""
    gluons = [leg for leg, d in enumerate(dims, start=1) if d == 8]
    sextets = [leg for leg, d in enumerate(dims, start=1) if d == 6]
    q = N_COLOURS ** len(gluons) * 2 ** len(sextets)
    ends = external_ends(dims)
    n = len(networks)
    if not ends:  # colourless: the empty network, <|> = 1
        return np.ones((n, n), dtype=np.int64), q
    upper_i, upper_j = np.triu_indices(n)
    if any(net[1] for net in networks):
        values = np.array([_gram_direct(networks[i], networks[j], ends, gluons, sextets)
                           for i, j in zip(upper_i, upper_j)], dtype=object)
        full = np.zeros((n, n), dtype=object)
    else:
        values = _gram_vectorised(networks, upper_i, upper_j, ends, gluons, sextets)
        full = np.zeros((n, n), dtype=np.int64)
    full[upper_i, upper_j] = values
    full[upper_j, upper_i] = values
    full.setflags(write=False)
    return full, q


def _involutions(nets, index) -> np.ndarray:
    out = np.empty((len(nets), len(index)), dtype=np.int64)
    for r, (pairs, _) in enumerate(nets):
        for a, b in pairs:
            out[r, index[a]], out[r, index[b]] = index[b], index[a]
    return out


def _count_cycles(perm: np.ndarray) -> np.ndarray:
    """Number of cycles of each permutation (rows of a 2-d array), by pointer doubling: after
    j rounds label[i] is the smallest element among the first 2^j images of i."""
    rows, size = perm.shape
    offset = (np.arange(rows, dtype=np.int64) * size)[:, None]
    label = np.broadcast_to(np.arange(size, dtype=perm.dtype), perm.shape).ravel().copy()
    step = perm.ravel().copy()
    for _ in range(max(1, int(np.ceil(np.log2(max(size, 2))))) + 1):
        flat = (step.reshape(rows, size) + offset).ravel()
        label = np.minimum(label, label[flat])
        step = step[flat]
    return np.sum(label.reshape(rows, size) == np.arange(size), axis=1)


def _gram_vectorised(networks, upper_i, upper_j, ends, gluons, sextets) -> np.ndarray:
    """Entries (i, j) of the Gram matrix: the expansion of prod_g (1 - E_g/N) prod_s (1 + swap_s)/2,
    times N^{n_g} 2^{n_s}, applied to network j: each term (-1)^|G| N^{n_g-|G|} N^{closed loops},
    where the closed loops of two matchings a, b are cycles(a o b) / 2."""
    index = {e: i for i, e in enumerate(ends)}
    a = _involutions(networks, index)[upper_i]
    b0 = _involutions(networks, index)
    total = np.zeros(len(upper_i), dtype=np.int64)
    gluon_ends = [(index[(g, FIRST)], index[(g, SECOND)]) for g in gluons]
    sextet_ends = [(index[(m, FIRST)], index[(m, SECOND)]) for m in sextets]
    for traced in itertools.product((False, True), repeat=len(gluons)):
        b = b0.copy()
        power = np.full(len(networks), len(gluons) - sum(traced), dtype=np.int64)
        for (c, l), on in zip(gluon_ends, traced):
            if on:
                power += _apply_trace(b, c, l)
        sign = -1 if sum(traced) % 2 else 1
        for swapped in itertools.product((False, True), repeat=len(sextets)):
            bs = b.copy()
            for (s1, s2), on in zip(sextet_ends, swapped):
                if on:
                    bs = _apply_swap(bs, s1, s2)
            composed = np.take_along_axis(a, bs[upper_j], axis=1)  # a o b for every pair
            total += sign * N_COLOURS ** (_count_cycles(composed) // 2 + power[upper_j])
    return total


def _apply_trace(b: np.ndarray, c: int, l: int) -> np.ndarray:
    """E on ends (c, l) of every involution in ``b`` (in place): their partners are joined and c
    meets l; returns 1 where c already met l (a closed loop, factor N) else 0."""
    closed = b[:, c] == l
    rows = np.flatnonzero(~closed)
    p, q = b[rows, c], b[rows, l]
    b[rows, p], b[rows, q] = q, p
    b[rows, c], b[rows, l] = l, c
    return closed.astype(np.int64)


def _apply_swap(b: np.ndarray, s1: int, s2: int) -> np.ndarray:
    """Involutions with ends s1 and s2 exchanged (t b t, t the transposition)."""
    t = np.arange(b.shape[1])
    t[s1], t[s2] = s2, s1
    return t[b[:, t]]


def _gram_direct(a, b, ends, gluons, sextets) -> int:
    """One Gram entry (times N^{n_g} 2^{n_s}) by direct contraction; handles epsilons.

    Nodes: each external end on the bra side (0, end) and on the ket side (1, end); the bra's and
    the ket's deltas and epsilons; the sum over each end's index joins (0, end) to (1, end),
    except for a gluon under its trace term E: then (0, k)-(0, l) and (1, k)-(1, l).
    """
    ids = {node: i for i, node in enumerate((side, e) for side in (0, 1) for e in ends)}
    total = 0
    for traced in itertools.product((False, True), repeat=len(gluons)):
        joins, traced_ends = [], set()
        for g, on in zip(gluons, traced):
            if on:
                joins += [(ids[(0, (g, FIRST))], ids[(0, (g, SECOND))]), (ids[(1, (g, FIRST))], ids[(1, (g, SECOND))])]
                traced_ends |= {(g, FIRST), (g, SECOND)}
        joins += [(ids[(0, e)], ids[(1, e)]) for e in ends if e not in traced_ends]
        power, sign = len(gluons) - sum(traced), (-1 if sum(traced) % 2 else 1)
        for swapped in itertools.product((False, True), repeat=len(sextets)):
            rename = {}
            for m, on in zip(sextets, swapped):
                if on:
                    rename[(m, FIRST)], rename[(m, SECOND)] = (m, SECOND), (m, FIRST)
            edges = [(ids[(0, x)], ids[(0, y)]) for x, y in a[0]]
            edges += [(ids[(1, rename.get(x, x))], ids[(1, rename.get(y, y))]) for x, y in b[0]]
            all_eps = ([tuple(ids[(0, e)] for e in a[1])] if a[1] else []) \
                + ([tuple(ids[(1, rename.get(e, e))] for e in b[1])] if b[1] else [])
            if len(all_eps) % 2:
                continue  # a closed network with one epsilon vanishes
            for det_sign, extra, _ in _determinants(all_eps):
                resolved = _resolve(len(ids), edges + joins + extra, None)
                total += sign * det_sign * N_COLOURS ** (resolved[2] + power)
    return total
