"""A UFO model for the fermion-number tests: the SM (ufo-sm) with two diquark scalars that couple to
two quarks, so that the model's vertices change the number of quarks minus antiquarks by two (as diquark,
leptoquark and RPV models do) without any Majorana particle:

* ``s6`` (colour sextet, charge 4/3): lam6 u u s6~ with the colour tensor K6(3,2,1), and its conjugate;
* ``st`` (colour antitriplet, charge 1/3): lamt u d st~ with Epsilon(1,2,3), and its conjugate.

Both couple through the right-handed scalar structures of the SM UFO (FFS3 = ProjP, FFS1 = ProjM), so
that |M|^2 of q q' > S is lam^2 s / 6 summed over helicities and colours (sum |K6|^2 = sum |eps|^2 = 6)
and averaged over 4 x 9 initial states, and the partial width of S > q q', |p| |M|^2 / (8 pi M^2) with
|M|^2 = lam^2 M^2 x (colour sum / colour average), is lam^2 M / (32 pi) for the sextet (6 / 6, and 1/2 for
the identical quarks) and lam^2 M / (8 pi) for the triplet (6 / 3)."""

from __future__ import annotations

from pathlib import Path

from sm_extension import sm_with

LAM6, LAMT, MS6, MST = 0.37, 0.29, 1000.0, 800.0

PARTICLES = f'''
s6 = Particle(pdg_code = 9000006, name = 's6', antiname = 's6~', spin = 1, color = 6, mass = Param.MS6,
              width = Param.WS6, texname = 's6', antitexname = 's6~', charge = 4/3, GhostNumber = 0,
              LeptonNumber = 0, Y = 0)
s6__tilde__ = s6.anti()
st = Particle(pdg_code = 9000007, name = 'st', antiname = 'st~', spin = 1, color = -3, mass = Param.MST,
              width = Param.WST, texname = 'st', antitexname = 'st~', charge = 1/3, GhostNumber = 0,
              LeptonNumber = 0, Y = 0)
st__tilde__ = st.anti()
'''


def _parameter(name, value, block, code):
    return (f"\n{name} = Parameter(name = '{name}', nature = 'external', type = 'real', value = {value}, "
            f"texname = '{name}', lhablock = '{block}', lhacode = [ {code} ])\n")


PARAMETERS = (_parameter("MS6", MS6, "MASS", 9000006) + _parameter("WS6", 20.0, "DECAY", 9000006)
              + _parameter("MST", MST, "MASS", 9000007) + _parameter("WST", 15.0, "DECAY", 9000007)
              + _parameter("lam6", LAM6, "DIQUARK", 1) + _parameter("lamt", LAMT, "DIQUARK", 2))

COUPLINGS = '''
GC_S6 = Coupling(name = 'GC_S6', value = 'complex(0,1)*lam6', order = {'DQ':1})
GC_ST = Coupling(name = 'GC_ST', value = 'complex(0,1)*lamt', order = {'DQ':1})
'''

ORDERS = "\nDQ = CouplingOrder(name = 'DQ', expansion_order = 99, hierarchy = 2)\n"

VERTICES = '''
V_S6in = Vertex(name = 'V_S6in', particles = [ P.u, P.u, P.s6__tilde__ ], color = [ 'K6(3,2,1)' ],
                lorentz = [ L.FFS3 ], couplings = {(0,0):C.GC_S6})
V_S6out = Vertex(name = 'V_S6out', particles = [ P.u__tilde__, P.u__tilde__, P.s6 ], color = [ 'K6Bar(3,2,1)' ],
                 lorentz = [ L.FFS1 ], couplings = {(0,0):C.GC_S6})
V_STin = Vertex(name = 'V_STin', particles = [ P.u, P.d, P.st__tilde__ ], color = [ 'Epsilon(1,2,3)' ],
                lorentz = [ L.FFS3 ], couplings = {(0,0):C.GC_ST})
V_STout = Vertex(name = 'V_STout', particles = [ P.u__tilde__, P.d__tilde__, P.st ], color = [ 'EpsilonBar(1,2,3)' ],
                 lorentz = [ L.FFS1 ], couplings = {(0,0):C.GC_ST})
'''


def build(target) -> Path:
    """Write the model into the directory ``target`` (replaced) and return it."""
    return sm_with(target, {"particles.py": PARTICLES, "parameters.py": PARAMETERS, "couplings.py": COUPLINGS,
                            "coupling_orders.py": ORDERS, "vertices.py": VERTICES})
