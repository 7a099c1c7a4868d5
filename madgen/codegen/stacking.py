"""Stacked routine calls: the currents and amplitude terms of a wavefunction graph grouped so that
each group is one call of its helicity routine on stacked arrays (process card ``routine_calls``).

A kernel with one call per current compiles to one XLA computation per call; for g g > t t~ g g
(292 calls) the value compiles in about 26 s and its gradient in about 9 minutes on one CPU core,
most of it spent on the number of computations. Currents of the same routine(s), at the same depth
of the graph (so that their inputs are ready), are computed by one call whose arguments carry a
leading axis of the group's members; amplitude terms group by routine. Members also agree on the
legs that each input spans (and so on the legs of the result): their arrays have the same helicity
axes, and stacking copies them without padding any to a larger shape. Grouping by the result's legs
alone (56 groups instead of 122 for g g > t t~ g g) padded the inputs to 2.4 times their elements and
ran the value at 0.7 times the speed. Groups are cut to ``MAX_GROUP_SIZE`` members for the gradient's
sake. Plain data in, plain data out; the printing is codegen's.
"""

from __future__ import annotations

from dataclasses import dataclass

from madgen.ir.build import WavefunctionGraph
from madgen.process.card import ROUTINE_CALL_MODES

STACKED_FROM_CALLS = 200
"""``routine_calls: auto`` stacks a subprocess with at least this many currents and amplitude terms:
there the stacked value compiles faster and runs as fast (one core, same session: g g > t t~ g g, 292
calls in 132 stacked calls, 20 s against 26 s at 1.1 times the speed; g g > t t~ g g g, 3228 calls in
831, 185 s against 366 s at 1.06 times). Its gradient compiles faster and runs a little slower (g g >
t t~ g g: see README). g g > t t~ g (36 calls) gains nothing either way and stays separate."""

MAX_GROUP_SIZE = 6
"""At most this many members per stacked call; a larger group is cut, in graph order, into calls of this
many. The reverse-mode gradient slows with the size of a stack: g g > t t~ g g, whose amplitude terms
grouped 18 to a call, ran its value + gradient at 553-596 events/s uncut, 777 cut to 6 and 794 to 3
(separate: 882), at compile times of 215, 215 and 242 s and the same value speed (one core, batch 4096)."""


@dataclass(frozen=True)
class CallGroup:
    """Currents (``kind`` "current") or amplitude terms ("amplitude"), by name in graph order, that one
    stacked call computes: same routines, same number of inputs, same depth, inputs on the same legs."""

    kind: str
    names: tuple[str, ...]
    depth: int


def stacks(graph: WavefunctionGraph, mode: str) -> bool:
    """Whether ``graph`` is generated with stacked calls under the card's ``routine_calls`` ``mode``:
    ``separate`` (one call per current: the fastest kernels), ``stacked`` (one call per group: the fastest
    compiles), ``auto`` (stacked from ``STACKED_FROM_CALLS`` currents and amplitude terms on)."""
    if mode not in ROUTINE_CALL_MODES:
        raise ValueError(f"routine_calls must be one of {ROUTINE_CALL_MODES}, got {mode!r}")
    if mode == "auto":
        return len(graph.currents) + len(graph.amplitudes) >= STACKED_FROM_CALLS
    return mode == "stacked"


def call_groups(graph: WavefunctionGraph, by_legs: bool = True) -> tuple[CallGroup, ...]:
    """The currents grouped by (depth, routines, legs of each input), in increasing depth, then the
    amplitude terms grouped by (routines, legs of each input); groups in the order of their first
    member, members in graph order, at most ``MAX_GROUP_SIZE`` members each. Depth: an external
    wavefunction 0, a current one more than its deepest input. ``by_legs`` False groups without regard
    to the legs (a layout whose arrays have the same shape whatever the legs: rows)."""
    depth = {wf.name: 0 for wf in graph.externals}
    legs = {wf.name: frozenset([wf.leg]) for wf in graph.externals}
    groups: dict[tuple, list[str]] = {}
    for wf in graph.currents:
        depth[wf.name] = 1 + max(depth[name] for name in wf.inputs)
        legs[wf.name] = frozenset().union(*(legs[name] for name in wf.inputs))
        key = ("current", depth[wf.name], _signature(wf), _input_legs(wf, legs) if by_legs else None,
               wf.name if wf.polarisation else None)  # a polarised current is a call of its own
        groups.setdefault(key, []).append(wf.name)
    for amp in graph.amplitudes:
        key = ("amplitude", 0, _signature(amp), _input_legs(amp, legs) if by_legs else None)
        groups.setdefault(key, []).append(amp.name)
    ordered = sorted(groups.items(), key=lambda item: (item[0][0] == "amplitude", item[0][1]))
    return tuple(CallGroup(key[0], tuple(names[start:start + MAX_GROUP_SIZE]), key[1])
                 for key, names in ordered for start in range(0, len(names), MAX_GROUP_SIZE))


def _input_legs(node, legs: dict[str, frozenset]) -> tuple[frozenset, ...]:
    """The legs each input of a current or amplitude term spans, in argument order."""
    return tuple(legs[name] for name in node.inputs)


def _signature(node) -> tuple:
    """What members of a group share: the routine of each call and the number of inputs."""
    return tuple(call.routine for call in node.calls), len(node.inputs)
