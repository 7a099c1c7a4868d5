"""The user-facing API of a generated madgen process (copied verbatim into each package).

A ``Process`` wraps one generated matrix-element module; a ``ProcessGroup`` holds
the subprocesses of a multiparticle process. Both are plain Python objects around
pure JAX functions, so ``jax.jit``, ``jax.vmap`` and ``jax.grad`` apply to
``matrix_element`` with respect to the momenta and to the parameter dict.

Chunks: on CPU a process differentiates its kernel over a batch in chunks of ``kernel_chunk_size``
events (``jax.lax.map``, sized to the number of helicity combinations so that a chunk's working set
stays in cache): reverse-mode gradients 2-3 times cheaper, and memory for a gradient bounded by one
chunk's intermediates. |M|^2 (``matrix_element``, ``evaluate`` without extras) is differentiated
through each event's Jacobian, one vjp per chunk, so reverse mode recomputes nothing; a kernel with
several outputs per event recomputes each chunk under ``jax.checkpoint``. Values run in larger chunks
of ``value_chunk_size`` events (no checkpoint), which keep the arrays of one chunk in cache.
``MADGEN_KERNEL_CHUNK`` and ``MADGEN_VALUE_CHUNK`` (events per chunk, or "off") override the choices;
on a GPU the batch is evaluated in one piece.

Precision: a process evaluates its kernel in double (float64/complex128) or single
(float32/complex64) precision, the package's default (process card ``precision``) or another
one through ``process.with_precision("single")``; parameters are computed in double either way
and cast at the kernel's entry (docs/precision.md).
"""

import functools
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np


try:  # one exception class for madgen and its packages; a package used without madgen defines its own
    from madgen.errors import InputShapeError
except ImportError:  # pragma: no cover - exercised by the standalone-import test
    class InputShapeError(ValueError):
        """Momenta or parameters of the wrong shape, type or value, or with unknown names."""

try:  # madgen's kernel compiler options (faster kernels and compiles on CPU); XLA's defaults without madgen
    from madgen.contract import jit as _jit
    from madgen.contract import kernel_compiler_options as _kernel_compiler_options
except ImportError:  # pragma: no cover - exercised by the standalone-import test
    def _jit(function, process=None, **jit_options):
        return jax.jit(function, **jit_options)

    def _kernel_compiler_options(n_terms, helicity_layout="rows", values_by_row=False):
        return {}


MOMENTUM_TOLERANCE = 1e-7
"""check=True: |sum of incoming - sum of outgoing momenta| <= this x the incoming energy, per component."""

MASS_SHELL_TOLERANCE = 1e-6
"""check=True: |p^2 - m^2| <= this x E^2 for every leg."""

ROUNDING_SLACK = 16
"""check=True on momenta of a type coarser than float64 (float32): the tolerances above are at least
this many units of that type's rounding (float32 momenta of exact points are otherwise refused)."""

PARAM_CARD_FILE = "param_card.dat"
"""The model's param card in MadGraph's layout at the package's defaults, beside the modules
(``Process.param_card`` fills in other values)."""

PRECISIONS = {"double": (jnp.float64, jnp.complex128), "single": (jnp.float32, jnp.complex64)}
"""The kernel's working precisions: name -> (real dtype, complex dtype)."""


def _is_traced(value):
    return isinstance(value, jax.core.Tracer)


def _require_double_precision():
    if not jax.config.jax_enable_x64:
        raise RuntimeError(
            "madgen computes parameters (and, unless precision is 'single', matrix elements) in double "
            "precision: call jax.config.update('jax_enable_x64', True) before using them "
            "(madgen.load() does this for you)")


def _check_precision(precision, process):
    if precision not in PRECISIONS:
        raise ValueError(f"precision for '{process}' must be one of {sorted(PRECISIONS)}, got {precision!r}")


def _in_precision(internal, precision):
    """The parameter dict (computed in double) cast to the kernel's working precision; unchanged in double."""
    if precision == "double":
        return internal
    real, complex_ = PRECISIONS[precision]
    return {name: jnp.asarray(value).astype(complex_ if jnp.iscomplexobj(value) else real)
            for name, value in internal.items()}


KERNEL_CHUNK_HELICITY_EVENTS = 16384
"""Helicity combinations x events per kernel chunk on CPU: the fastest value + gradient measured (one
core, batch 4096, grid kernels with their routines as XLA calls) for g g > t t~ (16 combinations, 1024
events: 5.2 x the value against 6.6 in chunks of 64), g g > t t~ g (32, 512: 4.6 against 7.1 in chunks
of 32, and the compile 137 -> 58 s) and g g > t t~ g g (64, 256: 4.6 against 11.7 in chunks of 16)."""

KERNEL_CHUNK_BOUNDS = (16, 1024)

KERNEL_CHUNK_MIN_HELICITIES = 16
"""Kernels over fewer helicity combinations run in one piece: for e+ e- > mu+ mu- (4 combinations)
chunks cost 35-50 % of the value's speed and gained nothing on its gradient (8192 events, one core)."""


VALUE_CHUNK_HELICITY_EVENTS = 4096
"""Helicity combinations x events per chunk of a *value* on CPU: a value over a large batch runs as
jax.lax.map over chunks whose arrays stay in cache (g g > t t~ g, 32 combinations, one core: 6.2e4
events/s in chunks of 512 against 4.0e4 in one piece of 4096). 4096 rather than 16384 since the grid
kernels' routines are XLA calls whose results are materialised: the same packages in one process, one
core, batch 4096, 11 interleaved rounds, 4096 against 16384: g g > t t~ 1.05, g g > t t~ g 1.05,
g g > t t~ g g 1.14, g g > g g g 1.29, u u~ > t t~ g 1.03 (2048 is no faster)."""

VALUE_CHUNK_BOUNDS = (64, 4096)


def _kernel_chunk_size(n_helicities, backend=None, environ=None):
    """Events per chunk of a kernel's *derivatives* over ``n_helicities`` combinations: None (one
    piece) on a GPU/TPU backend or below KERNEL_CHUNK_MIN_HELICITIES combinations, else
    KERNEL_CHUNK_HELICITY_EVENTS / n_helicities within KERNEL_CHUNK_BOUNDS; ``MADGEN_KERNEL_CHUNK``
    (a positive number of events, or "off") overrides it."""
    return _chunk_size(n_helicities, KERNEL_CHUNK_HELICITY_EVENTS, KERNEL_CHUNK_BOUNDS, "MADGEN_KERNEL_CHUNK",
                       backend, environ)


def _value_chunk_size(n_helicities, backend=None, environ=None):
    """Events per chunk of a kernel's *values*: as ``_kernel_chunk_size`` with
    VALUE_CHUNK_HELICITY_EVENTS and VALUE_CHUNK_BOUNDS; ``MADGEN_VALUE_CHUNK`` overrides it."""
    return _chunk_size(n_helicities, VALUE_CHUNK_HELICITY_EVENTS, VALUE_CHUNK_BOUNDS, "MADGEN_VALUE_CHUNK",
                       backend, environ)


def _chunk_size(n_helicities, helicity_events, bounds, variable, backend, environ):
    setting = (os.environ if environ is None else environ).get(variable, "").strip()
    if setting:
        if setting.lower() in ("off", "none", "0"):
            return None
        if not setting.isdigit():
            raise InputShapeError(f"{variable} must be a positive number of events or 'off', got {setting!r}")
        return int(setting)
    if (backend or jax.default_backend()) != "cpu" or n_helicities < KERNEL_CHUNK_MIN_HELICITIES:
        return None
    low, high = bounds
    return max(low, min(high, helicity_events // int(n_helicities)))


def _in_chunks(function, flat, internal, chunk, value_chunk=None, single_output=False, value_function=None):
    """function(p (n_legs, 4, n), internal) -> leaves (..., n), evaluated on events ``flat`` (n, n_legs, 4).
    Values go through ``_values`` (in chunks of ``value_chunk`` events when n is larger), of
    ``value_function`` when given: the same function in a form faster for values alone, in one piece
    (``_values_of``), whose derivatives are those of ``function`` (``_value_form``). With ``chunk`` set and n > chunk, derivatives (jax.jvp,
    jax.grad, Hessians) are computed chunk by chunk in cache: of a ``single_output`` function (one value
    per event, such as |M|^2) through each event's Jacobian (``_jacobian_in_chunks``), of any other
    through ``_derivatives_in_chunks`` (checkpointed chunks)."""
    value_function = value_function or function
    if chunk is None or flat.shape[0] <= chunk:
        if value_function is function:
            return _values(function, flat, internal, value_chunk)
        return _value_form(function, value_function, value_chunk, flat, internal)
    if single_output and _per_event_jacobian_applies(internal, flat.shape[0]):
        return _jacobian_in_chunks(function, value_function, chunk, value_chunk, flat, internal)
    return _derivatives_in_chunks(function, value_function, chunk, value_chunk, flat, internal)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def _value_form(function, value_function, value_chunk, flat, internal):
    """``value_function`` on every event, with the derivatives of ``function``: the generated
    matrix_element_value computes |M|^2 one helicity combination at a time (fastest for a value), while
    reverse mode is fastest through matrix_element (madgen.codegen.emit.VALUE_BY_ROW_MAX_COST)."""
    return _values_of(function, value_function, value_chunk, flat, internal)


def _values_of(function, value_function, value_chunk, flat, internal):
    """The values of ``value_function``: in chunks of ``value_chunk`` events if it is ``function``, else
    (a form by row, whose arrays span the events alone) in one piece: chunked by jax.lax.map, e+ e- >
    w+ w- by row ran 5.7 times slower (one core, batch 4096, chunks of 910 events)."""
    return _values(value_function, flat, internal, value_chunk if value_function is function else None)


@_value_form.defjvp
def _value_form_jvp(function, value_function, value_chunk, primals, tangents):
    return jax.jvp(lambda flat, internal: _values(function, flat, internal, value_chunk), primals, tangents)


def _values(function, flat, internal, value_chunk):
    """The kernel on every event, in chunks of ``value_chunk`` events (no checkpoint) or in one piece."""
    if value_chunk is None or flat.shape[0] <= value_chunk:
        return _whole(function, flat, internal)
    return _chunked(function, value_chunk, flat, internal, checkpoint=False)


def _whole(function, flat, internal):
    return function(jnp.transpose(flat, (1, 2, 0)), internal)


def _poison(flat):
    """NaN for each event of ``flat`` (n, n_legs, 4) with a NaN or infinite component, else 0: a sum of the
    components laid out as the kernels take them (n_legs, 4, n), row by row. XLA adds contiguous rows in
    one vectorised loop; ``jnp.sum`` over the last two axes of ``flat`` is a reduction that cost e+ e- >
    mu+ mu- a third of its |M|^2 throughput (one core, batch 4096)."""
    rows = jnp.transpose(flat, (1, 2, 0))
    return 0.0 * sum(rows[leg, mu] for leg in range(rows.shape[0]) for mu in range(rows.shape[1]))


def _is_per_event(value, n):
    """A parameter given per event: its last axis has one entry per event (e.g. a running alpha_s)."""
    return jnp.ndim(value) >= 1 and jnp.shape(value)[-1] == n


def _chunked(function, chunk, flat, internal, checkpoint=True):
    """``_whole`` with jax.lax.map over chunks of ``chunk`` events, each under jax.checkpoint unless
    ``checkpoint`` is False. Parameters given per event (last axis of length n, e.g. a running
    alpha_s) are chunked with the events; the others are shared by every chunk."""
    n = flat.shape[0]
    per_event = {name: value for name, value in internal.items() if _is_per_event(value, n)}

    def one_chunk(events, parameters):
        return _whole(function, events, {**internal, **parameters})

    return _map_chunks(jax.checkpoint(one_chunk) if checkpoint else one_chunk, chunk, flat, per_event)


def _map_chunks(body, chunk, flat, per_event):
    """body(events (chunk, n_legs, 4), per_event {name: (..., chunk)}) -> leaves (..., chunk), mapped with
    jax.lax.map over the n events ``flat`` in chunks of ``chunk`` and joined into leaves (..., n); the last
    chunk is padded with copies of the first event, and the padding is sliced away."""
    n = flat.shape[0]
    n_chunks = -(-n // chunk)

    def split(x, axis):
        x = jnp.moveaxis(x, axis, 0)
        padding = n_chunks * chunk - n
        if padding:
            x = jnp.concatenate([x, jnp.broadcast_to(x[:1], (padding,) + x.shape[1:])])
        return jnp.reshape(x, (n_chunks, chunk) + x.shape[1:])

    def one_chunk(pieces):
        events, parameters = pieces
        return body(events, {name: jnp.moveaxis(value, 0, -1) for name, value in parameters.items()})

    out = jax.lax.map(one_chunk, (split(flat, 0), {name: split(value, -1) for name, value in per_event.items()}))

    def unchunk(v):
        v = jnp.moveaxis(v, 0, -2)
        return jnp.reshape(v, v.shape[:-2] + (n_chunks * chunk,))[..., :n]

    return jax.tree_util.tree_map(unchunk, out)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3))
def _derivatives_in_chunks(function, value_function, chunk, value_chunk, flat, internal):
    return _values_of(function, value_function, value_chunk, flat, internal)


@_derivatives_in_chunks.defjvp
def _derivatives_in_chunks_jvp(function, value_function, chunk, value_chunk, primals, tangents):
    return jax.jvp(functools.partial(_chunked, function, chunk), primals, tangents)


def _differentiable(value):
    return jnp.issubdtype(jnp.result_type(value), jnp.inexact)


def _per_event_jacobian_applies(internal, n):
    """Every differentiable parameter is a scalar or given per event, so one copy per event carries its
    derivative (other shapes take ``_derivatives_in_chunks``)."""
    return all(jnp.ndim(value) == 0 or _is_per_event(value, n)
               for value in internal.values() if _differentiable(value))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3))
def _jacobian_in_chunks(function, value_function, chunk, value_chunk, flat, internal):
    return _values_of(function, value_function, value_chunk, flat, internal)


def _jacobian_in_chunks_jvp(function, value_function, chunk, value_chunk, primals, tangents):
    """The tangent of |M|^2 from each event's Jacobian: d me2_i = Re(J_i . t_i) over momenta and parameters.

    Why: events are independent, so one vjp of a chunk (cotangent 1 per event, each parameter copied per
    event) gives every event's Jacobian, and the rule is linear in the tangents through J alone. Reverse
    mode then transposes a product with J instead of recomputing and transposing each chunk (the
    checkpointed ``_derivatives_in_chunks``): value + gradient of g g > t t~ g 1.31 times faster, of
    g g > t t~ g g 1.10 times (one core, batch 4096). J spans only the inputs whose tangent is not a
    symbolic zero: a gradient in the parameters alone (gold mining) skips the momenta's Jacobian, and
    one in the momenta alone the parameters'. The cost: a jvp costs this vjp too, whatever the number of
    tangents. JAX's vjp of a real function of complex z gives conj(d f / d z), hence Re(J t)."""
    flat, internal = primals
    d_flat, d_internal = tangents
    names = tuple(name for name, tangent in d_internal.items()
                  if not _is_symbolic_zero(tangent) and _differentiable(internal[name]))
    with_momenta = not _is_symbolic_zero(d_flat)
    value, (j_flat, j_internal) = _value_and_jacobian(function, chunk, flat, internal, with_momenta, names)
    slope = jnp.zeros_like(value)
    if with_momenta:
        slope = slope + jnp.sum(_real_product(j_flat, d_flat), axis=(1, 2))
    for name, jacobian in j_internal.items():
        slope = slope + _real_product(jacobian, d_internal[name])
    return value, slope.astype(value.dtype)


_jacobian_in_chunks.defjvp(_jacobian_in_chunks_jvp, symbolic_zeros=True)


def _is_symbolic_zero(tangent):
    return isinstance(tangent, jax.custom_derivatives.SymbolicZero)


def _real_product(jacobian, tangent):
    product = jacobian * tangent
    return jnp.real(product) if jnp.iscomplexobj(product) else product


def _value_and_jacobian(function, chunk, flat, internal, with_momenta, names):
    """(value (n,), (d value_i / d flat_i (n, n_legs, 4) or None, {name: d value_i / d parameter_i (n,)}))
    in chunks of ``chunk`` events: one vjp per chunk, in the momenta when ``with_momenta`` and in the
    parameters ``names``, each given one copy per event (the other parameters given per event are
    chunked with the events, the rest shared)."""
    n = flat.shape[0]
    rows = {name: jnp.broadcast_to(internal[name], (n,)) if jnp.ndim(internal[name]) == 0 else internal[name]
            for name in names}
    per_event = {name: value for name, value in internal.items() if name not in rows and _is_per_event(value, n)}
    shared = {name: value for name, value in internal.items() if name not in rows and name not in per_event}

    def one_chunk(events, pieces):
        fixed = {**shared, **{name: pieces[name] for name in per_event}}
        varying = {name: pieces[name] for name in rows}
        if with_momenta:
            value, pullback = jax.vjp(lambda p, v: _whole(function, p, {**fixed, **v}), events, varying)
            j_events, j_parameters = pullback(jnp.ones_like(value))
            return value, (jnp.moveaxis(j_events, 0, -1), j_parameters)
        value, pullback = jax.vjp(lambda v: _whole(function, events, {**fixed, **v}), varying)
        return value, (None, pullback(jnp.ones_like(value))[0])

    value, (j_events, j_parameters) = _map_chunks(one_chunk, chunk, flat, {**rows, **per_event})
    return value, (None if j_events is None else jnp.moveaxis(j_events, -1, 0), j_parameters)


class Process:
    """One generated subprocess: |M|^2 and its metadata.

    ``precision``: "double" (float64/complex128) or "single" (float32/complex64), the precision every
    kernel method (matrix_element, evaluate, diagram_weights, helicity_weights, helicity_flow_weights,
    select_helicity_and_colour) computes in and returns; ``with_precision`` gives the other one.
    """

    def __init__(self, module, parameters_module, package_dir, precision="double"):
        _check_precision(precision, module.PROCESS)
        self.precision = precision
        self._views = {precision: self}
        self._module = module
        self._parameters = parameters_module
        self._dir = Path(package_dir)
        self.process = module.PROCESS
        self.pdg_ids = tuple(module.PDG_IDS)
        self.n_legs = len(self.pdg_ids)
        self.n_initial = module.N_INITIAL
        self.n_diagrams = module.N_DIAGRAMS
        self.polarised = getattr(module, "POLARISED", False)  # |M|^2 depends on the frame (module comment)
        self.subprocesses = (self,)
        self.kernel_chunk_size = _kernel_chunk_size(len(module.HELICITIES))
        self.value_chunk_size = _value_chunk_size(len(module.HELICITIES))
        self._by_row = module.values_by_row()  # values by row (_value_form)
        self._evaluate = _jit(self._matrix_element_unchecked, process=self)

    def __repr__(self):
        single = ", single precision" if self.precision == "single" else ""
        return f"<madgen process '{self.process}' ({self.n_diagrams} diagrams{single})>"

    def with_precision(self, precision):
        """This process with its kernel in ``precision`` ("double" or "single"): a view sharing the
        generated code, the same object for the same precision (compiled code is reused); this one
        for its own precision. In single precision momenta are cast to float32, the parameters
        (computed in double) to float32/complex64, and results are float32; masses(), widths() and
        check_momenta stay in double. Gradients work in either."""
        _check_precision(precision, self.process)
        if precision not in self._views:
            view = Process(self._module, self._parameters, self._dir, precision)
            view._views = self._views
            self._views[precision] = view
        return self._views[precision]

    def default_parameters(self):
        """External parameters of the (restricted) model, keyed by UFO name, as in the param card."""
        return dict(self._parameters.EXTERNAL_DEFAULTS)

    def complete_parameters(self, parameters=None):
        """Defaults overridden by ``parameters``; unknown names, and (outside jit) values of the wrong
        type or range, are an error naming the parameter (see ``check_parameters``)."""
        return _complete_parameters(self._parameters, self.process, parameters)

    def internal_parameters(self, parameters=None):
        """The masses, widths, internal parameters and couplings this process uses, computed from the
        external ``parameters`` (defaults for those not given), keyed by UFO name. Pure JAX."""
        return self._parameters.compute_parameters(self.complete_parameters(parameters))

    def alpha_couplings(self, parameters=None):
        """(alpha_EW, alpha_s) of the model at ``parameters`` (LHE's AQEDUP, AQCDUP), as floats."""
        internal = self.internal_parameters(parameters)
        return tuple(float(value) for value in self._parameters.alpha_couplings(internal))

    def masses(self, parameters=None):
        """Masses of the external legs in process order (GeV), as a JAX array of shape (n_legs,), or
        (..., n_legs) where a mass is given per event (an array of parameter values)."""
        internal = self.internal_parameters(parameters)
        masses = [jnp.asarray(0.0 if name == "ZERO" else internal[name], dtype=jnp.float64).real
                  for name in self._module.MASS_PARAMETERS]
        return jnp.stack(jnp.broadcast_arrays(*masses), axis=-1)

    def widths(self, parameters=None, partial=False):
        """The widths computed from the model's decays (process card ``widths: auto``) at
        ``parameters``: {width parameter: Gamma in GeV}, or with ``partial=True``
        {width parameter: {channel: partial width}}; {} when the package computes none."""
        cache = self.__dict__.setdefault("_widths_jit", {})
        if partial not in cache:
            cache[partial] = _jit(functools.partial(_auto_widths, self._parameters, partial=partial), process=self)
        return cache[partial](self.complete_parameters(parameters))

    def param_card(self, parameters=None):
        """The param card of the package's model (``param_card.dat``, MadGraph's layout) at ``parameters``
        (external UFO names; the package's defaults elsewhere), with the widths the package computes
        (``widths``) and the dependent masses and widths (MW, ...) filled in: what MadGraph writes into
        an LHE header (``<slha>``) for the shower. Values must be scalars (one parameter point)."""
        path = self._dir / PARAM_CARD_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no param card in this package (generated by an older madgen); "
                                    "regenerate it with `madgen generate`")
        text = path.read_text()
        values = {name: _scalar(name, value, self.process)
                  for name, value in self.complete_parameters(parameters).items()}
        values.update({name: _scalar(name, value, self.process) for name, value in self.widths(values).items()})
        dependent = set(_card_names(text)) - set(values)  # internal masses and widths (MW, ...)
        if dependent:
            internal = self.internal_parameters(parameters)
            values.update({name: float(np.real(internal[name])) for name in dependent if name in internal})
        return _param_card_with(text, values)

    def matrix_element(self, momenta, parameters=None, check=True):
        """|M|^2 summed over final and averaged over initial helicities and colours.

        ``momenta``: array of shape (..., n_legs, 4), components (E, px, py, pz) in GeV,
        legs in the order of the process string (initial first). Returns shape (...), float64
        (float32 for a process in single precision, see ``with_precision``).
        ``check``: outside jit/grad, refuse momenta that are not finite real numbers, have a
        negative energy, do not conserve momentum or are off their mass shell (``check_momenta``);
        inside jit/grad (traced momenta) nothing is checked, and with traced parameters (a gradient in
        them) everything but the mass shells. In every mode a NaN or infinity in an
        event's momenta gives NaN for that event.
        Differentiate it inside ``madgen.jit(..., process=self)``: a bare ``jax.grad`` or ``jax.jit``
        compiles with XLA's defaults, several times slower for large kernels (README, ``madgen.jit``).
        """
        parameters = self.complete_parameters(parameters)
        momenta = self._checked_momenta(momenta, parameters, check)
        if momenta.size == 0:  # no events: no values (the kernel's batch reshapes need at least one)
            return jnp.zeros(momenta.shape[:-2], dtype=jnp.result_type(momenta.dtype, jnp.float32))
        value = self._evaluate(momenta, parameters)
        if check and not _is_traced(value) and not bool(jnp.all(jnp.isfinite(value))):
            self._name_undefined_parameters(parameters)
        return value

    def _name_undefined_parameters(self, parameters):
        """Raise ``InputShapeError`` naming the first non-finite mass, width, internal parameter or coupling
        at ``parameters`` (aS < 0, MZ = 0, Gf < 0: a point where the model is undefined gave NaN)."""
        for name, value in self.internal_parameters(parameters).items():
            array = np.asarray(value)
            if not np.all(np.isfinite(array)):
                moved = {k: v for k, v in parameters.items() if np.ndim(v) == 0 and not _is_traced(v)
                         and complex(v) != complex(self._parameters.EXTERNAL_DEFAULTS[k])}
                given = ", ".join(f"{k} = {complex(v).real:g}" for k, v in moved.items()) or "the defaults"
                raise InputShapeError(f"'{self.process}' at {given}: the model's {name} is "
                                      f"{array.reshape(-1)[0]} (not finite); choose values at which the model "
                                      "is defined")

    def _matrix_element_unchecked(self, momenta, parameters):
        return self._per_event(self._module.matrix_element, momenta, parameters, single_output=True,
                               value_function=self._module.matrix_element_value if self._by_row else None)

    def evaluate(self, momenta, parameters=None, *, diagrams=False, helicities=False, flows=False, check=True):
        """The kernel: |M|^2 and, when asked, what a phase-space point also needs, all from one
        evaluation of the amplitudes (``madgen.contract.GeneratedProcess``). Returns a dict with
        "me2" (...,) and optionally "diagram_weights" (..., n_diagrams), "helicity_weights"
        (..., n_helicities) and "flow_weights" (..., n_helicities, n_flows). Pure JAX."""
        parameters = self.complete_parameters(parameters)
        momenta = self._checked_momenta(momenta, parameters, check)
        if not (diagrams or helicities or flows):  # one value per event: derivatives through its Jacobian
            return {"me2": self._matrix_element_unchecked(momenta, parameters)}
        extras = dict(diagrams=diagrams, helicities=helicities, flows=flows)
        by_row = functools.partial(self._module.point_data_value, **extras) if self._by_row else None
        return self._per_event(functools.partial(self._module.point_data, **extras), momenta, parameters,
                               value_function=by_row)

    @property
    def channels(self):
        """The phase-space channel table emitted at generation time: {"legs": [...], "diagrams":
        [{"number", "propagators": [{"line", "particle", "pdg", "mass", "width", "legs",
        "s_channel"}, ...]}, ...]} (mass and width are UFO parameter names, "ZERO" for none)."""
        return self._module.CHANNELS

    def diagram_weights(self, momenta, parameters=None, check=True):
        """|amplitude|^2 of every diagram, summed over helicities, shape (..., n_diagrams):
        the single-diagram-enhancement channel weights."""
        parameters = self.complete_parameters(parameters)
        momenta = self._checked_momenta(momenta, parameters, check)
        return self._per_event(self._module.diagram_weights, momenta, parameters)

    # -- helicity and colour selection (event generation) -----------------------------------

    @property
    def helicities(self):
        """The helicity combinations, shape (n_helicities, n_legs): one row each, legs in process order."""
        return self._module.HELICITIES.copy()

    def polarisation_factors(self, polarisations):
        """Weights of the helicity combinations (rows of ``helicities``) for polarised initial particles,
        shape (n_helicities,): prod_i (1 + lambda_i P_i) over the initial legs i, ``polarisations`` = (P_1,
        ...) one per initial leg in [-1, 1] (+1: all of helicity +, MadGraph's polbeam / 100). The
        polarised |M|^2 is sum_h factors[h] helicity_weights[h] (1 for every row when unpolarised, so
        that the average over the initial helicities stays in |M|^2)."""
        values = np.asarray(polarisations, dtype=np.float64).reshape(-1)
        if len(values) != self.n_initial or not np.all(np.abs(values) <= 1.0):
            raise InputShapeError(f"polarisations of '{self.process}' must be {self.n_initial} value(s) in "
                                  f"[-1, 1], one per initial particle, got {list(np.asarray(polarisations).reshape(-1))}")
        initial = self._module.HELICITIES[:, :self.n_initial]
        for leg, value in enumerate(values):
            if value != 0 and np.any(initial[:, leg] == 0):
                raise InputShapeError(f"initial particle {leg + 1} of '{self.process}' has a helicity-0 state: a "
                                      "polarisation +-1 of its helicity does not describe it")
        return np.prod(1.0 + np.sign(initial) * values, axis=1)

    @property
    def colour_flows(self):
        """The colour flows, shape (n_flows, n_legs, 2): the (colour, anticolour) LHE tags (501, 502, ...;
        0 for none) of every leg, initial-state legs as in LHE files (an incoming quark carries colour)."""
        return self._module.COLOUR_FLOWS.copy()

    @property
    def compiler_options(self):
        """XLA compiler options for jitting functions of this kernel (``madgen.jit(f, process=...)``): on CPU,
        the helicity routines kept as calls for the grid layout (unless values are by row) and, for a large
        kernel, faster compilation; none on other backends or without madgen
        (madgen.contract.kernel_compiler_options)."""
        return _kernel_compiler_options(len(self._module.DIAGRAM_OF_TERM), self._module.HELICITY_LAYOUT,
                                        self._by_row)

    def _checked_momenta(self, momenta, parameters, check=True):
        _require_double_precision()
        if not _is_traced(momenta):
            dtype = np.asarray(momenta).dtype if not hasattr(momenta, "dtype") else momenta.dtype
            if dtype == bool or not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
                raise InputShapeError(f"momenta for '{self.process}' must be real numbers (GeV), got dtype "
                                      f"{dtype}")
        momenta = jnp.asarray(momenta)
        if momenta.ndim < 2 or momenta.shape[-2:] != (self.n_legs, 4):
            raise InputShapeError(
                f"momenta for '{self.process}' must have shape (..., {self.n_legs}, 4) "
                f"[(E, px, py, pz) for each leg], got {tuple(momenta.shape)}")
        _per_event_parameters(parameters, momenta.shape[:-2], self.process)
        if check and not _is_traced(momenta):  # the mass shells only with concrete parameters
            self.check_momenta(momenta, parameters, shells=not any(_is_traced(v) for v in parameters.values()))
        return momenta

    def check_momenta(self, momenta, parameters=None, shells=True):
        """Raise ``InputShapeError`` naming the first bad event (flat index) and what is wrong:
        a non-finite component, a negative energy, momentum not conserved beyond
        MOMENTUM_TOLERANCE (relative to the incoming energy), a leg off its mass shell beyond
        MASS_SHELL_TOLERANCE (relative to E^2); for float32 momenta both at least ROUNDING_SLACK
        units of float32 rounding (``shells=False``: not the mass shells)."""
        dtype = getattr(momenta, "dtype", None)
        dtype = np.asarray(momenta).dtype if dtype is None else np.dtype(dtype)
        rounding = ROUNDING_SLACK * float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else 0.0
        p = np.asarray(momenta, dtype=np.float64).reshape(-1, self.n_legs, 4)
        masses = None
        if shells:
            masses = np.asarray(self.masses(parameters), dtype=np.float64)  # (n_legs,) or per event (..., n_legs)
            masses = np.broadcast_to(masses.reshape(-1, self.n_legs), p.shape[:2])
        problems = _momentum_problems(p, masses, self.n_initial, rounding)
        for event, message in problems:
            raise InputShapeError(f"momenta for '{self.process}', event {event}: {message} (pass check=False "
                                  "to evaluate such points anyway)")

    def _per_event(self, function, momenta, parameters, single_output=False, value_function=None):
        """function(p (n_legs, 4, batch), internal) -> array(s) (..., batch), as (batch..., ...); values by
        ``value_function`` when given (``_in_chunks``).

        Events with a NaN or infinite momentum component give NaN (never a plausible number).
        The momenta and the parameters (computed in double) enter in the process's precision."""
        batch_shape = momenta.shape[:-2]
        flat = jnp.reshape(momenta, (-1, self.n_legs, 4)).astype(PRECISIONS[self.precision][0])
        parameters = _per_event_parameters(parameters, batch_shape, self.process)
        internal = _in_precision(self._parameters.compute_parameters(parameters), self.precision)
        values = _in_chunks(function, flat, internal, self.kernel_chunk_size, self.value_chunk_size, single_output,
                            value_function)
        poison = _poison(flat)

        def reshape(v):
            v = jnp.moveaxis(v, -1, 0)
            v = v + jnp.reshape(poison, poison.shape + (1,) * (v.ndim - 1)).astype(v.dtype)
            return jnp.reshape(v, batch_shape + v.shape[1:])

        return jax.tree_util.tree_map(reshape, values)

    def helicity_weights(self, momenta, parameters=None, check=True):
        """Contribution of every helicity combination (rows of ``helicities``) to ``matrix_element``,
        shape (..., n_helicities); the sum over the last axis is |M|^2."""
        parameters = self.complete_parameters(parameters)
        momenta = self._checked_momenta(momenta, parameters, check)
        return self._jitted("helicity_weights")(momenta, parameters)

    def helicity_flow_weights(self, momenta, parameters=None, check=True):
        """Leading-colour weights |JAMPFLOW_f|^2 of every helicity combination and colour flow
        (``colour_flows``), shape (..., n_helicities, n_flows); unnormalised. Flows that enter
        only at subleading colour (1/N-suppressed) have weight 0 and are never selected."""
        parameters = self.complete_parameters(parameters)
        momenta = self._checked_momenta(momenta, parameters, check)
        return self._jitted("helicity_flow_weights")(momenta, parameters)

    def _jitted(self, name):
        cache = self.__dict__.setdefault("_jit_cache", {})
        if name not in cache:
            if name == "select":
                cache[name] = _jit(self._select_unchecked, process=self)
            else:
                function = getattr(self._module, name)
                cache[name] = _jit(lambda momenta, parameters: self._per_event(function, momenta, parameters),
                                   process=self)
        return cache[name]

    def select_helicity_and_colour(self, momenta, key_or_uniforms, parameters=None, check=True,
                                   polarisations=None, diagrams=None):
        """Choose, per event, a helicity combination with probability proportional to the magnitude of
        its ``helicity_weights`` (signed for an interference-only selection such as NP^2==1; times its
        ``polarisation_factors(polarisations)`` for polarised initial particles) and then a colour flow
        with probability proportional to its ``helicity_flow_weights`` for that helicity (MadGraph's
        choice of LHE helicities and colour lines). ``diagrams``: per event (...) the diagram (1-based) of
        the integration channel it came from, or 0: the flow is chosen among those that diagram reaches
        (``diagram_flows``, MadGraph's icolamp: a Z channel's quark pair is a colour singlet), among all
        where those carry no weight; None: among all.

        ``key_or_uniforms``: a JAX PRNG key, or uniform random numbers in [0, 1) of shape
        (..., 2) (first: helicity, second: colour flow), which makes the choice a pure function
        of its inputs. Returns (helicities (..., n_legs), colour (..., n_legs, 2)) int64 arrays:
        the chosen row of ``helicities`` and of ``colour_flows``. Events whose weights all vanish
        get the last helicity combination or flow. Pure JAX (can be jitted).
        """
        parameters = self.complete_parameters(parameters)
        momenta = self._checked_momenta(momenta, parameters, check)
        batch_shape = momenta.shape[:-2]
        dtype = getattr(key_or_uniforms, "dtype", None)
        if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
            uniforms = jax.random.uniform(key_or_uniforms, batch_shape + (2,), dtype=jnp.float64)
        elif (uniforms := jnp.asarray(key_or_uniforms)).dtype == jnp.uint32 and uniforms.shape == (2,):
            uniforms = jax.random.uniform(uniforms, batch_shape + (2,), dtype=jnp.float64)
        elif uniforms.shape != batch_shape + (2,) or not jnp.issubdtype(uniforms.dtype, jnp.floating):
            raise InputShapeError(
                f"uniform random numbers for '{self.process}' must be floats of shape {batch_shape + (2,)} "
                f"(two per event) or a JAX PRNG key, got {uniforms.dtype} {tuple(uniforms.shape)}")
        if self._module.COLOUR_FLOWS_UNSUPPORTED:
            raise NotImplementedError(self._module.COLOUR_FLOWS_UNSUPPORTED)
        if self._module.COLOUR_FLOWS.shape[0] == 0:
            raise ValueError(f"'{self.process}' has no colour flows (its colour factors all vanish)")
        factors = np.ones(len(self._module.HELICITIES)) if polarisations is None else \
            self.polarisation_factors(polarisations)
        diagrams = jnp.zeros(batch_shape, dtype=jnp.int32) if diagrams is None else \
            jnp.broadcast_to(jnp.asarray(diagrams, dtype=jnp.int32), batch_shape)
        return self._jitted("select")(momenta, uniforms, parameters, factors, diagrams)

    def _select_unchecked(self, momenta, uniforms, parameters, factors, diagrams):
        helicity_weights, flow_weights = self._per_event(
            self._module.helicity_and_flow_weights, momenta, parameters)
        h = _choose(helicity_weights * factors.astype(helicity_weights.dtype), uniforms[..., 0])
        flow_weights = jnp.take_along_axis(flow_weights, h[..., None, None], axis=-2)[..., 0, :]
        reached = jnp.asarray(np.concatenate([np.ones((1, self.diagram_flows.shape[1]), dtype=bool),
                                              self.diagram_flows]))[diagrams]  # row 0: any diagram
        allowed = flow_weights * reached.astype(flow_weights.dtype)
        unreached = jnp.sum(jnp.abs(allowed), axis=-1, keepdims=True) == 0  # then all, as MadGraph does
        f = _choose(allowed + unreached.astype(flow_weights.dtype) * flow_weights, uniforms[..., 1])
        return jnp.asarray(self._module.HELICITIES)[h], jnp.asarray(self._module.COLOUR_FLOWS)[f]

    @property
    def diagram_flows(self):
        """(n_diagrams, n_flows) bool: the colour flows each diagram's amplitude reaches (MadGraph's icolamp:
        a flow whose JAMPFLOW has a non-zero coefficient of one of the diagram's amplitude terms)."""
        module = self._module
        coefficients = np.asarray(module.FLOW_COEFFICIENTS).T @ np.asarray(module.JAMP_COEFFICIENTS)  # (flow, term)
        reached = np.abs(coefficients) > 1e-12
        return np.stack([np.any(reached[:, module.DIAGRAM_OF_TERM == d], axis=1)
                         for d in range(1, module.N_DIAGRAMS + 1)]).reshape(module.N_DIAGRAMS, -1)

    @property
    def diagrams(self):
        """The diagrams as data (list of dicts), as exported to diagrams.json."""
        return json.loads((self._dir / self._module.DIAGRAMS_FILE).read_text())

    @property
    def metadata(self):
        return json.loads((self._dir / "metadata.json").read_text())


def _complete_parameters(parameters_module, process, parameters):
    values = dict(parameters_module.EXTERNAL_DEFAULTS)
    if parameters is not None and not isinstance(parameters, Mapping):
        raise InputShapeError(f"parameters for '{process}' must be a mapping of parameter names to values (a "
                              f"dict such as {{'MZ': 91.0}}), got {type(parameters).__name__} {parameters!r}")
    if parameters:
        parameters = _with_model_case(parameters, values)
        _refuse_auto_widths(parameters, parameters_module, process)
        unknown = sorted(set(parameters) - set(values))
        if unknown:
            raise InputShapeError(f"unknown parameter(s) {unknown} for '{process}'; known: {sorted(values)}")
        for name, value in parameters.items():
            _check_parameter(name, value, parameters_module.EXTERNAL_KINDS.get(name, "real"), process)
        values.update(parameters)
    return values


def _with_model_case(parameters, known):
    """Parameter names in any letter case, as the card's ``parameters``, ``launch --set`` and MadGraph's
    ``set`` take them: 'mz' is 'MZ' when one external parameter has that name up to case."""
    by_lower = {}
    for name in known:
        by_lower.setdefault(name.lower(), []).append(name)
    renamed = {}
    for name, value in parameters.items():
        if name not in known and len(by_lower.get(str(name).lower(), ())) == 1:
            name = by_lower[str(name).lower()][0]
        if name in renamed:
            raise InputShapeError(f"parameter '{name}' is given twice (in two letter cases)")
        renamed[name] = value
    return renamed


def _check_parameter(name, value, kind, process):
    """Refuse (outside jit) a parameter value that is not a number of the right kind and range."""
    if _is_traced(value):
        return
    where = f"parameter '{name}' of '{process}'"
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes, list, tuple, dict, set)):
        raise InputShapeError(f"{where}: expected a number, got {value!r}")
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything numpy cannot read is not a parameter value
        raise InputShapeError(f"{where}: expected a number, got {value!r}") from None
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise InputShapeError(f"{where}: expected a number, got {value!r}")
    if np.iscomplexobj(array) and kind != "complex":
        raise InputShapeError(f"{where} is real (UFO type), got the complex value {value!r}")
    if not np.all(np.isfinite(array)):
        raise InputShapeError(f"{where}: expected a finite number, got {value!r}")
    if kind in ("mass", "width") and np.any(np.real(array) < 0):
        raise InputShapeError(f"{where} is a {kind} and must be >= 0, got {value!r}")


def _per_event_parameters(parameters, batch_shape, process):
    """``parameters`` with those given per event flat, one value per event in the order of the flattened
    momenta: an array of the batch's shape (the momenta's leading axes) or already flat (n,). Any other
    shape is an InputShapeError naming the parameter (not a broadcasting error deep in the kernel)."""
    n = math.prod(batch_shape)
    flat = {}
    for name, value in parameters.items():
        shape = tuple(jnp.shape(value))
        if shape in ((), (n,)):
            flat[name] = value
        elif shape == tuple(batch_shape):
            flat[name] = jnp.reshape(value, (n,))
        else:
            raise InputShapeError(
                f"parameter {name!r} for '{process}' must be one number, or one per event: an array of the "
                f"momenta's batch shape {tuple(batch_shape)} or of shape ({n},); got shape {shape}")
    return flat


def _momentum_problems(p, masses, n_initial, rounding=0.0):
    """(event, message) for the first bad event (a list of at most one item); ``masses``: (n, n_legs), one
    row per event; ``rounding``: the least relative tolerance (the rounding of momenta given in a coarser
    type than float64)."""
    momentum_tolerance = max(MOMENTUM_TOLERANCE, rounding)
    mass_shell_tolerance = max(MASS_SHELL_TOLERANCE, rounding)
    finite = np.isfinite(p)
    if not finite.all():
        event, leg, component = np.argwhere(~finite)[0]
        name = ("E", "px", "py", "pz")[component]
        return [(int(event), f"leg {leg + 1} has a non-finite component {name} = {float(p[event, leg, component])}")]
    negative = p[..., 0] < 0
    if negative.any():
        event, leg = np.argwhere(negative)[0]
        return [(int(event), f"leg {leg + 1} has negative energy {float(p[event, leg, 0])!r} GeV")]
    incoming = p[:, :n_initial].sum(axis=1)
    outgoing = p[:, n_initial:].sum(axis=1)
    scale = np.maximum(incoming[:, 0], 1e-300)
    imbalance = np.max(np.abs(incoming - outgoing), axis=1) / scale
    bad = imbalance > momentum_tolerance
    if bad.any():
        event = int(np.argmax(bad))
        return [(event, f"momentum is not conserved (incoming {incoming[event].tolist()}, outgoing "
                        f"{outgoing[event].tolist()} GeV; relative imbalance {imbalance[event]:.2g} > "
                        f"{momentum_tolerance:g})")]
    if masses is None:  # traced masses (a gradient in the parameters): the shells cannot be checked here
        return []
    squared = p[..., 0] ** 2 - np.sum(p[..., 1:] ** 2, axis=-1)
    off = np.abs(squared - masses ** 2) / np.maximum(p[..., 0] ** 2, 1e-300)
    bad = off > mass_shell_tolerance
    if bad.any():
        event, leg = np.argwhere(bad)[0]
        return [(int(event), f"leg {leg + 1} is off its mass shell: p^2 = {squared[event, leg]:.10g} GeV^2, "
                             f"mass^2 = {masses[event, leg] ** 2:.10g} GeV^2")]
    return []


def _refuse_auto_widths(parameters, parameters_module, process):
    """Auto widths are computed from the other parameters: passing one is an error, not a silent no-op."""
    auto = getattr(parameters_module, "AUTO_WIDTHS", {})
    given = sorted(set(parameters) & set(auto))
    if given:
        listed = ", ".join(f"{name} (width of {auto[name]})" for name in given)
        raise InputShapeError(
            f"{listed}: computed from the other parameters for '{process}' (process card 'widths', see "
            "widths.py), not an input; leave it out, or regenerate the package without 'widths' to set it by hand")


def _auto_widths(parameters_module, external, partial):
    auto = getattr(parameters_module, "AUTO_WIDTHS", {})
    if not auto:
        return {}
    values = parameters_module.compute_parameters(external)
    if partial:
        return parameters_module.partial_widths(values)
    return {name: values[name] for name in auto}


def _choose(weights, u):
    """Index i along the last axis with probability |weights[i]| / sum(|weights|), from u in [0, 1).

    The magnitude: with a squared-order selection (an interference term, NP^2==1) a helicity's
    contribution can be negative; it is chosen in proportion to the size of its contribution."""
    cumulative = jnp.cumsum(jnp.abs(weights), axis=-1)
    threshold = u * cumulative[..., -1]
    index = jnp.sum(cumulative <= threshold[..., None], axis=-1)
    return jnp.minimum(index, weights.shape[-1] - 1)


_CARD_ENTRY = re.compile(r"^(\s*(?:DECAY\s+)?-?\d+(?:\s+-?\d+)*\s+)(\S+)(\s+#\s*)(\S+)(.*)$")
"""A param-card entry as madgen writes it: codes (or DECAY and a PDG id), value, '#' and the parameter's
name first in the comment."""


def _param_card_with(text, values):
    """The param card ``text`` with the entries of the parameters in ``values`` (name -> float) set."""
    lines = []
    for line in text.splitlines():
        match = _CARD_ENTRY.match(line)
        if match and match.group(4) in values:
            line = match.group(1) + _card_value(values[match.group(4)]) + "".join(match.group(3, 4, 5))
        lines.append(line)
    return "\n".join(lines) + "\n"


def _card_names(text):
    """The parameter names of the entries of param card ``text``."""
    return [match.group(4) for match in map(_CARD_ENTRY.match, text.splitlines()) if match]


def _card_value(value):
    """MadGraph's %e layout with the fewest digits (at least 6) that give the value back exactly."""
    for digits in range(6, 18):
        text = f"{value:.{digits}e}"
        if float(text) == value:
            return text
    return repr(value)


def _scalar(name, value, process):
    """One parameter's value as a float for the param card (a complex one only with a zero imaginary part)."""
    array = np.asarray(value)
    if array.size != 1 or (np.iscomplexobj(array) and array.reshape(()).imag != 0):
        raise InputShapeError(f"param_card of '{process}': '{name}' must be one real number, got "
                              f"{array.reshape(-1)[:3]} of shape {array.shape}")
    return float(array.reshape(()).real)


class ProcessGroup:
    """The subprocesses of a multiparticle process, each a ``Process``."""

    def __init__(self, name, process, subprocesses, parameters_module):
        self.name = name
        self.process = process
        self.subprocesses = tuple(subprocesses)
        self._parameters = parameters_module
        self.pdg_ids = tuple(p.pdg_ids for p in self.subprocesses)
        self.precision = self.subprocesses[0].precision
        self._views = {self.precision: self}
        self.polarised = any(p.polarised for p in self.subprocesses)  # a polarised particle in any subprocess

    def with_precision(self, precision):
        """The group with every subprocess in ``precision`` (``Process.with_precision``); cached."""
        _check_precision(precision, self.process)
        if precision not in self._views:
            view = ProcessGroup(self.name, self.process, [p.with_precision(precision) for p in self.subprocesses],
                                self._parameters)
            view._views = self._views
            self._views[precision] = view
        return self._views[precision]

    def __repr__(self):
        return f"<madgen process group '{self.process}' ({len(self.subprocesses)} subprocesses)>"

    @property
    def compiler_options(self):
        """The union of the subprocesses' ``compiler_options``."""
        options = {}
        for subprocess in self.subprocesses:
            options.update(subprocess.compiler_options)
        return options

    def default_parameters(self):
        return dict(self._parameters.EXTERNAL_DEFAULTS)

    def complete_parameters(self, parameters=None):
        """Defaults overridden by ``parameters`` (checked as ``Process.complete_parameters``)."""
        return _complete_parameters(self._parameters, self.process, parameters)

    def masses(self, parameters=None):
        return [p.masses(parameters) for p in self.subprocesses]

    def widths(self, parameters=None, partial=False):
        return self.subprocesses[0].widths(parameters, partial)

    def param_card(self, parameters=None):
        """The param card at ``parameters`` (``Process.param_card``; the subprocesses share the model)."""
        return self.subprocesses[0].param_card(parameters)

    def matrix_element(self, momenta, parameters=None):
        raise TypeError(f"'{self.process}' has {len(self.subprocesses)} subprocesses: call "
                        "matrix_element on one of .subprocesses")
