"""Helicity routines generated from UFO Lorentz structures: numeric checks."""

import functools
import hashlib
import os
import subprocess
import sys
import types
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import ufo_mssm
import ufo_sm

from madgen.codegen.routines import render_routine, render_routines
from madgen.errors import UnsupportedFeature
from madgen.lorentz import RoutineRequest, build_routine
from madgen.model.types import LorentzStructure

jax.config.update("jax_enable_x64", True)

G0 = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]], complex)
SIG = [np.array([[0, 1], [1, 0]], complex), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]], complex)]
GAMMA = [G0] + [np.block([[np.zeros((2, 2)), s], [-s, np.zeros((2, 2))]]) for s in SIG]
GAMMA5 = np.diag([-1, -1, 1, 1]).astype(complex)
PROJM = (np.eye(4) - GAMMA5) / 2
CMAT = 1j * GAMMA[2] @ GAMMA[0]
METRIC = np.diag([1.0, -1.0, -1.0, -1.0])


def slash(p):
    return sum(GAMMA[mu] * METRIC[mu, mu] * p[mu] for mu in range(4))


def _structures():
    seen = {}
    for mod in (ufo_sm, ufo_mssm):
        for lz in mod.all_lorentz:
            s = LorentzStructure(lz.name, tuple(lz.spins), lz.structure)
            seen[(s.name, s.spins, s.structure)] = s
    return [seen[k] for k in sorted(seen)]


ALL = _structures()
SUPPORTED = [s for s in ALL if all(x in (1, 2, 3) for x in s.spins)]
GHOSTS = [s for s in ALL if s not in SUPPORTED]


def _id(s):
    return f"{s.name}-{hashlib.sha1(s.structure.encode()).hexdigest()[:6]}"


_NO_JIT = types.SimpleNamespace(jit=lambda function: function)
"""Stands in for ``jax`` when a routine runs on numpy arrays."""


@functools.lru_cache(maxsize=None)
def compiled(req: RoutineRequest, backend: str = "numpy"):
    """The routine of ``req`` exec'd with ``jnp`` bound to numpy (fast, its ``@jax.jit`` a no-op) or
    jax.numpy (jitted, as in a package); a current (a tuple of component arrays) comes back stacked,
    components on axis 0."""
    src = render_routine(build_routine(req))
    xp = np if backend == "numpy" else jnp
    ns = {"jnp": xp, "jax": _NO_JIT if backend == "numpy" else jax}
    exec(src, ns)  # noqa: S102
    routine = ns[req.name]

    def call(*args):
        out = routine(*args)
        return xp.stack(out) if isinstance(out, tuple) else out

    return call


def ncomp(spin):
    return {1: 1, 5: 16}.get(spin, 4)


def random_inputs(lz, rng):
    n = len(lz.spins)
    ws = [rng.normal(size=ncomp(s)) + 1j * rng.normal(size=ncomp(s)) for s in lz.spins]
    ps = [rng.normal(size=4) for _ in range(n - 1)]
    ps.append(-sum(ps))
    return ws, ps


def numeric_current(lz, k, flipped, ws, ps, coup):
    """J (before propagator) of slot k from the amplitude routine with basis wavefunctions."""
    amp = compiled(RoutineRequest(lz, 0, flipped))
    J = []
    for c in range(ncomp(lz.spins[k - 1])):
        e = np.zeros(ncomp(lz.spins[k - 1]), complex)
        e[c] = 1
        args = list(ws)
        args[k - 1] = e
        J.append(amp(*args, *ps, coup) / coup)
    return np.array(J)


def is_bra(slot, flipped):
    return (slot % 2 == 0) != (((slot + 1) // 2) in flipped)


SPIN2 = [
    LorentzStructure("FFT_T", (2, 2, 5), "P(2003,1)*Gamma(1003,2,1) - P(2003,2)*Gamma(1003,2,1) + P(1003,1)*Gamma(2003,2,1)"
                     " - P(1003,2)*Gamma(2003,2,1) - 2*P(-1,1)*Gamma(-1,2,1)*Metric(1003,2003)"
                     " + 2*P(-1,2)*Gamma(-1,2,1)*Metric(1003,2003)"),
    LorentzStructure("FFT_M", (2, 2, 5), "Identity(2,1)*Metric(1003,2003)"),
    LorentzStructure("VVT_T", (3, 3, 5), "(P(1003,1)*Metric(1,-1) - P(-1,1)*Metric(1,1003))*(P(-1,2)*Metric(2,2003)"
                     " - P(2003,2)*Metric(2,-1)) + Metric(1003,2003)*(P(-3,1)*P(-3,2)*Metric(1,2) - P(2,1)*P(1,2))"),
    LorentzStructure("SST_T", (1, 1, 5), "P(1003,1)*P(2003,2) + P(1003,2)*P(2003,1) - P(-1,1)*P(-1,2)*Metric(1003,2003)"),
    LorentzStructure("TSS_T", (5, 1, 1), "P(1001,2)*P(2001,3) + P(2001,2)*P(1001,3)"),
    LorentzStructure("FFVT_T", (2, 2, 3, 5), "Gamma(2004,2,1)*Metric(3,1004) + Gamma(1004,2,1)*Metric(3,2004)"
                     " - 2*Gamma(3,2,1)*Metric(1004,2004)"),
    LorentzStructure("TTS", (5, 5, 1), "Metric(1001,1002)*Metric(2001,2002) + P(-1,3)*P(-1,3)*Metric(1001,2001)"
                     "*Metric(1002,2002)"),
]
"""Spin-2 structures of the kinds graviton models carry (written here from T_{mu nu}), one with the tensor
on slot 1 and one with two tensors."""


def spin2_numerator(P, M):
    """B^{mu nu, a b} = (P^{mu a} P^{nu b} + P^{mu b} P^{nu a}) / 2 - P^{mu nu} P^{ab} / 3, P = -g + p p / M^2."""
    proj = -np.linalg.inv(METRIC) + np.outer(P, P) / M**2
    return (np.einsum("ma,nb->mnab", proj, proj) + np.einsum("mb,na->mnab", proj, proj)) / 2 \
        - np.einsum("mn,ab->mnab", proj, proj) / 3


def propagate_tensor(J, P, coup, M, W, massless):
    """The spin-2 current from J_{ab} (lower indices, component 4 a + b), written with numpy."""
    g = np.linalg.inv(METRIC)
    if massless:
        numerator = (np.einsum("ma,nb->mnab", g, g) + np.einsum("mb,na->mnab", g, g)
                     - np.einsum("mn,ab->mnab", g, g)) / 2
        D = P @ METRIC @ P
    else:
        numerator = spin2_numerator(P, M)
        D = P @ METRIC @ P - M**2 + 1j * M * W
    return (coup * 1j / D * np.einsum("mnab,ab->mn", numerator, J.reshape(4, 4))).reshape(16)


def propagate(spin, slot, flipped, J, P, coup, M, W, massless=False):
    if spin == 5:
        return propagate_tensor(J, P, coup, M, W, massless)
    D = P @ METRIC @ P - M**2 + 1j * M * W
    if spin == 1:
        return coup * 1j / D * J
    if spin == 3:
        Jup = METRIC @ J
        if massless:
            return coup * (-1j / (P @ METRIC @ P)) * Jup
        return coup * (-1j / D) * (Jup - P * (P @ METRIC @ Jup) / M**2)
    if is_bra(slot, flipped):
        return coup * 1j / D * ((slash(-P) + M * np.eye(4)) @ J)
    return coup * 1j / D * (J @ (slash(P) + M * np.eye(4)))


def pairs(lz):
    return sum(s == 2 for s in lz.spins) // 2


def flip_options(lz):
    return [()] + [(p,) for p in range(1, pairs(lz) + 1)]


# --------------------------------------------------------------------------- tests


def test_ffv1_amplitude_matches_explicit_matrices():
    lz = LorentzStructure("FFV1", (2, 2, 3), "Gamma(3,2,1)")
    rng = np.random.default_rng(0)
    ws, ps = random_inputs(lz, rng)
    coup = 0.3 - 0.2j
    f = compiled(RoutineRequest(lz, 0), "jax")
    got = complex(f(*[jnp.asarray(w) for w in ws], *[jnp.asarray(p) for p in ps], coup))
    W1, W2, W3 = ws
    W3low = METRIC @ W3
    expected = coup * sum(W2 @ GAMMA[mu] @ W1 * W3low[mu] for mu in range(4))
    assert abs(got - expected) < 1e-12


def test_ffv2_amplitude_and_batched_jit():
    lz = LorentzStructure("FFV2", (2, 2, 3), "Gamma(3,2,-1)*ProjM(-1,1)")
    rng = np.random.default_rng(1)
    ws = [rng.normal(size=(4, 7)) + 1j * rng.normal(size=(4, 7)) for _ in range(3)]
    ps = [rng.normal(size=(4, 7)) for _ in range(2)]
    ps.append(-ps[0] - ps[1])
    f = jax.jit(compiled(RoutineRequest(lz, 0), "jax"))
    got = np.asarray(f(*ws, *ps, 1.0))
    assert got.shape == (7,)
    W1, W2, W3 = ws
    W3low = METRIC @ W3
    expected = sum(np.einsum("ib,ij,jb->b", W2, GAMMA[mu] @ PROJM, W1) * W3low[mu] for mu in range(4))
    np.testing.assert_allclose(got, expected, atol=1e-12)
    cur = jax.jit(compiled(RoutineRequest(lz, 2), "jax"))(ws[0], ws[2], *ps, 1.0, 5.0, 0.1)
    assert cur.shape == (4, 7) and cur.dtype == jnp.complex128


def test_vvv1_amplitude_matches_dot_products():
    lz = next(s for s in SUPPORTED if s.name == "VVV1")
    rng = np.random.default_rng(2)
    (e1, e2, e3), (p1, p2, p3) = random_inputs(lz, rng)

    def dot(a, b):
        return a @ METRIC @ b

    # routines take momenta flowing in; UFO's P(mu, n) is the outgoing momentum -P_n
    expected = -(
        dot(e1, e2) * dot(p1 - p2, e3) + dot(e2, e3) * dot(p2 - p3, e1) + dot(e3, e1) * dot(p3 - p1, e2)
    )
    got = compiled(RoutineRequest(lz, 0))(e1, e2, e3, p1, p2, p3, 1.0)
    assert abs(got - expected) < 1e-12


@pytest.mark.parametrize("lz", SUPPORTED + SPIN2, ids=_id)
def test_offshell_currents_consistent_with_amplitude(lz):
    """Every off-shell current is the propagated derivative of its amplitude (a spin-2 current against
    numpy's massive five-polarisation and massless de Donder numerators)."""
    rng = np.random.default_rng(3)
    coup, M, W = 0.7 + 0.1j, 3.1, 0.4
    for flipped in flip_options(lz):
        ws, ps = random_inputs(lz, rng)
        for k in range(1, len(lz.spins) + 1):
            spin = lz.spins[k - 1]
            J = numeric_current(lz, k, flipped, ws, ps, coup)
            others = [w for i, w in enumerate(ws) if i != k - 1]
            for massless in (False, True) if spin in (3, 5) else (False,):
                req = RoutineRequest(lz, k, flipped, massless)
                out = compiled(req)(*others, *ps, coup, M, W)
                assert out.shape == (ncomp(spin),)
                expected = propagate(spin, k, flipped, J, ps[k - 1], coup, M, W, massless)
                scale = np.abs(expected).max() if 5 in lz.spins else 1.0  # tensor currents grow as p^2
                np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12 * scale, err_msg=req.name)


def _close_on():
    """``close_on`` from the routines module's template, run on numpy arrays."""
    from madgen.codegen.emit import render_template

    ns = {}
    exec(render_template("routines.py.j2", header="", routines="").replace("import jax\n", ""),  # noqa: S102
         {**ns, "jax": _NO_JIT}, ns)
    return ns["close_on"]


@pytest.mark.parametrize("lz", SUPPORTED, ids=_id)
def test_closing_routines_rebuild_the_amplitude(lz):
    """close_on(W_k, <L>J_k(others)) is the amplitude routine's value for every slot k and flip, on
    wavefunctions and momenta that are not on shell (J = COUP dA/dW_k is an identity of the structure)."""
    rng = np.random.default_rng(6)
    close_on = _close_on()
    coup = 0.3 - 1.2j
    for flipped in flip_options(lz):
        ws, ps = random_inputs(lz, rng)
        amplitude = compiled(RoutineRequest(lz, 0, flipped))(*ws, *ps, coup)
        for k in range(1, len(lz.spins) + 1):
            req = RoutineRequest(lz, k, flipped, closing=True)
            others = [w for i, w in enumerate(ws) if i != k - 1]
            j = compiled(req)(*others, *ps, coup)
            assert j.shape == (ncomp(lz.spins[k - 1]),), req.name
            np.testing.assert_allclose(close_on(tuple(ws[k - 1]), tuple(j)), amplitude, rtol=1e-12, atol=1e-14,
                                       err_msg=req.name)


def test_closing_routine_names_and_refusals():
    ffv = LorentzStructure("FFV1", (2, 2, 3), "Gamma(3,2,1)")
    spec = build_routine(RoutineRequest(ffv, 3, (1,), closing=True))
    assert spec.name == "FFV1C1J_3"
    assert spec.arguments == ("W1", "W2", "P1", "P2", "P3", "COUP")
    assert "W3's components" in spec.returns
    for bad in (RoutineRequest(ffv, 0, closing=True), RoutineRequest(ffv, 3, (), True, closing=True)):
        with pytest.raises(UnsupportedFeature, match="closing routine"):
            build_routine(bad)


@pytest.mark.parametrize("lz", [s for s in SUPPORTED if 2 in s.spins], ids=_id)
def test_flipped_structures_are_charge_conjugated(lz):
    """A'(W1, W2, ...) = W1^T (C L^T C^-1) W2 with L_ij = A(bra=e_i, ket=e_j)."""
    rng = np.random.default_rng(4)
    ws, ps = random_inputs(lz, rng)
    amp = compiled(RoutineRequest(lz, 0))
    flipped = compiled(RoutineRequest(lz, 0, (1,)))
    L = np.zeros((4, 4), complex)
    for i in range(4):
        for j in range(4):
            args = list(ws)
            args[1] = np.eye(4)[i]  # bra slot 2
            args[0] = np.eye(4)[j]  # ket slot 1
            L[i, j] = amp(*args, *ps, 1.0)
    Lc = CMAT @ L.T @ np.linalg.inv(CMAT)
    expected = ws[0] @ Lc @ ws[1]
    assert abs(flipped(*ws, *ps, 1.0) - expected) < 1e-10


def test_known_charge_conjugation_identities():
    rng = np.random.default_rng(5)
    ffv = LorentzStructure("FFV1", (2, 2, 3), "Gamma(3,2,1)")
    ws, ps = random_inputs(ffv, rng)
    a = compiled(RoutineRequest(ffv, 0))(ws[1], ws[0], ws[2], *ps, 1.0)
    ac = compiled(RoutineRequest(ffv, 0, (1,)))(*ws, *ps, 1.0)
    assert abs(ac + a) < 1e-12  # C gamma^T C^-1 = -gamma
    ffs = LorentzStructure("FFS1", (2, 2, 1), "ProjM(2,1)")
    ws, ps = random_inputs(ffs, rng)
    a = compiled(RoutineRequest(ffs, 0))(ws[1], ws[0], ws[2], *ps, 1.0)
    ac = compiled(RoutineRequest(ffs, 0, (1,)))(*ws, *ps, 1.0)
    assert abs(ac - a) < 1e-12  # C PL^T C^-1 = PL


@pytest.mark.parametrize("lz", SUPPORTED, ids=_id)
def test_every_model_structure_builds_and_renders(lz):
    reqs = [RoutineRequest(lz, k, f) for f in flip_options(lz) for k in range(len(lz.spins) + 1)]
    reqs += [RoutineRequest(lz, k, (), True) for k in range(1, len(lz.spins) + 1) if lz.spins[k - 1] == 3]
    specs = [build_routine(r) for r in reqs]
    src = render_routines(specs)
    ns = {"jnp": jnp, "jax": jax}
    exec(src, ns)  # noqa: S102
    for r in reqs:
        assert callable(ns[r.name])
        assert f"def {r.name}(" in src
    assert len(src.splitlines()) < 40 * len(reqs)


@pytest.mark.parametrize("lz", GHOSTS, ids=_id)
def test_ghost_structures_unsupported(lz):
    with pytest.raises(UnsupportedFeature, match=lz.name):
        build_routine(RoutineRequest(lz, 0))


def test_names_and_signatures():
    lz = next(s for s in SUPPORTED if s.name == "VVV1")
    spec = build_routine(RoutineRequest(lz, 1, (), True))
    assert spec.name == "VVV1P0_1"
    assert spec.arguments == ("W2", "W3", "P1", "P2", "P3", "COUP", "M", "W")
    assert spec.output_spin == 3
    ffv = LorentzStructure("FFV1", (2, 2, 3), "Gamma(3,2,1)")
    assert RoutineRequest(ffv, 2, (1,)).name == "FFV1C1_2"
    spec = build_routine(RoutineRequest(ffv, 0))
    assert spec.arguments == ("W1", "W2", "W3", "P1", "P2", "P3", "COUP")
    assert spec.output_spin == 0 and len(spec.result) == 1


@pytest.mark.parametrize(
    "structure,spins",
    [
        ("Foo(1,2)", (3, 3)),
        ("Metric(1,2)", (5, 5)),
        ("Gamma(3,2,1)", (2, 3, 2)),  # fermions not paired
        ("Metric(1,2)", (3, 3, 3)),  # slot 3 index missing
        ("Gamma(1,2,1)", (2, 2, 3)),  # slot 1 used as Lorentz index
    ],
)
def test_unsupported_inputs(structure, spins):
    with pytest.raises(UnsupportedFeature):
        build_routine(RoutineRequest(LorentzStructure("BAD1", spins, structure), 0))
    with pytest.raises(UnsupportedFeature):
        build_routine(RoutineRequest(LorentzStructure("FFV1", (2, 2, 3), "Gamma(3,2,1)"), 1, (), True))


def test_other_objects_evaluate():
    """Sigma, Gamma5, Identity, C, Epsilon, complex(0,1), cmath.sqrt and /2. parse."""
    rng = np.random.default_rng(6)
    lz = LorentzStructure(
        "X1", (2, 2, 3, 3), "complex(0,1)*Sigma(3,4,2,-1)*Gamma5(-1,1)/2. + cmath.sqrt(2)*Identity(2,1)*Metric(3,4)"
    )
    ws, ps = random_inputs(lz, rng)
    got = compiled(RoutineRequest(lz, 0))(*ws, *ps, 1.0)
    e3, e4 = METRIC @ ws[2], METRIC @ ws[3]
    sig = lambda m, n: 0.5j * (GAMMA[m] @ GAMMA[n] - GAMMA[n] @ GAMMA[m])  # noqa: E731
    expected = sum(0.5j * ws[1] @ sig(m, n) @ GAMMA5 @ ws[0] * e3[m] * e4[n] for m in range(4) for n in range(4))
    expected += np.sqrt(2) * (ws[1] @ ws[0]) * (ws[2] @ METRIC @ ws[3])
    assert abs(got - expected) < 1e-10
    eps = LorentzStructure("E1", (3, 3, 3, 3), "Epsilon(1,2,3,4)")
    e = np.eye(4)
    # eps^{0123} = -1 contracted (via the metric) with upper basis vectors e_0..e_3
    w = [e[i] for i in range(4)]
    p4 = [np.zeros(4)] * 4
    val = compiled(RoutineRequest(eps, 0))(*w, *p4, 1.0)
    assert abs(val - (-1) * np.prod(np.diag(METRIC))) < 1e-14
    cc = LorentzStructure("CC1", (2, 2, 1), "C(2,1)")
    ws, ps = random_inputs(cc, rng)
    assert abs(compiled(RoutineRequest(cc, 0))(*ws, *ps, 1.0) - ws[1] @ CMAT @ ws[0] * ws[2][0]) < 1e-12


def test_rendering_deterministic_across_processes():
    code = (
        "import ufo_sm, hashlib\n"
        "from madgen.lorentz import RoutineRequest, build_routine\n"
        "from madgen.codegen.routines import render_routines\n"
        "from madgen.model.types import LorentzStructure as L\n"
        "ls=[L(x.name, tuple(x.spins), x.structure) for x in ufo_sm.all_lorentz if x.name in ('VVV1','FFV2','VVVV2')]\n"
        "s=render_routines([build_routine(RoutineRequest(l,k)) for l in ls for k in range(len(l.spins)+1)])\n"
        "print(hashlib.sha256(s.encode()).hexdigest())\n"
    )
    root = pathlib.Path(__file__).resolve().parents[1]
    outs = set()
    for seed in ("1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(root))
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=root)
        assert res.returncode == 0, res.stderr
        outs.add(res.stdout.strip())
    assert len(outs) == 1


# --------------------------------------------------------------------------- custom propagators

from madgen.model.types import Propagator  # noqa: E402

DENOMINATOR = "(P('mu', id) * P('mu', id) - Mass(id) * Mass(id) + complex(0,1) * Mass(id) * Width(id))"
NUM_V = "(- Metric(1, 2) + Metric(1,'mu')* P('mu', id) * P(2, id) / Mass(id)**2) "
NUM_F = "(Gamma('mu', 1, 2) * P('mu', id) + Mass(id) * Identity(1, 2))"
UFO_STANDARD = {1: Propagator("S", "1", DENOMINATOR), 2: Propagator("F", NUM_F, DENOMINATOR),
                3: Propagator("V1", NUM_V, DENOMINATOR)}
"""The standard propagators as UFO's propagators.py writes them (SMEFTsim 3.0.2, FeynRules)."""
Z1 = Propagator("Z1", "-" + NUM_V + "* complex(0,1) * Mass(id) * dWZ", DENOMINATOR + "**2", ("dWZ",))
CUSTOM_CASES = [s for s in SUPPORTED if len(s.spins) == 3]


def _call(req, ws, ps, extra=()):
    return np.asarray(compiled(req)(*ws, *ps, 0.7 + 0.2j, 3.1, 0.4, *extra))


@pytest.mark.parametrize("lz", CUSTOM_CASES, ids=_id)
def test_ufo_standard_propagators_reproduce_the_builtin_currents(lz):
    """A particle whose propagator is UFO's own S/F/V1 gets exactly madgen's built-in current,
    for every off-shell slot and fermion flip: fixes the index and momentum conventions."""
    rng = np.random.default_rng(11)
    n_pairs = lz.spins.count(2) // 2
    for k in range(1, len(lz.spins) + 1):
        for flipped in ([(), (1,)] if n_pairs else [()]):
            ws, ps = random_inputs(lz, rng)
            ws = [w for i, w in enumerate(ws) if i != k - 1]
            builtin = _call(RoutineRequest(lz, k, flipped), ws, ps)
            custom = _call(RoutineRequest(lz, k, flipped, propagator=UFO_STANDARD[lz.spins[k - 1]]), ws, ps)
            np.testing.assert_allclose(custom, builtin, rtol=1e-12, atol=1e-12 * np.abs(builtin).max())


def test_linearised_width_propagator_and_its_parameter_argument():
    """SMEFTsim's Z1: -i M dWZ / D^2 times the unitary-gauge numerator, i.e. the V1 current times
    -i M dWZ / D, with dWZ an extra argument ``par_dWZ`` and a name that says which propagator."""
    lz = LorentzStructure("FFV2", (2, 2, 3), "Gamma(3,2,-1)*ProjM(-1,1)")
    request = RoutineRequest(lz, 3, propagator=Z1)
    spec = build_routine(request)
    assert spec.name == "FFV2PZ1_3" and spec.arguments[-4:] == ("COUP", "M", "W", "par_dWZ")
    rng = np.random.default_rng(5)
    ws, ps = random_inputs(lz, rng)
    ws = ws[:2]
    dwz = -0.0799
    custom = _call(request, ws, ps, (dwz,))
    standard = _call(RoutineRequest(lz, 3), ws, ps)
    p = ps[2]
    d = p[0] ** 2 - p[1:] @ p[1:] - 3.1**2 + 1j * 3.1 * 0.4
    np.testing.assert_allclose(custom, standard * (-1j * 3.1 * dwz / d), rtol=1e-12)
    fixed = Propagator("Z1", Z1.numerator, Z1.denominator, (), (("dWZ", 0.5),))
    assert build_routine(RoutineRequest(lz, 3, propagator=fixed)).arguments[-1] == "W"
    np.testing.assert_allclose(_call(RoutineRequest(lz, 3, propagator=fixed), ws, ps), custom * 0.5 / dwz,
                               rtol=1e-12)


@pytest.mark.parametrize("propagator, needle", [
    (Propagator("Bad", "Metric(1, 3)", DENOMINATOR), "index 3 names no slot"),
    (Propagator("Bad", "Metric(1, 2) * P('mu', 5)", DENOMINATOR), "does not name the propagating line"),
    (Propagator("Bad", "1", DENOMINATOR), "needs [1, 2]"),
])
def test_malformed_custom_propagators_are_refused(propagator, needle):
    lz = LorentzStructure("FFV1", (2, 2, 3), "Gamma(3,2,1)")
    with pytest.raises(UnsupportedFeature) as info:
        build_routine(RoutineRequest(lz, 3, propagator=propagator))
    assert needle in str(info.value) and "Bad" in str(info.value)


# --------------------------------------------------------------------------- four-fermion chains

from madgen.lorentz.fermion_chains import fermion_flow_sign  # noqa: E402

FFFF = {  # four-fermion structures of SMEFTsim 3.0.2 and MadGraph's fourfermion_UFO test model:
    # (structure, sign of its spinor chains relative to the pairs (1,2), (3,4))
    "FFFF3": ("Gamma(-1,2,-2)*Gamma(-1,4,-3)*ProjM(-3,1)*ProjM(-2,3)", -1),
    "FFFF4": ("Gamma(-1,2,-2)*Gamma(-1,4,-3)*ProjM(-3,3)*ProjM(-2,1)", 1),
    "FFFF14": ("Gamma(-1,2,-2)*Gamma(-1,4,-3)*ProjM(-2,3)*ProjP(-3,1)", -1),
    "FFFF16": ("Gamma(-1,2,-3)*Gamma(-1,4,-2)*ProjM(-2,1)*ProjP(-3,3)", -1),
    "FFFF12": ("Gamma(-1,2,-3)*Gamma(-1,4,-2)*ProjM(-3,1)*ProjP(-2,3)", 1),
    "FFFF1": ("ProjM(2,3)*ProjM(4,1)", -1),
    "FFFF2": ("Identity(2,1)*Identity(4,3)", 1),
}


@pytest.mark.parametrize("name", sorted(FFFF))
def test_four_fermion_chain_sign(name):
    structure, sign = FFFF[name]
    assert fermion_flow_sign(name, (2, 2, 2, 2), structure) == sign
    assert fermion_flow_sign("FFV1", (2, 2, 3), "Gamma(3,2,1)") == 1


def test_fierz_rearranged_operators_give_the_same_amplitude():
    """(2 g^mu PL 3)(4 g_mu PL 1) = -(2 g^mu PL 1)(4 g_mu PL 3) for c-number spinors (Fierz); with
    the chain sign both orderings of the same operator give the same amplitude, for any spinors,
    and for every off-shell current."""
    crossed = LorentzStructure("FFFF3", (2, 2, 2, 2), FFFF["FFFF3"][0])
    direct = LorentzStructure("FFFF4", (2, 2, 2, 2), FFFF["FFFF4"][0])
    rng = np.random.default_rng(3)
    for k in range(5):
        ws, ps = random_inputs(crossed, rng)
        args = [w for i, w in enumerate(ws) if i != k - 1] + ps + [0.3 - 0.4j] + ([1.7, 0.2] if k else [])
        a = np.asarray(compiled(RoutineRequest(crossed, k))(*args))
        b = np.asarray(compiled(RoutineRequest(direct, k))(*args))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- spin 2

def test_spin2_amplitude_matches_explicit_matrices():
    """FFT_T contracted by hand: W2 (gamma^mu (p1 - p2)^nu + gamma^nu (p1 - p2)^mu - 2 g^{mu nu} (pslash1 -
    pslash2)) W1 eps_{mu nu}, with UFO's P = minus the momenta flowing in and eps lowered twice."""
    lz = SPIN2[0]
    rng = np.random.default_rng(5)
    ws, ps = random_inputs(lz, rng)
    W1, W2, W3 = ws
    eps = METRIC @ W3.reshape(4, 4) @ METRIC
    q = -(ps[0] - ps[1])  # P(mu,1) - P(mu,2)
    expected = 0
    for mu in range(4):
        for nu in range(4):
            vertex = GAMMA[mu] * q[nu] + GAMMA[nu] * q[mu] - 2 * np.linalg.inv(METRIC)[mu, nu] * slash(q)
            expected += W2 @ vertex @ W1 * eps[mu, nu]
    got = compiled(RoutineRequest(lz, 0))(*ws, *ps, 1.0)
    assert abs(got - expected) < 1e-12 * abs(expected)


def _ufo_projector(a, b):
    return f"(- Metric({a}, {b}) + Metric({a},'mu')*P('mu', id)*Metric({b},'nu')*P('nu', id)/Mass(id)**2)"


SPIN2_PROPAGATORS = {
    False: Propagator("T", f"({_ufo_projector(1001, 1002)}*{_ufo_projector(2001, 2002)} + {_ufo_projector(1001, 2002)}"
                           f"*{_ufo_projector(2001, 1002)})/2 - {_ufo_projector(1001, 2001)}*{_ufo_projector(1002, 2002)}/3",
                      DENOMINATOR),
    True: Propagator("T0", "(Metric(1001,1002)*Metric(2001,2002) + Metric(1001,2002)*Metric(2001,1002)"
                           " - Metric(1001,2001)*Metric(1002,2002))/2", "P('mu', id)*P('mu', id)"),
}
"""Spin-2 propagators as a UFO propagators.py writes them: index 1001, 2001 at the vertex, 1002, 2002 out."""


@pytest.mark.parametrize("massless", [False, True])
def test_ufo_spin2_propagators_reproduce_the_builtin_currents(massless):
    rng = np.random.default_rng(12)
    for lz in SPIN2:
        for k in [k for k in range(1, len(lz.spins) + 1) if lz.spins[k - 1] == 5]:
            ws, ps = random_inputs(lz, rng)
            ws = [w for i, w in enumerate(ws) if i != k - 1]
            builtin = _call(RoutineRequest(lz, k, (), massless), ws, ps)
            custom = _call(RoutineRequest(lz, k, (), propagator=SPIN2_PROPAGATORS[massless]), ws, ps)
            np.testing.assert_allclose(custom, builtin, rtol=1e-12, atol=1e-12 * np.abs(builtin).max())


@pytest.mark.parametrize("structure,spins,needle", [
    ("Metric(3,1)*Metric(1003,2003)", (3, 3, 5), r"index 3 does not fit slot 3, which is tensor: a spin-2 slot n "
                                                  r"carries the indices 1003 and 2003"),
    ("Metric(1,1002)*Metric(2,2003)", (3, 3, 5), r"index 1002 does not fit slot 2, which is vector"),
    ("Metric(1,1004)*Metric(2,2004)", (3, 3, 5), r"index 1004 names no slot"),
    ("Metric(1,3003)*Metric(2,2003)", (3, 3, 5), r"index 3003 names no slot"),
    ("Metric(1,2)*P(1003,1)", (3, 3, 5), r"has free indices \(1, 2, 1003\); its slots need \(1, 2, 1003, 2003\)"),
    ("P(1003,1)*Gamma(2003,2,1) + Gamma(-1,2,1)*P(-1,1)", (2, 2, 5),
     r"Lorentz structure BAD \('P\(1003,1\).*'\) adds terms with different free indices"),
    ("Metric(1003,1003)*Identity(2,1)", (2, 2, 5),
     r"Lorentz structure BAD \('Metric\(1003,1003\)\*Identity\(2,1\)'\) repeats index 1003 more than twice, or "
     r"twice in one factor"),
])
def test_malformed_spin2_structures_are_refused(structure, spins, needle):
    with pytest.raises(UnsupportedFeature, match=needle):
        build_routine(RoutineRequest(LorentzStructure("BAD", spins, structure), 0))
