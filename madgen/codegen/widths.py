"""Render the auto widths of a ``WidthPlan`` (``madgen.widths``): ``widths.py`` and one module per decay.

Each decay module is an ordinary generated subprocess module (``render_subprocess``), named
``D<n>_<tag>.py``; ``widths.py`` (template ``widths.py.j2``) sums their partial widths.
"""

from __future__ import annotations

from madgen.codegen.emit import diagrams_json, render_subprocess, render_template

GAUSS_LEGENDRE_NODES = 48
"""Nodes per dimension of the three-body quadrature. The integrands are analytic on the mapped
Dalitz region, so the error falls geometrically; it depends on which pair is (1, 2): for
t > b e+ ve at MT = 60 GeV, 32 nodes give 7e-10 relative, 48 nodes 3e-14."""


def render_width_files(plan, header: str) -> dict[str, str]:
    """File name -> text for ``widths.py``, the decay modules and their diagram files; {} without auto widths."""
    if not plan.widths:
        return {}
    files = {}
    for code in plan.codes:
        files[f"{code.module}.py"] = render_subprocess(code, header)
        files[f"{code.module}_diagrams.json"] = diagrams_json(code.diagrams)
    widths = [{"width": w.width, "particle": w.particle, "mass": w.mass, "n_body": w.n_body,
               "channels": [{"process": c.process, "module": c.code.module,
                             "daughter_masses": repr(tuple(c.daughter_masses))} for c in w.channels]}
              for w in plan.widths]
    channels = "{\n" + "".join(f"    {w.width!r}: {tuple(c.process for c in w.channels)!r},\n"
                               for w in plan.widths) + "}"
    files["widths.py"] = render_template(
        "widths.py.j2", header=header, widths=widths, modules=[c.module for c in plan.codes],
        auto_widths=repr(plan.auto_widths), channels=channels, n_nodes=GAUSS_LEGENDRE_NODES)
    return files
