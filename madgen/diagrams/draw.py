"""Tree-level Feynman diagrams drawn as standalone SVG documents (pure Python).

Input is the JSON written by :mod:`madgen.diagrams.export` (``<module>_diagrams.json``):
a list of legs and, per diagram, its vertices (with the lines meeting there) and
propagators. Lines are named by the external legs on their far side: external
leg ``n`` is line ``"n"``, a propagator carrying legs 1 and 2 is line ``"1_2"``.

Layout: initial-state legs enter from the left, final-state legs leave to the right.
External legs are ordered along each side by a planar (crossing-free) traversal of
the tree; a vertex starts at its relative graph distance between the initial and
the final legs and is relaxed to the mean of its neighbours' positions (a barycentric
layout, free of crossings for a tree with its legs in planar order); then vertex dots
that come too close are pushed apart. Everything is deterministic: the same input
gives the same bytes.

Line styles: fermions solid with an arrow along the fermion flow (positive pdg
points along the particle's motion), photon/W/Z wavy, gluons curly, scalars dashed,
ghosts dotted. A leg or propagator dict may carry an optional ``spin`` (UFO 2S+1)
and ``color`` to override the pdg-code guess. The resonances of a decay chain or a required
s-channel (propagators with a ``resonance`` index into the data's ``decays``) are drawn over a
highlighted band, labelled ``t (decay)`` or ``z (s-channel)``; the title shows the whole chain
(the data's ``process``, e.g. ``e+ e- > t t~, t > b W+``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

__all__ = ["diagram_svg", "draw_diagrams", "draw_package", "line_style", "process_string"]

_MIN_SEP = 36.0  # minimum distance between vertex dots (px)
_MAJORANA = frozenset({1000021, 1000022, 1000023, 1000025, 1000035})


# ----------------------------------------------------------------------------- styles

def line_style(pdg: int, spin: int | None = None, color: int | None = None) -> str:
    """One of 'fermion', 'majorana', 'vector', 'gluon', 'scalar', 'tensor' (spin 2), 'ghost', 'plain'."""
    apdg = abs(int(pdg))
    if spin is not None:
        if spin == 2 or spin == 4:
            return "majorana" if apdg in _MAJORANA else "fermion"
        if spin == 3:
            return "gluon" if (color is not None and abs(color) == 8) or apdg == 21 else "vector"
        if spin == 1:
            return "scalar"
        if spin == 5:
            return "tensor"
        if spin < 0:
            return "ghost"
        return "plain"
    if 1 <= apdg <= 18:
        return "fermion"
    if apdg == 21:
        return "gluon"
    if apdg in (22, 23, 24, 32, 33, 34):
        return "vector"
    if apdg in (25, 35, 36, 37, 45, 46):
        return "scalar"
    if apdg in _MAJORANA:
        return "majorana"
    if apdg in (1000024, 1000037, 1000039):
        return "fermion"
    if 1000001 <= apdg <= 1000016 or 2000001 <= apdg <= 2000016:
        return "scalar"
    if apdg in (82, 9000001, 9000002, 9000003, 9000004):  # UFO ghost codes (SM conventions)
        return "ghost"
    return "plain"


# ----------------------------------------------------------------------------- helpers

def _fmt(v: float) -> str:
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _line_legs(name: str) -> frozenset[int]:
    return frozenset(int(part) for part in str(name).split("_"))


def process_string(legs: list[dict]) -> str:
    initial = " ".join(leg["particle"] for leg in legs if leg["initial"])
    final = " ".join(leg["particle"] for leg in legs if not leg["initial"])
    return f"{initial} > {final}"


def _default_title(legs: list[dict], diagram: dict) -> str:
    orders = ", ".join(f"{k}={v}" for k, v in sorted(diagram.get("orders", {}).items()))
    title = f"diagram {diagram.get('number', '?')} \u2014 {process_string(legs)}"
    return f"{title}, {orders}" if orders else title


# ----------------------------------------------------------------------------- graph

class _Graph:
    """Nodes: ('L', n) external endpoints, ('V', i) vertices. Edges: one per line."""

    def __init__(self, legs: list[dict], diagram: dict):
        self.legs = {int(leg["number"]): leg for leg in legs}
        self.vertices = diagram.get("vertices", [])
        if not self.vertices:
            raise ValueError(f"diagram {diagram.get('number')} has no vertices")
        where: dict[str, list[int]] = {}
        for i, vertex in enumerate(self.vertices):
            for line in vertex["lines"]:
                where.setdefault(str(line), []).append(i)
        self.props = {str(p["line"]): p for p in diagram.get("propagators", [])}
        self.edges: list[tuple[str, tuple, tuple]] = []  # (line, node_a, node_b)
        for line in sorted(where, key=lambda s: (len(_line_legs(s)), sorted(_line_legs(s)))):
            at = where[line]
            if "_" not in line and int(line) in self.legs and line not in self.props:
                if len(at) != 1:
                    raise ValueError(f"external line {line} appears in {len(at)} vertices")
                self.edges.append((line, ("L", int(line)), ("V", at[0])))
            else:
                if len(at) != 2:
                    raise ValueError(f"propagator line {line} appears in {len(at)} vertices")
                near, far = self._orient(line, at)
                self.edges.append((line, ("V", near), ("V", far)))
        missing = set(self.legs) - {int(e[0]) for e in self.edges if e[1][0] == "L"}
        if missing:
            raise ValueError(f"legs {sorted(missing)} are attached to no vertex")
        self.adj: dict[tuple, list[tuple]] = {}
        for _, a, b in self.edges:
            self.adj.setdefault(a, []).append(b)
            self.adj.setdefault(b, []).append(a)

    def _orient(self, line: str, at: list[int]) -> tuple[int, int]:
        """(near, far): near is the vertex on the side of the line's legs, where the
        propagator particle is emitted (it travels from near to far)."""
        legs = _line_legs(line)

        def is_near(i):
            return all(_line_legs(o) <= legs for o in self.vertices[i]["lines"] if str(o) != line)

        a, b = at
        return (b, a) if is_near(b) and not is_near(a) else (a, b)

    def distances(self, sources: list[tuple]) -> dict[tuple, int]:
        dist = {s: 0 for s in sources}
        frontier = list(sources)
        while frontier:
            nxt = []
            for node in frontier:
                for other in self.adj.get(node, []):
                    if other not in dist:
                        dist[other] = dist[node] + 1
                        nxt.append(other)
            frontier = nxt
        return dist

    def leaf_order(self) -> list[int]:
        """External legs in a planar cyclic order, starting at the first initial leg, with
        the second initial leg (if any) last, so both initial legs are adjacent."""
        numbers = sorted(self.legs)
        initial = [n for n in numbers if self.legs[n]["initial"]]
        start = ("L", initial[0] if initial else numbers[0])
        other = ("L", initial[1]) if len(initial) > 1 else None
        below: dict[tuple, frozenset] = {}

        def collect(node, parent):
            found = {node} if node[0] == "L" else set()
            for child in self.adj[node]:
                if child != parent:
                    found |= collect(child, node)
            below[(node, parent)] = frozenset(found)
            return found

        collect(start, None)
        order: list[int] = []

        def walk(node, parent):
            if node[0] == "L":
                order.append(node[1])
            children = [c for c in self.adj[node] if c != parent]

            def key(child):
                leaves = below[(child, node)]
                return (other in leaves, min(n for _, n in leaves) if leaves else 0)

            for child in sorted(children, key=key):
                walk(child, node)

        walk(start, None)
        return order


# ----------------------------------------------------------------------------- layout

def _layout(graph: _Graph) -> tuple[dict[tuple, tuple[float, float]], float, float]:
    order = graph.leaf_order()
    initial = [n for n in order if graph.legs[n]["initial"]]
    final = [n for n in order if not graph.legs[n]["initial"]]
    n_side = max(len(initial), len(final), 1)
    spacing = 90.0
    top, left = 60.0, 100.0
    height = top + 40.0 + max(spacing * (n_side - 1), 160.0) + 40.0
    d_init = graph.distances([("L", n) for n in initial]) if initial else {}
    d_final = graph.distances([("L", n) for n in final]) if final else {}
    vertices = [("V", i) for i in range(len(graph.vertices))]
    depth = max((d_init.get(v, 1) + d_final.get(v, 1) for v in vertices), default=2)
    inner = max(140.0 * (depth - 1), 180.0)
    width = left + inner + left
    x_in, x_out = left, left + inner
    mid_y = top + 40.0 + max(spacing * (n_side - 1), 160.0) / 2

    def spread(numbers):
        if len(numbers) == 1:
            return [mid_y]
        span = max(spacing * (len(numbers) - 1), 160.0)
        return [mid_y - span / 2 + span * k / (len(numbers) - 1) for k in range(len(numbers))]

    pos: dict[tuple, tuple[float, float]] = {}
    for n, y in zip(initial, spread(initial)):
        pos[("L", n)] = (x_in, y)
    for n, y in zip(final, spread(final)):
        pos[("L", n)] = (x_out, y)
    xs = {}
    for v in vertices:
        di, df = d_init.get(v), d_final.get(v)
        if di is None:
            frac = 0.5 if df is None else 0.25
        elif df is None:
            frac = 0.75
        else:
            frac = di / (di + df)
        xs[v] = x_in + inner * frac
        pos[v] = (xs[v], mid_y)
    for _ in range(200):  # Gauss-Seidel relaxation toward the neighbours' mean (barycentric,
        for v in vertices:  # crossing-free for a tree whose legs sit in planar order)
            nbrs = graph.adj[v]
            pos[v] = (sum(pos[o][0] for o in nbrs) / len(nbrs), sum(pos[o][1] for o in nbrs) / len(nbrs))
    for _ in range(20):  # push apart vertex dots that come too close
        moved = False
        for a in range(len(vertices)):
            for b in range(a + 1, len(vertices)):
                (xa, ya), (xb, yb) = pos[vertices[a]], pos[vertices[b]]
                if math.hypot(xa - xb, ya - yb) >= _MIN_SEP - 1e-9:
                    continue
                dy = math.sqrt(max(_MIN_SEP ** 2 - (xa - xb) ** 2, 0.0))
                push = (dy - abs(ya - yb)) / 2 + 0.5
                up = -1.0 if (ya, a) <= (yb, b) else 1.0
                pos[vertices[a]] = (xa, ya + up * push)
                pos[vertices[b]] = (xb, yb - up * push)
                moved = True
        if not moved:
            break
    ys = [p[1] for p in pos.values()]
    shift = max(0.0, top + 30.0 - min(ys))
    if shift:
        pos = {k: (x, y + shift) for k, (x, y) in pos.items()}
    height = max(height, max(p[1] for p in pos.values()) + 40.0)
    return pos, width, height


# ----------------------------------------------------------------------------- paths

def _straight(p, q) -> str:
    return f"M {_fmt(p[0])} {_fmt(p[1])} L {_fmt(q[0])} {_fmt(q[1])}"


def _frame(p, q):
    dx, dy = q[0] - p[0], q[1] - p[1]
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    return length, (ux, uy), (-uy, ux)


def _wavy(p, q, amplitude=5.0, half_wave=9.0) -> str:
    length, (ux, uy), (nx, ny) = _frame(p, q)
    n = max(2, round(length / half_wave))
    step = length / n
    parts = [f"M {_fmt(p[0])} {_fmt(p[1])}"]
    for k in range(n):
        sign = 1.0 if k % 2 == 0 else -1.0
        t_mid, t_end = (k + 0.5) * step, (k + 1) * step
        cx = p[0] + ux * t_mid + nx * 2 * amplitude * sign
        cy = p[1] + uy * t_mid + ny * 2 * amplitude * sign
        ex, ey = p[0] + ux * t_end, p[1] + uy * t_end
        parts.append(f"Q {_fmt(cx)} {_fmt(cy)} {_fmt(ex)} {_fmt(ey)}")
    return " ".join(parts)


def _curly(p, q, radius=5.0, loop=12.0, samples=14) -> str:
    """A prolate cycloid: loops of the given radius, one per ``loop`` px."""
    length, (ux, uy), (nx, ny) = _frame(p, q)
    n = max(1, round(length / loop))
    a = length / (2 * math.pi * n)
    parts = [f"M {_fmt(p[0])} {_fmt(p[1])}"]
    for k in range(1, n * samples + 1):
        theta = 2 * math.pi * k / samples
        along = a * theta - radius * math.sin(theta)
        across = radius * (1 - math.cos(theta))
        x = p[0] + ux * along + nx * across
        y = p[1] + uy * along + ny * across
        parts.append(f"L {_fmt(x)} {_fmt(y)}")
    return " ".join(parts)


def _arrow(p, q, size=7.0) -> str:
    """A filled triangle at the midpoint of p->q, pointing toward q."""
    _, (ux, uy), (nx, ny) = _frame(p, q)
    mx, my = (p[0] + q[0]) / 2 + ux * size / 2, (p[1] + q[1]) / 2 + uy * size / 2
    bx, by = mx - ux * size, my - uy * size
    pts = [(mx, my), (bx + nx * size / 2, by + ny * size / 2), (bx - nx * size / 2, by - ny * size / 2)]
    return " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in pts)


_STROKE = {"fermion": "#000000", "majorana": "#000000", "vector": "#1f4e9c", "gluon": "#b03a2e",
           "scalar": "#2e7d32", "tensor": "#8e44ad", "ghost": "#6a1b9a", "plain": "#444444"}


# ----------------------------------------------------------------------------- svg

def diagram_svg(legs: list[dict], diagram: dict, title: str = "", decays: list[dict] | None = None) -> str:
    """One standalone SVG document for ``diagram`` (an entry of the diagrams JSON); ``decays``: the
    data's resonance table, for the labels of the resonances."""
    graph = _Graph(legs, diagram)
    pos, width, height = _layout(graph)
    title = title or _default_title(legs, diagram)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{_fmt(width)}" height="{_fmt(height)}" '
           f'viewBox="0 0 {_fmt(width)} {_fmt(height)}" font-family="Helvetica, Arial, sans-serif" '
           f'font-size="13">',
           f"<title>{escape(title)}</title>",
           f'<rect x="0" y="0" width="{_fmt(width)}" height="{_fmt(height)}" fill="#ffffff"/>',
           f'<text class="title" x="{_fmt(width / 2)}" y="24" text-anchor="middle" font-size="15">'
           f"{escape(title)}</text>"]
    bands, lines, arrows, labels = [], [], [], []
    centre_y = sum(p[1] for k, p in pos.items() if k[0] == "V") / len(graph.vertices)
    for line, a, b in graph.edges:
        if a[0] == "L":
            leg = graph.legs[a[1]]
            info = leg
            # direction of the particle's motion: initial leg -> vertex, final vertex -> leg
            start, end = (pos[a], pos[b]) if leg["initial"] else (pos[b], pos[a])
        else:
            info = graph.props.get(line) or {"particle": "?", "pdg": 0}
            start, end = pos[a], pos[b]  # propagator particle travels near -> far
        pdg = int(info.get("pdg", 0))
        style = line_style(pdg, info.get("spin"), info.get("color"))
        if style in ("vector", "tensor"):
            d = _wavy(start, end)
        elif style == "gluon":
            d = _curly(start, end)
        else:
            d = _straight(start, end)
        extra = {"scalar": ' stroke-dasharray="7 4"', "ghost": ' stroke-dasharray="2 3"'}.get(style, "")
        resonance = info.get("resonance") if a[0] != "L" else None
        if resonance is not None:
            bands.append(f'<path class="resonance-band" data-line={quoteattr(line)} d="{_straight(start, end)}" '
                         f'fill="none" stroke="#f5b041" stroke-width="10" stroke-opacity="0.45"/>')
        kind = f"line {style}" + (" resonance" if resonance is not None else "")
        lines.append(f'<path class="{kind}" data-line={quoteattr(line)} '
                     f'data-particle={quoteattr(str(info["particle"]))} d="{d}" fill="none" '
                     f'stroke="{_STROKE[style]}" stroke-width="{3.2 if style == "tensor" else 1.8}"{extra}/>')
        if style == "fermion" and pdg != 0:
            tip_from, tip_to = (start, end) if pdg > 0 else (end, start)
            arrows.append(f'<polygon class="arrow" data-line={quoteattr(line)} '
                          f'points="{_arrow(tip_from, tip_to)}" fill="#000000"/>')
        if a[0] == "L":
            x, y = pos[a]
            leg = graph.legs[a[1]]
            anchor, dx = ("end", -8.0) if leg["initial"] else ("start", 8.0)
            leg_text = f"{leg['number']} {leg['particle']}"
            labels.append(f'<text class="leg-label" data-line={quoteattr(line)} x="{_fmt(x + dx)}" '
                          f'y="{_fmt(y + 4.5)}" text-anchor="{anchor}">'
                          f"{escape(leg_text)}</text>")
        else:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            _, _, (nx, ny) = _frame(pos[a], pos[b])
            if abs(ny) < 0.3:  # near-vertical line: label to its right
                nx, ny = 1.0, 0.0
            elif (ny > 0) != (my > centre_y + 1.0):  # label above, or below when under the centre
                nx, ny = -nx, -ny
            off = 16.0
            anchor = "middle" if abs(nx) < 0.5 else ("start" if nx > 0 else "end")
            labels.append(f'<text class="prop-label" data-line={quoteattr(line)} '
                          f'x="{_fmt(mx + nx * off)}" y="{_fmt(my + ny * off + 4.5)}" '
                          f'text-anchor="{anchor}">{escape(_propagator_label(info, decays))}</text>')
    out += bands + lines + arrows
    for i in range(len(graph.vertices)):
        x, y = pos[("V", i)]
        out.append(f'<circle class="vertex" data-vertex={quoteattr(str(graph.vertices[i]["vertex"]))} '
                   f'cx="{_fmt(x)}" cy="{_fmt(y)}" r="3.5" fill="#000000"/>')
    out += labels
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _propagator_label(info: dict, decays: list[dict] | None) -> str:
    """The particle; for a resonance, the decaying particle as written and what it is."""
    index = info.get("resonance")
    if index is None or not decays or not 0 <= index < len(decays):
        return str(info["particle"])
    entry = decays[index]
    return f"{entry['particle']} ({'s-channel' if entry.get('required') else 'decay'})"


# ----------------------------------------------------------------------------- package

def draw_diagrams(data_by_module) -> dict[str, str]:
    """SVG text of every diagram: ``{"<module>/diagram_<n>.svg": svg}`` from the diagrams as data
    (module name -> the content of ``<module>_diagrams.json``). Pure: nothing is written."""
    drawings: dict[str, str] = {}
    for module, data in sorted(data_by_module.items()):
        legs = data["legs"]
        orders_all = data.get("orders") or {}
        process = data.get("process") or process_string(legs)
        for diagram in data.get("diagrams", []):
            orders = diagram.get("orders") or orders_all
            title = f"diagram {diagram['number']} \u2014 {process}"
            if orders:
                title += (" \u2014 " if "," in process else ", ") + ", ".join(
                    f"{k}={v}" for k, v in sorted(orders.items()))
            drawings[f"{module}/diagram_{diagram['number']}.svg"] = diagram_svg(legs, diagram, title,
                                                                                data.get("decays"))
    return drawings


def draw_package(package_dir: Path, target: Path) -> list[Path]:
    """Draw every diagram of every ``*_diagrams.json`` in ``package_dir`` to
    ``target/<module>/diagram_<n>.svg`` (each file written atomically); returns the paths, sorted."""
    from madgen.output import atomic_write_text

    package_dir, target = Path(package_dir), Path(target)
    data = {source.name[: -len("_diagrams.json")]: json.loads(source.read_text(encoding="utf-8"))
            for source in sorted(package_dir.glob("*_diagrams.json"))}
    written = []
    for name, svg in draw_diagrams(data).items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        written.append(atomic_write_text(target / name, svg))
    return sorted(written)
