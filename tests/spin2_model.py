"""A UFO model for the spin-2 tests: the SM (ufo-sm) with a spin-2 resonance y2 coupled, as a graviton
is, to the stress-energy tensor T_{mu nu} of the charged leptons, the photon, the u and d quarks and the
gluon (colour-diagonal), and a massless spin-2 g2 coupled to the leptons and the photon (the de Donder
propagator).

The vertices are written from T_{mu nu} here (not copied from a published model): for a Dirac fermion
(massless) gamma_mu (p1 - p2)_nu + gamma_nu (p1 - p2)_mu - 2 g_{mu nu} (p1 - p2)-slash, for the photon
the bilinear F1_{mu a} F2^a_nu + F2_{mu a} F1^a_nu + g_{mu nu} F1_{ab} F2^{ab} / 2 with
F_i^{mu a} = k_i^mu e_i^a - k_i^a e_i^mu, written as a product of sums (UFO's structures are Python).
Both are traceless on shell, as for a massless field. The covariant derivative in the fermions' T_{mu nu}
gives a contact vertex f f~ a Y (gamma_mu g_{nu rho} + gamma_nu g_{mu rho} - 2 g_{mu nu} gamma_rho, with
the fermion's charge), and g2 couples to the photon as y2 does, so that the photon's gauge invariance and
g2's (linearised diffeomorphisms) hold for e+ e- > y2 a, e+ e- > g2 a and their crossings. Only the
normalisation of the photon vertices and of the contact vertex relative to the fermion vertex matters
there (fixed by those Ward identities); the tests compare shapes and exact relations that do not depend
on the overall couplings."""

from __future__ import annotations

from pathlib import Path

from sm_extension import sm_with

FERMION_T = ("P(2003,1)*Gamma(1003,2,1) - P(2003,2)*Gamma(1003,2,1) + P(1003,1)*Gamma(2003,2,1)"
             " - P(1003,2)*Gamma(2003,2,1) - 2*P(-1,1)*Gamma(-1,2,1)*Metric(1003,2003)"
             " + 2*P(-1,2)*Gamma(-1,2,1)*Metric(1003,2003)")
PHOTON_T = ("(P(1003,1)*Metric(1,-1) - P(-1,1)*Metric(1,1003))*(P(-1,2)*Metric(2,2003) - P(2003,2)*Metric(2,-1))"
            " + (P(1003,2)*Metric(2,-2) - P(-2,2)*Metric(2,1003))*(P(-2,1)*Metric(1,2003) - P(2003,1)*Metric(1,-2))"
            " + Metric(1003,2003)*(P(-3,1)*P(-3,2)*Metric(1,2) - P(2,1)*P(1,2))")

CONTACT_T = "Gamma(1004,2,1)*Metric(2004,3) + Gamma(2004,2,1)*Metric(1004,3) - 2*Gamma(3,2,1)*Metric(1004,2004)"

PARTICLES = '''

y2 = Particle(pdg_code = 5000039, name = 'y2', antiname = 'y2', spin = 5, color = 1, mass = Param.MY2,
              width = Param.WY2, texname = 'y2', antitexname = 'y2', charge = 0, GhostNumber = 0,
              LeptonNumber = 0, Y = 0)

g2 = Particle(pdg_code = 5000040, name = 'g2', antiname = 'g2', spin = 5, color = 1, mass = Param.ZERO,
              width = Param.ZERO, texname = 'g2', antitexname = 'g2', charge = 0, GhostNumber = 0,
              LeptonNumber = 0, Y = 0)
'''

PARAMETERS = '''

MY2 = Parameter(name = 'MY2', nature = 'external', type = 'real', value = 1000., texname = 'M_Y',
                lhablock = 'MASS', lhacode = [ 5000039 ])

WY2 = Parameter(name = 'WY2', nature = 'external', type = 'real', value = 50., texname = 'W_Y',
                lhablock = 'DECAY', lhacode = [ 5000039 ])

kappaY = Parameter(name = 'kappaY', nature = 'external', type = 'real', value = 0.001, texname = 'kappa',
                   lhablock = 'SPINTWO', lhacode = [ 1 ])

kappaG = Parameter(name = 'kappaG', nature = 'external', type = 'real', value = 0.0005, texname = 'kappa_G',
                   lhablock = 'SPINTWO', lhacode = [ 2 ])
'''

COUPLINGS = '''

GC_YFF = Coupling(name = 'GC_YFF', value = '-(complex(0,1)*kappaY)/8.', order = {'NP':1})

GC_YAA = Coupling(name = 'GC_YAA', value = '-(complex(0,1)*kappaY)/2.', order = {'NP':1})

GC_GFF = Coupling(name = 'GC_GFF', value = '-(complex(0,1)*kappaG)/8.', order = {'NP':1})

GC_GAA = Coupling(name = 'GC_GAA', value = '-(complex(0,1)*kappaG)/2.', order = {'NP':1})

GC_YFFA = Coupling(name = 'GC_YFFA', value = '-(complex(0,1)*kappaY*ee)/4.', order = {'NP':1,'QED':1})

GC_GFFA = Coupling(name = 'GC_GFFA', value = '-(complex(0,1)*kappaG*ee)/4.', order = {'NP':1,'QED':1})
'''

ORDERS = '''

NP = CouplingOrder(name = 'NP', expansion_order = 99, hierarchy = 2)
'''

LORENTZ = f'''

FFT_T = Lorentz(name = 'FFT_T', spins = [ 2, 2, 5 ], structure = '{FERMION_T}')

VVT_T = Lorentz(name = 'VVT_T', spins = [ 3, 3, 5 ], structure = '{PHOTON_T}')

FFVT_C = Lorentz(name = 'FFVT_C', spins = [ 2, 2, 3, 5 ], structure = '{CONTACT_T}')
'''

VERTICES = '''

V_Yee = Vertex(name = 'V_Yee', particles = [ P.e__plus__, P.e__minus__, P.y2 ], color = [ '1' ],
               lorentz = [ L.FFT_T ], couplings = {(0,0):C.GC_YFF})

V_Ymm = Vertex(name = 'V_Ymm', particles = [ P.mu__plus__, P.mu__minus__, P.y2 ], color = [ '1' ],
               lorentz = [ L.FFT_T ], couplings = {(0,0):C.GC_YFF})

V_Yaa = Vertex(name = 'V_Yaa', particles = [ P.a, P.a, P.y2 ], color = [ '1' ],
               lorentz = [ L.VVT_T ], couplings = {(0,0):C.GC_YAA})

V_Gee = Vertex(name = 'V_Gee', particles = [ P.e__plus__, P.e__minus__, P.g2 ], color = [ '1' ],
               lorentz = [ L.FFT_T ], couplings = {(0,0):C.GC_GFF})

V_Gmm = Vertex(name = 'V_Gmm', particles = [ P.mu__plus__, P.mu__minus__, P.g2 ], color = [ '1' ],
               lorentz = [ L.FFT_T ], couplings = {(0,0):C.GC_GFF})

V_Yuu = Vertex(name = 'V_Yuu', particles = [ P.u__tilde__, P.u, P.y2 ], color = [ 'Identity(1,2)' ],
               lorentz = [ L.FFT_T ], couplings = {(0,0):C.GC_YFF})

V_Ydd = Vertex(name = 'V_Ydd', particles = [ P.d__tilde__, P.d, P.y2 ], color = [ 'Identity(1,2)' ],
               lorentz = [ L.FFT_T ], couplings = {(0,0):C.GC_YFF})

V_Ygg = Vertex(name = 'V_Ygg', particles = [ P.g, P.g, P.y2 ], color = [ 'Identity(1,2)' ],
               lorentz = [ L.VVT_T ], couplings = {(0,0):C.GC_YAA})

V_Gaa = Vertex(name = 'V_Gaa', particles = [ P.a, P.a, P.g2 ], color = [ '1' ],
               lorentz = [ L.VVT_T ], couplings = {(0,0):C.GC_GAA})

V_Yeea = Vertex(name = 'V_Yeea', particles = [ P.e__plus__, P.e__minus__, P.a, P.y2 ], color = [ '1' ],
                lorentz = [ L.FFVT_C ], couplings = {(0,0):C.GC_YFFA})

V_Ymma = Vertex(name = 'V_Ymma', particles = [ P.mu__plus__, P.mu__minus__, P.a, P.y2 ], color = [ '1' ],
                lorentz = [ L.FFVT_C ], couplings = {(0,0):C.GC_YFFA})

V_Geea = Vertex(name = 'V_Geea', particles = [ P.e__plus__, P.e__minus__, P.a, P.g2 ], color = [ '1' ],
                lorentz = [ L.FFVT_C ], couplings = {(0,0):C.GC_GFFA})

V_Gmma = Vertex(name = 'V_Gmma', particles = [ P.mu__plus__, P.mu__minus__, P.a, P.g2 ], color = [ '1' ],
                lorentz = [ L.FFVT_C ], couplings = {(0,0):C.GC_GFFA})
'''


def write_spin2_model(target: Path) -> Path:
    """Copy ufo-sm to ``target`` and add y2, g2, their parameters, couplings, structures and vertices."""
    return sm_with(target, {"particles.py": PARTICLES, "parameters.py": PARAMETERS, "couplings.py": COUPLINGS,
                            "coupling_orders.py": ORDERS, "lorentz.py": LORENTZ, "vertices.py": VERTICES})
