"""The contract between a generated package and madgen's runtime and inference.

A generated package (``madgen.load(path)`` or ``import <package>``) offers one ``Process`` per
subprocess; the runtime (integration, events) and inference (gradients, gold) use it only through
the members below: nothing else of the package, no private attribute. ``tests/test_contract.py``
pins these names and signatures, and checks that every generated ``Process`` satisfies
:class:`GeneratedProcess`.

Conventions: momenta are arrays (..., n_legs, 4) of (E, px, py, pz) in GeV, legs in process order,
initial legs first; ``parameters`` maps external UFO parameter names to values (defaults for those
not given; traced JAX values allowed, so ``jax.grad`` works w.r.t. them); everything returned is
batch-first and pure JAX. ``precision`` is the kernel's working precision, "double"
(float64/complex128) or "single" (float32/complex64): kernel results come back in it, while masses,
parameters and the checks stay double (docs/precision.md).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable

KERNEL_OUTPUTS = ("me2", "diagram_weights", "helicity_weights", "flow_weights")
"""Keys of :meth:`GeneratedProcess.evaluate`'s result: |M|^2 (...,), per-diagram channel weights
(..., n_diagrams), per-helicity weights (..., n_helicities) summing to |M|^2, and leading-colour
flow weights (..., n_helicities, n_flows). With a squared-order selection (``NP^2==1``) |M|^2 and the
helicity weights are the selected interference terms and can be negative (choose helicities in
proportion to |weight|); flow weights are never negative (docs/squared_orders.md)."""

PRECISIONS = ("double", "single")
"""Values of :attr:`GeneratedProcess.precision` and of :meth:`GeneratedProcess.with_precision`."""

CHANNEL_KEYS = ("line", "particle", "pdg", "mass", "width", "legs", "s_channel", "final_pdg")
"""Keys of each propagator in :attr:`GeneratedProcess.channels` (``"diagrams"[i]["propagators"]``): ``line``
(named by the legs on its far side), its ``particle`` and ``pdg``, ``mass`` and ``width`` names, those
``legs``, whether it is an ``s_channel``, and for an s-channel the PDG id of the particle it carries toward
the final state (``final_pdg``, MadGraph's signed s-channel id: the resonance its final-state side decays
from; None for a t-channel line)."""

DECAY_KEYS = ("particle", "pdg", "mass", "width", "legs", "parent")
"""Keys of each entry of ``channels["decays"]``: the resonances the process string asks for, in the order
written -- each decaying particle of a decay chain (``legs``: the final-state legs of its products,
1-based; ``parent``: index of the decay it comes from, None for a decay of the production process)
and each required s-channel (``e+ e- > z > mu+ mu-``, with the extra key ``"required": True``; its
``legs`` None when the diagrams put it on different legs). Empty without either. The runtime uses it
for MadGraph's ``bwcutoff`` and writes the resonances into LHE files with status 2
(docs/decay_chains.md)."""


@runtime_checkable
class GeneratedProcess(Protocol):
    """One subprocess of a generated package."""

    process: str  # e.g. "g g > t t~"
    pdg_ids: tuple[int, ...]
    n_legs: int
    n_initial: int
    n_diagrams: int
    precision: str  # one of PRECISIONS: what the kernel computes and returns in
    polarised: bool  # a polarised particle ('w+{0}'): |M|^2 depends on the frame; the runtime's is the partonic CM

    def with_precision(self, precision: str) -> GeneratedProcess:
        """The same process with its kernel in ``precision`` (the same object for the same precision)."""

    def default_parameters(self) -> dict[str, float]:
        """External parameters (UFO names) with the package's default values."""

    def complete_parameters(self, parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overridden by ``parameters``; bad names or (outside jit) values are errors."""

    def internal_parameters(self, parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Masses, widths, internal parameters and couplings the process uses, by UFO name."""

    def masses(self, parameters: Mapping[str, Any] | None = None) -> Any:
        """External masses (n_legs,) in GeV."""

    def alpha_couplings(self, parameters: Mapping[str, Any] | None = None) -> tuple[float, float]:
        """(alpha_EW, alpha_s) for LHE events."""

    def param_card(self, parameters: Mapping[str, Any] | None = None) -> str:
        """The model's param card (MadGraph's layout) at ``parameters``, computed widths filled in: the
        LHE header's ``<slha>``."""

    def matrix_element(self, momenta, parameters=None, check: bool = True) -> Any:
        """|M|^2 (...,), MadGraph's SMATRIX normalisation."""

    def evaluate(self, momenta, parameters=None, *, diagrams: bool = False, helicities: bool = False,
                 flows: bool = False, check: bool = True) -> dict[str, Any]:
        """The kernel: everything a phase-space point needs from one amplitude evaluation
        (keys: ``KERNEL_OUTPUTS``, the optional ones when asked)."""

    def select_helicity_and_colour(self, momenta, key_or_uniforms, parameters=None, check: bool = True,
                                   polarisations=None, diagrams=None):
        """Per event, a helicity configuration and a leading-colour flow, chosen in proportion to
        their contributions (for polarised initial particles when given; the flow among those of the
        event's channel diagram, ``diagrams``, when given): (helicities (..., n_legs), colour (..., n_legs, 2))."""

    def polarisation_factors(self, polarisations) -> Any:
        """(n_helicities,) weights prod_i (1 + lambda_i P_i) of the helicity combinations for initial
        particles of polarisations P_i in [-1, 1] (MadGraph's polbeam / 100)."""

    @property
    def channels(self) -> Mapping[str, Any]:
        """The channel table: ``{"legs": [...], "diagrams": [{"number", "orders", "propagators"}],
        "decays": [...]}`` (``CHANNEL_KEYS``, ``DECAY_KEYS``; ``orders``: the diagram's coupling orders,
        e.g. ``{"QCD": 2}``)."""

    @property
    def helicities(self) -> Any:
        """Helicity combinations (n_helicities, n_legs)."""

    @property
    def colour_flows(self) -> Any:
        """Colour flows (n_flows, n_legs, 2) as LHE colour tags."""

    @property
    def diagram_flows(self) -> Any:
        """(n_diagrams, n_flows) bool: the colour flows each diagram reaches (MadGraph's icolamp)."""

    @property
    def compiler_options(self) -> Mapping[str, Any]:
        """XLA compiler options for jitting functions of this kernel (``jit(f, process=...)``):
        ``kernel_compiler_options`` of its number of amplitude terms and its helicity layout."""


def match_parameter_name(known, name):
    """``name`` as the package spells it (one of ``known``), matched in any case as MadGraph's ``set``
    matches parameter names (``mz`` -> ``MZ``); unchanged where it matches none or several, for the
    caller's error to name it."""
    if name in known:
        return name
    matches = [k for k in known if k.lower() == str(name).lower()]
    return matches[0] if len(matches) == 1 else name


def match_parameter_point(known, point, what: str):
    """A parameter point (a mapping; None or a positional sequence stays as it is) with its names as
    the package spells them (``match_parameter_name``); one parameter given twice (``mz`` and ``MZ``)
    is an error naming ``what`` (the option or argument it came from)."""
    from madgen.errors import MadgenError

    if not isinstance(point, Mapping):
        return point
    named = {}
    for key, value in point.items():
        name = match_parameter_name(known, key)
        if name in named:
            spellings = [k for k in point if match_parameter_name(known, k) == name]
            raise MadgenError(f"{what}: parameter '{name}' is given twice ({', '.join(map(str, spellings))})")
        named[name] = value
    return named


def compilation_cache_directory(environ=os.environ) -> str | None:
    """Where madgen keeps XLA's compiled kernels between runs (JAX's persistent compilation cache):
    ``$JAX_COMPILATION_CACHE_DIR`` when set (empty: no cache), else ``$MADGEN_CACHE/jax``, default
    ``~/.cache/madgen/jax``. The CLI exports it before JAX starts; ``load_package`` applies it to
    JAX's configuration for Python users unless a cache directory is configured already."""
    if "JAX_COMPILATION_CACHE_DIR" in environ:
        return environ["JAX_COMPILATION_CACHE_DIR"] or None
    root = environ.get("MADGEN_CACHE") or os.path.join(
        environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "madgen")
    return os.path.join(root, "jax")


CACHE_MIN_COMPILE_SECONDS = "0.2"
"""Compilations shorter than this are not worth a file in the cache."""


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache in ``compilation_cache_directory()`` unless JAX has a
    cache directory already (the user's own, or the CLI's): a kernel compiled once is loaded from disk
    by the next run and by every process that loads the same package. Returns the directory in use."""
    import jax

    configured = jax.config.jax_compilation_cache_dir
    if configured or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return configured or None
    directory = compilation_cache_directory()
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(CACHE_MIN_COMPILE_SECONDS))
    return directory


GRID_KERNEL_COMPILER_OPTIONS = {"xla_disable_hlo_passes": "call-inliner"}
"""XLA options for compiling, on CPU, a kernel whose helicity sum is laid out on the grid (a package's
``HELICITY_LAYOUT == "grid"``: a current spans only the helicities of the legs it joins, size-1 axes
elsewhere). Every generated helicity routine is a ``jax.jit`` function, which JAX lowers to an XLA call;
with the call inliner off, each routine stays a computation of its own and its current is computed once
at its own helicity shape, where in one flat graph XLA fuses the broadcast current into its consumers
and recomputes it for every helicity combination they span. A/B on one core, batch 4096, the same
package compiled both ways in one run (calls / inlined): g g > t t~ 1.40, g g > t t~ g 1.26,
g g > t t~ g g 1.34 (compile 33 -> 21 s), u d~ > w+ z 0.85. Kernels on the rows layout (every
wavefunction spans every kept combination) mostly lose from the calls (e+ e- > mu+ mu- 0.73-0.83,
g g > g g 0.66, u g > u g 0.68, g g > g g g 0.83; u u~ > e+ e- g 1.26 and e+ e- > mu+ mu- e+ e- 1.07
gain), so they keep XLA's inlining, and so do grid kernels that compute values by row (VALUE_BY_ROW:
small kernels, whose values are what the options would slow: g u > e+ e- u by row 0.54 times as fast
with the calls, e+ e- > w+ w- 0.48; their gradients on the grid lose some of the calls' gain, e+ e- >
w+ w- 4.3 instead of 7.5 times the rows kernel's). The values are the same."""

LARGE_KERNEL_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}
"""XLA options added on CPU for a large matrix-element kernel: XLA's MLIR fusion emitters spend most
of a large kernel's compile time canonicalising its big elementwise fusions; the LLVM emitters compile
the same kernels in about half the time at the same speed (one core, same run: g g > t t~ g g value
65 -> 33 s at 2.5e3 events/s, g g > t t~ g value+gradient 171 -> 99 s, 8.4e3 -> 9.1e3 events/s). Small
kernels run slower with them (e+ e- > mu+ mu- value 2.1e6 -> 1.5e6 events/s, g g > t t~ 7.4e5 -> 4.6e5)
and compile in seconds anyway, so they keep XLA's default emitters."""

LARGE_KERNEL_TERMS = 10
"""Kernels with at least this many amplitude terms are "large" (g g > t t~ has 3, g g > t t~ g 18)."""


def kernel_compiler_options(n_terms: int, helicity_layout: str = "rows", values_by_row: bool = False) -> dict:
    """The compiler options of a kernel with ``n_terms`` amplitude terms, the package's
    ``HELICITY_LAYOUT`` and ``VALUE_BY_ROW`` on JAX's default backend: on CPU,
    GRID_KERNEL_COMPILER_OPTIONS for the grid layout without values by row and
    LARGE_KERNEL_COMPILER_OPTIONS for a large kernel, less those the installed XLA rejects; on other
    backends none (XLA's defaults)."""
    import jax

    if jax.default_backend() != "cpu":
        return {}
    wanted = {**(GRID_KERNEL_COMPILER_OPTIONS if helicity_layout == "grid" and not values_by_row else {}),
              **(LARGE_KERNEL_COMPILER_OPTIONS if n_terms >= LARGE_KERNEL_TERMS else {})}
    supported = supported_compiler_options()
    return {name: value for name, value in wanted.items() if name in supported}


def jit(function, process=None, **jit_options):
    """``jax.jit`` with the compiler options of ``process`` (a generated process or group: its
    ``compiler_options``), how madgen compiles everything that evaluates a matrix element; use it for your
    own functions of a kernel. Scoped to the function: nothing process-wide.

    JAX takes compiler options only on an outermost jit: called inside another jit, grad or vmap
    trace (traced arguments), the function is an ordinary ``jax.jit`` and the outer compilation's
    options apply. ``.lower`` is that of the outermost form."""
    import functools

    import jax

    options = {**(dict(process.compiler_options) if process is not None else {}),
               **jit_options.pop("compiler_options", {})}
    plain = jax.jit(function, **jit_options)
    if not options:
        return plain
    outermost = jax.jit(function, compiler_options=options, **jit_options)

    @functools.wraps(function)
    def compiled(*args, **kwargs):
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves((args, kwargs))):
            return plain(*args, **kwargs)
        try:
            return outermost(*args, **kwargs)
        except ValueError as exc:  # under an outer trace with untraced arguments (closed-over constants)
            if "compiler_options" not in str(exc):
                raise
            return plain(*args, **kwargs)

    compiled.lower = outermost.lower
    return compiled


_SUPPORTED_OPTIONS: dict | None = None


def supported_compiler_options() -> dict:
    """GRID_KERNEL_COMPILER_OPTIONS and LARGE_KERNEL_COMPILER_OPTIONS less those this XLA rejects
    (checked once, on a trivial function)."""
    global _SUPPORTED_OPTIONS
    if _SUPPORTED_OPTIONS is None:
        import jax
        import jax.numpy as jnp

        supported = {}
        for name, value in {**GRID_KERNEL_COMPILER_OPTIONS, **LARGE_KERNEL_COMPILER_OPTIONS}.items():
            try:
                jax.jit(jnp.negative, compiler_options={name: value}).lower(1.0).compile()
            except Exception:  # an XLA without the option: compile without it
                continue
            supported[name] = value
        _SUPPORTED_OPTIONS = supported
    return dict(_SUPPORTED_OPTIONS)


def load_package(path) -> Any:
    """Import a generated package from its directory and return its process object (the layer-neutral
    loader behind ``madgen.load``: the runtime, inference and Dask workers load packages with it).

    Enables JAX double precision (``jax_enable_x64``), which the generated code needs, and madgen's
    persistent compilation cache (``enable_compilation_cache``). A package is
    imported once per process and again only when its ``__init__.py`` changed (regenerated).
    """
    import jax

    from madgen.errors import MadgenError

    jax.config.update("jax_enable_x64", True)
    enable_compilation_cache()
    path = Path(path).resolve()
    init = path / "__init__.py"
    if not init.is_file():
        raise MadgenError(f"{path} is not a generated madgen package (no __init__.py); "
                          "run `madgen generate process.yaml` first")
    module_name = "madgen_generated_" + re.sub(r"\W", "_", path.name, flags=re.ASCII)  # a '.' would be a submodule
    stamp = init.stat().st_mtime_ns  # a regenerated package is imported afresh, not served from the cache
    cached = sys.modules.get(module_name)
    if (cached is not None and getattr(cached, "__file__", None) == str(init)
            and getattr(cached, "_madgen_stamp", None) == stamp):
        return cached.process
    for name in [n for n in sys.modules if n == module_name or n.startswith(module_name + ".")]:
        del sys.modules[name]
    module = import_package_directory(module_name, path)
    module._madgen_stamp = stamp
    return module.process


def import_package_directory(module_name: str, path) -> Any:
    """Import the package in directory ``path`` (its ``__init__.py``) under ``module_name``, registered in
    ``sys.modules`` so that its relative imports resolve; unregistered again if importing it fails."""
    spec = importlib.util.spec_from_file_location(module_name, Path(path) / "__init__.py",
                                                  submodule_search_locations=[str(path)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[module_name]
        raise
    return module
