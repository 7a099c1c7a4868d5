"""``run.yaml``: the card that says how to run a generated process (MadGraph's run_card).

Beams (``sqrt_s`` or ``beam_energies``; ``beams: [p, p]`` and ``pdf`` for hadron collisions),
number of unweighted events, seed, scales (MadGraph's fixed and dynamical choices),
generation-level ``cuts`` (MadGraph run_card names, defaults and meaning), ``bwcutoff``,
integration settings, the precision of |M|^2 and output formats.  Every key is documented in ``docs/run_card.md``.
Errors are :class:`RunCardError` naming the file and key and saying what to write instead.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from madgen.contract import PRECISIONS  # of the |M|^2 evaluation; absent: the package's own
from madgen.errors import RunCardError
from madgen.runtime.systematics import DEFAULT_FACTORS

# Generation-level cuts with MadGraph's LO run_card defaults (madgraph/various/banner.py, RunCardLO).
# Classes: j = light jets (d u s c [b if maxjetflavor=5], g), b = b quarks, a = photons,
# l = charged leptons (e, mu, tau).  A minimum of 0 and a maximum of -1 mean "no cut".
CUT_DEFAULTS: dict[str, float] = {
    # minimum / maximum transverse momentum [GeV]
    "ptj": 20.0, "ptb": 0.0, "pta": 10.0, "ptl": 10.0,
    "ptjmax": -1.0, "ptbmax": -1.0, "ptamax": -1.0, "ptlmax": -1.0,
    # minimum / maximum energy [GeV]
    "ej": 0.0, "eb": 0.0, "ea": 0.0, "el": 0.0,
    "ejmax": -1.0, "ebmax": -1.0, "eamax": -1.0, "elmax": -1.0,
    # maximum / minimum |rapidity| (y; MadGraph's rap, the pseudorapidity of a massless particle)
    "etaj": 5.0, "etab": -1.0, "etaa": 2.5, "etal": 2.5,
    "etajmin": 0.0, "etabmin": 0.0, "etaamin": 0.0, "etalmin": 0.0,
    # minimum / maximum Delta R = sqrt(Delta eta^2 + Delta phi^2) between pairs
    "drjj": 0.4, "drbb": 0.0, "drll": 0.4, "draa": 0.4, "drbj": 0.0,
    "draj": 0.4, "drjl": 0.4, "drab": 0.0, "drbl": 0.0, "dral": 0.4,
    "drjjmax": -1.0, "drbbmax": -1.0, "drllmax": -1.0, "draamax": -1.0, "drbjmax": -1.0,
    "drajmax": -1.0, "drjlmax": -1.0, "drabmax": -1.0, "drblmax": -1.0, "dralmax": -1.0,
    # minimum / maximum invariant mass of pairs [GeV] (mmll: same-flavour opposite-sign leptons)
    "mmjj": 0.0, "mmbb": 0.0, "mmaa": 0.0, "mmll": 0.0,
    "mmjjmax": -1.0, "mmbbmax": -1.0, "mmaamax": -1.0, "mmllmax": -1.0,
    # minimum pT [GeV] of at least one final-state particle heavier than 10 GeV (if there is one)
    "ptheavy": 0.0,
    # minimum pT [GeV] of at least one jet, b, photon, lepton (ignored where the process has none)
    "xptj": 0.0, "xptb": 0.0, "xpta": 0.0, "xptl": 0.0,
    # minimum / maximum pT [GeV] of the k-th hardest jet and lepton (cutuse 1: one jet passing is enough)
    **{f"ptj{k}min": 0.0 for k in range(1, 5)}, **{f"ptj{k}max": -1.0 for k in range(1, 5)}, "cutuse": 0.0,
    **{f"ptl{k}min": 0.0 for k in range(1, 5)}, **{f"ptl{k}max": -1.0 for k in range(1, 5)},
    # minimum / maximum scalar sum of jet pTs [GeV]: all jets, the k hardest jets, jets and b quarks
    "htjmin": 0.0, "htjmax": -1.0, **{f"ht{k}min": 0.0 for k in range(2, 5)},
    **{f"ht{k}max": -1.0 for k in range(2, 5)}, "ihtmin": 0.0, "ihtmax": -1.0,
    # missing ET (pT of the neutrinos' sum), pT of a lepton pair, mass of leptons and neutrinos [GeV]
    "misset": 0.0, "missetmax": -1.0, "ptllmin": 0.0, "ptllmax": -1.0, "mmnl": 0.0, "mmnlmax": -1.0,
    # weak-boson-fusion cuts on the two hardest jets: |y| > xetamin in opposite hemispheres, |dy| > deltaeta
    "xetamin": 0.0, "deltaeta": 0.0,
    # minimum / maximum partonic collision energy sqrt(s-hat) [GeV]
    "dsqrt_shat": 0.0, "dsqrt_shatmax": -1.0,
    # Frixione's photon isolation (hep-ph/9801442), on where ptgmin > 0 (then the photons' minimum pT,
    # replacing pta, and draj is dropped, as MadGraph does): within R0gamma of a photon, the pT of the
    # partons (and, with isoEM, other photons and leptons) closer than r sums to at most
    # epsgamma * pT(photon) * ((1 - cos r) / (1 - cos R0gamma))^xn
    "ptgmin": 0.0, "R0gamma": 0.4, "xn": 1.0, "epsgamma": 1.0, "isoEM": 1.0,
}

PDG_CUTS: dict[str, float] = {
    # MadGraph's cuts by PDG id, {pdg: value}, on particle and antiparticle, for particles the
    # class cuts above leave alone (t, W, Z, H, neutrinos, BSM): the value taken where a pdg is absent
    "pt_min_pdg": 0.0, "pt_max_pdg": -1.0, "e_min_pdg": 0.0, "e_max_pdg": -1.0,
    "eta_min_pdg": 0.0, "eta_max_pdg": -1.0,
    "mxx_min_pdg": 0.0,  # minimal invariant mass of a pair of them
}
PDG_PAIR_FLAG = "mxx_only_part_antipart"  # {pdg: bool, 'default': bool}: mxx only on particle-antiparticle pairs
LIGHT_PDG_IDS = frozenset((1, 2, 3, 4, 5, 11, 13, 15, 21, 22))  # cut by class (ptj, ptl, ...), not by PDG id
CUT_KEYS = (*CUT_DEFAULTS, *PDG_CUTS, PDG_PAIR_FLAG)

# (lower key, upper key) pairs checked for min > max
_CUT_WINDOWS: tuple[tuple[str, str], ...] = tuple(
    [(f"pt{c}", f"pt{c}max") for c in "jbal"]
    + [(f"e{c}", f"e{c}max") for c in "jbal"]
    + [(f"eta{c}min", f"eta{c}") for c in "jbal"]
    + [(key, key + "max") for key in CUT_DEFAULTS if key.startswith(("dr", "mm")) and not key.endswith("max")]
    + [(f"pt{c}{k}min", f"pt{c}{k}max") for c in "jl" for k in range(1, 5)]
    + [(f"ht{k}min", f"ht{k}max") for k in range(2, 5)]
    + [("htjmin", "htjmax"), ("ihtmin", "ihtmax"), ("misset", "missetmax"), ("ptllmin", "ptllmax"),
       ("dsqrt_shat", "dsqrt_shatmax")]
)
_UPPER_CUTS = frozenset(upper for _, upper in _CUT_WINDOWS)  # -1 = none, otherwise > 0

CHANNELS = ("multichannel", "rambo")
COLUMNAR_FORMATS = ("npz", "hdf5", "lheh5")
EVENT_NORMS = ("average", "sum", "unity")  # MadGraph's event_norm: each weight sigma, sigma / N, 1
DEFAULT_SCALE = 91.188  # MadGraph's run_card `scale` (GeV), also its dsqrt_q2fact1/2
DEFAULT_BWCUTOFF = 15.0  # MadGraph's run_card `bwcutoff`
LPP = {1: "p", -1: "p~", 0: None}  # MadGraph's lpp1/lpp2: proton, antiproton, no PDF

KNOWN_KEYS = ("sqrt_s", "beam_energies", "beams", "polbeam1", "polbeam2", "pdf", "n_events", "seed", "scale",
              "dsqrt_q2fact1", "dsqrt_q2fact2", "fixed_ren_scale", "fixed_fac_scale", "dynamical_scale_choice", "scalefact",
              "maxjetflavor", "cuts", "cut_decays", "bwcutoff", "warmup_iterations", "iterations", "points_per_iteration",
              "target_precision", "channels", "batch_size", "max_weight_tolerance", "event_norm", "lhe", "columnar",
              "precision", "use_syst", "sys_scalefact", "time_of_flight", "me_frame")
MAX_SEED = 2**63 - 1
"""The largest seed: JAX's PRNG keys take a signed 64-bit integer."""

ALIASES = {"nevents": "n_events", "iseed": "seed", "fixed_scale": "scale", "lhaid": "pdf"}  # MadGraph spellings
_HINTS = {
    "ebeam1": "give the beams as 'beam_energies: [E1, E2]' (GeV) or 'sqrt_s: <GeV>'",
    "ebeam2": "give the beams as 'beam_energies: [E1, E2]' (GeV) or 'sqrt_s: <GeV>'",
    "pdlabel": "name the PDF set with 'pdf: <LHAPDF name, id or directory>' (MadGraph's pdlabel = lhapdf with "
               "lhaid; 'lhaid' is accepted)",
    "nhel": "madgen sums every helicity exactly (MadGraph's nhel = 0) and picks each event's helicities by "
            "their weights; there is no helicity sampling to switch on",
    **dict.fromkeys(("ickkw", "xqcut", "auto_ptj_mjj"), "madgen writes parton-level events at fixed "
                    "order; jet matching and merging (MLM, CKKW) are not done: generate each multiplicity "
                    "separately with its own cuts"),
    **dict.fromkeys(("systematics_program", "systematics_arguments"), "madgen writes scale-variation weights "
                    "itself with 'use_syst: true' (factors in 'sys_scalefact', default [0.5, 1, 2]); PDF member "
                    "variations are not written; for other parameter points use 'madgen reweight'"),
}


@dataclass(frozen=True)
class Cuts:
    """Generation-level cuts: every key of ``CUT_DEFAULTS`` with its value (defaults filled in)."""

    values: tuple[tuple[str, float], ...] = tuple(CUT_DEFAULTS.items())
    user_set: tuple[str, ...] = ()  # the keys the card gave explicitly
    by_pdg: tuple[tuple[str, tuple[tuple[int | str, float | bool], ...]], ...] = ()
    # the PDG_CUTS and PDG_PAIR_FLAG the card gave: (key, ((pdg, value), ...))

    def __getitem__(self, key: str):
        return self.as_dict()[key]

    def as_dict(self) -> dict:
        return {**dict(self.values), **{key: dict(entries) for key, entries in self.by_pdg}}


@dataclass(frozen=True)
class RunCard:
    """A validated run card; see ``docs/run_card.md`` for every key."""

    path: str  # where the card was read from ("<string>" if not a file)
    beam_energies: tuple[float, float]  # GeV; beam 1 along +z
    beams: tuple | None = None  # per beam: "p", "p~", a particle (name or PDG id), None (the process's)
    polbeam1: float = 0.0  # percent, -100 (helicity -) to 100 (helicity +): particle beams only (MadGraph)
    polbeam2: float = 0.0
    pdf: str | int | None = None  # LHAPDF set name, id or directory (hadron beams; default nn23lo1)
    n_events: int = 10000
    seed: int = 0
    scale: float = DEFAULT_SCALE
    dsqrt_q2fact1: float = DEFAULT_SCALE
    dsqrt_q2fact2: float = DEFAULT_SCALE
    fixed_ren_scale: bool = True
    fixed_fac_scale: bool = True
    dynamical_scale_choice: int = 3
    scalefact: float = 1.0
    maxjetflavor: int | None = None  # None: MadGraph's default for the process (for_process)
    cuts: Cuts = field(default_factory=Cuts)
    cut_decays: bool = False  # MadGraph's: cuts also on the products of decay-chain resonances
    bwcutoff: float = DEFAULT_BWCUTOFF
    warmup_iterations: int = 5
    iterations: int = 10
    points_per_iteration: int = 20000
    target_precision: float | None = None
    channels: str = "multichannel"
    batch_size: int = 8192  # points per compiled evaluation
    max_weight_tolerance: float = 0.001  # fraction of sigma the unweighting may truncate (0 = exact)
    event_norm: str = "average"
    lhe: bool = True
    columnar: str | None = "npz"
    precision: str | None = None  # |M|^2 in "double" or "single"; None: the package's own precision
    use_syst: bool = False  # scale-variation weights per event (MadGraph's use_syst; hadron beams)
    sys_scalefact: tuple[float, ...] = DEFAULT_FACTORS  # the factors of muR and muF they take
    time_of_flight: float = -1.0  # mm: decay lengths (LHE's VTIMUP) above it are written; negative: none (MadGraph)
    me_frame: tuple[int, ...] = (1, 2)  # legs whose rest frame defines polarised helicities (MadGraph's; only (1, 2))

    @property
    def sqrt_s(self) -> float:
        """Collision energy of massless beams: sqrt(4 E1 E2)."""
        e1, e2 = self.beam_energies
        return 2.0 * math.sqrt(e1 * e2)

    @property
    def scales(self):
        """The scale settings (``madgen.runtime.scales.ScaleChoice``)."""
        from madgen.runtime.scales import ScaleChoice

        return ScaleChoice(self.scale, self.dsqrt_q2fact1, self.dsqrt_q2fact2, self.fixed_ren_scale,
                           self.fixed_fac_scale, self.dynamical_scale_choice, self.scalefact)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, source: str = "<string>") -> RunCard:
        """Validate a parsed YAML mapping; errors name ``source`` and the key."""
        return _run_card_from_mapping(data, source)

    def as_mapping(self) -> dict[str, Any]:
        """The effective card (defaults filled in), as plain YAML-able values."""
        result: dict[str, Any] = {}
        for item in fields(self):
            if item.name == "path":
                continue
            value = getattr(self, item.name)
            if isinstance(value, Cuts):
                value = value.as_dict()
            elif isinstance(value, tuple):
                value = list(value)
            result[item.name] = value
        return result

    def to_yaml(self) -> str:
        """The effective card as YAML text (for LHE headers and run logs)."""
        import yaml

        return yaml.safe_dump(self.as_mapping(), sort_keys=False, default_flow_style=None)



def default_maxjetflavor(initial_pdg_ids) -> int:
    """MadGraph's ``maxjetflavor`` for a process whose incoming partons are ``initial_pdg_ids``: 4, raised
    to the heaviest quark flavour among them (5 where ``p`` holds the b, as in a five-flavour model)."""
    quarks = [abs(int(pdg)) for pdg in initial_pdg_ids if 0 < abs(int(pdg)) <= 5]
    return max([4] + quarks)


def for_process(run: RunCard, subprocesses) -> RunCard:
    """The run card with what it leaves to the process filled in as MadGraph does: ``maxjetflavor``
    (``default_maxjetflavor`` of every subprocess's incoming legs) unless the card sets it."""
    if run.maxjetflavor is not None:
        return run
    initial = [pdg for sub in subprocesses for pdg in sub.pdg_ids[:sub.n_initial]]
    return replace(run, maxjetflavor=default_maxjetflavor(initial))

def as_run_card(run_card, log=print) -> RunCard:
    """A ``RunCard`` from a path to run.yaml (or MadGraph's run_card.dat), a mapping of its keys, or a
    ``RunCard`` (the forms ``madgen.api.launch`` and ``madgen.inference.mine`` accept)."""
    if isinstance(run_card, RunCard):
        return run_card
    if isinstance(run_card, (str, Path)):
        return read_run_card(run_card, log)
    return RunCard.from_mapping(dict(run_card), "<run card given from Python>")


def is_run_card_key(key: str) -> bool:
    """Whether a ``--set KEY=VALUE`` names a run-card setting (a key, a MadGraph spelling madgen reads, a
    cut given bare as in MadGraph's run_card or as ``cuts.<name>``) rather than a model parameter."""
    return (key in KNOWN_KEYS or key in ALIASES or key in _HINTS or key in MADGRAPH_OFF_VALUES
            or key in ("lpp1", "lpp2") or key in CUT_KEYS or key.startswith("cuts."))


def run_card_with(run_card, overrides: Mapping[str, Any], log=print) -> RunCard:
    """The run card (a path to run.yaml or a mapping of its keys) with some keys replaced before it is
    validated, as MadGraph's ``set`` in a launch: ``overrides`` maps keys (``n_events``, a cut such as
    ``ptj`` or ``cuts.ptj``) to values; errors name the card and the overriding key."""
    from madgen.cards import read_card_text

    if isinstance(run_card, (str, Path)):
        source = str(run_card)
        data = _card_data(read_card_text(run_card, RunCardError, "a run card (see docs/run_card.md)"), source, log)
    else:
        source, data = "<run card given from Python>", run_card
    data = {str(key): value for key, value in dict(data or {}).items()}
    for key, value in overrides.items():
        cut = key[len("cuts."):] if key.startswith("cuts.") else key if key in CUT_KEYS else None
        if cut is not None:
            cuts = data.get("cuts") or {}
            if not isinstance(cuts, Mapping):
                raise RunCardError(f"{source}, key 'cuts': expected a mapping of cut names to values, got "
                                   f"{_describe(cuts)}")
            data["cuts"] = {**cuts, cut: value}
        else:
            for spelling in _spellings(key):  # MadGraph's set replaces the value whatever the card's spelling
                data.pop(spelling, None)
            data[key] = value
    return RunCard.from_mapping(data, f"{source} with --set {', '.join(overrides)}" if overrides else source)


_SAME_SETTING = ({"sqrt_s", "beam_energies"},)  # keys that give one setting two ways: one replaces the other


def _spellings(key: str) -> set[str]:
    """Every spelling of a run-card key: madgen's and MadGraph's (``ALIASES``), and the other ways of
    giving its setting (``sqrt_s`` for ``beam_energies``)."""
    canonical = ALIASES.get(key, key)
    keys = {canonical}.union(*(group for group in _SAME_SETTING if canonical in group))
    return keys | {alias for alias, target in ALIASES.items() if target in keys}


def read_run_card(path: str | Path, log=print) -> RunCard:
    """Read and validate ``run.yaml`` (or MadGraph's ``run_card.dat``); errors name the file, line and key."""
    from madgen.cards import read_card_text

    return parse_run_card(read_card_text(path, RunCardError, "a run card (see docs/run_card.md)"), str(path), log)


def parse_run_card(text: str, source: str = "<string>", log=print) -> RunCard:
    """Parse and validate run-card text: YAML, or MadGraph's run_card.dat (``madgen.runtime.madgraph_card``;
    its notes on what it drops go to ``log``)."""
    return RunCard.from_mapping(_card_data(text, source, log), source)


def _card_data(text: str, source: str, log=print):
    """The mapping of a run card's text, YAML or MadGraph's run_card.dat."""
    from madgen.cards import load_card
    from madgen.runtime.madgraph_card import is_madgraph_run_card, madgraph_run_card

    if not is_madgraph_run_card(text):
        return load_card(text, source, RunCardError)
    madgen_keys = (*KNOWN_KEYS, *ALIASES, "lpp1", "lpp2")  # the reader settles MadGraph's other keys itself
    data, notes = madgraph_run_card(text, source, madgen_keys, CUT_KEYS)
    for note in notes:
        log(note)
    return data


def _run_card_from_mapping(data, source: str) -> RunCard:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise RunCardError(f"{source}: expected a mapping of run settings (at least 'sqrt_s'), "
                           f"got {type(data).__name__}")
    lines = {str(k): line for k, line in getattr(data, "lines", {}).items()}
    data = _resolve_aliases({str(k): v for k, v in data.items()}, source)
    _reject_unknown(data, KNOWN_KEYS, source, "")
    where = _Where(source, lines)
    energies = _read_beams(data, where)
    dynamic = data.get("dynamical_scale_choice") is not None
    fixed_ren_scale = _boolean(data, "fixed_ren_scale", not dynamic, where)
    card = RunCard(
        path=source,
        beam_energies=energies,
        beams=_read_beam_kinds(data, where),
        polbeam1=_polarisation(data, "polbeam1", where),
        polbeam2=_polarisation(data, "polbeam2", where),
        pdf=_read_pdf(data, where),
        n_events=_integer(data, "n_events", 10000, where, minimum=1),
        seed=_integer(data, "seed", 0, where, minimum=0, maximum=MAX_SEED),
        scale=_number(data, "scale", DEFAULT_SCALE, where, positive=True),
        dsqrt_q2fact1=_number(data, "dsqrt_q2fact1", DEFAULT_SCALE, where, positive=True),
        dsqrt_q2fact2=_number(data, "dsqrt_q2fact2", DEFAULT_SCALE, where, positive=True),
        fixed_ren_scale=fixed_ren_scale,
        fixed_fac_scale=_boolean(data, "fixed_fac_scale", fixed_ren_scale, where),  # as MadGraph's: both or none
        dynamical_scale_choice=_scale_choice(data, where),
        scalefact=_number(data, "scalefact", 1.0, where, positive=True),
        maxjetflavor=_integer(data, "maxjetflavor", None, where, minimum=0, maximum=5),
        cuts=_read_cuts(data.get("cuts"), where),
        cut_decays=_boolean(data, "cut_decays", False, where),
        bwcutoff=_number(data, "bwcutoff", DEFAULT_BWCUTOFF, where, positive=True),
        warmup_iterations=_integer(data, "warmup_iterations", 5, where, minimum=1),
        iterations=_integer(data, "iterations", 10, where, minimum=1),
        points_per_iteration=_integer(data, "points_per_iteration", 20000, where, minimum=1),
        target_precision=_optional_fraction(data, "target_precision", where),
        channels=_choice(data, "channels", "multichannel", CHANNELS, where),
        batch_size=_integer(data, "batch_size", 8192, where, minimum=1),
        max_weight_tolerance=_tolerance(data, "max_weight_tolerance", 0.001, where),
        event_norm=_choice(data, "event_norm", "average", EVENT_NORMS, where),
        lhe=_boolean(data, "lhe", True, where),
        columnar=_read_columnar(data, where),
        precision=_choice(data, "precision", None, PRECISIONS, where),
        use_syst=_boolean(data, "use_syst", False, where),
        sys_scalefact=_scale_factors(data, where),
        time_of_flight=_number(data, "time_of_flight", -1.0, where),
        me_frame=_me_frame(data, where),
    )
    return card


def _scale_factors(data, where) -> tuple[float, ...]:
    """``sys_scalefact``: positive factors of muR and muF, 1 among them (the central weight), as a list or
    MadGraph's space-separated text ("0.5 1 2")."""
    value = data.get("sys_scalefact", list(DEFAULT_FACTORS))
    items = value.split() if isinstance(value, str) else value
    try:
        factors = tuple(float(item) for item in items if not isinstance(item, bool))
    except (TypeError, ValueError):
        factors = ()
    if not factors or len(factors) != len(items) or not all(math.isfinite(f) and f > 0 for f in factors) \
            or 1.0 not in factors:
        raise where.error("sys_scalefact", f"expected positive factors of muR and muF including 1, e.g. "
                                           f"[0.5, 1, 2], got {value!r}")
    return tuple(sorted(set(factors)))


@dataclass(frozen=True)
class _Where:
    source: str
    lines: Mapping = field(default_factory=dict)  # key -> its line in the card (``madgen.cards``)

    def error(self, key: str, message: str) -> RunCardError:
        top = key.split(".")[0].split("[")[0]
        line = self.lines.get(key, self.lines.get(top))
        return RunCardError(f"{self.source}:{line}, key '{key}': {message}" if line
                            else f"{self.source}, key '{key}': {message}")


MADGRAPH_OFF_VALUES = {"nhel": 0, "ickkw": 0, "xqcut": 0}
"""MadGraph run-card settings madgen has no key for, at the value that means what madgen does (every
helicity summed, no matching): accepted and dropped, so that a card carried over
from MadGraph reads; at any other value they are errors with a hint (``_HINTS``)."""


def _madgraph_off(key: str, value) -> bool:
    """``value`` of the MadGraph key ``key`` is its off value (``MADGRAPH_OFF_VALUES``): False for a switch,
    a number equal to 0 (0 or 0.0, not False) for the others."""
    if key not in MADGRAPH_OFF_VALUES:
        return False
    off = MADGRAPH_OFF_VALUES[key]
    if isinstance(off, bool):
        return value is False
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == off


def _resolve_aliases(data: dict, source: str) -> dict:
    result = {key: value for key, value in data.items() if not _madgraph_off(key, value)}
    for alias, key in ALIASES.items():
        if alias in result:
            if key in result:
                raise RunCardError(f"{source}: keys '{alias}' and '{key}' mean the same; keep '{key}'")
            result[key] = result.pop(alias)
    return _resolve_lpp(result, source)


def _resolve_lpp(data: dict, source: str) -> dict:
    """MadGraph's lpp1/lpp2 (1 proton, -1 antiproton, 0 no PDF) as ``beams``."""
    given = [key for key in ("lpp1", "lpp2") if key in data]
    if not given:
        return data
    if "beams" in data:
        raise RunCardError(f"{source}: keys '{given[0]}' and 'beams' say the same; keep 'beams'")
    if len(given) == 1:
        other = "lpp2" if given[0] == "lpp1" else "lpp1"
        raise RunCardError(f"{source}: key '{given[0]}' without '{other}': give both (1 proton, -1 antiproton, "
                           "0 the process's particle), or 'beams: [p, p]'")
    beams = []
    for key in ("lpp1", "lpp2"):
        value = data.pop(key)
        if isinstance(value, bool) or value not in LPP:
            raise RunCardError(f"{source}, key '{key}': expected 1 (proton), -1 (antiproton) or 0 (no PDF), got "
                               f"{_describe(value)}; photons from protons (2) and lepton ISR (3, 4) are not "
                               "supported")
        beams.append(LPP[value])
    data["beams"] = beams
    return data


def _reject_unknown(data: Mapping, allowed, source: str, prefix: str) -> None:
    unknown = [key for key in data if key not in allowed]
    if not unknown:
        return
    key = unknown[0]
    if not prefix and key in CUT_KEYS:
        advice = f"cuts go under 'cuts:', e.g.\n  cuts:\n    {key}: {data[key]}"
    elif key in _HINTS:
        advice = _HINTS[key]
    else:
        close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
        advice = f"did you mean '{prefix}{close[0]}'?" if close else \
            f"allowed keys: {', '.join(allowed)}" if len(allowed) < 20 else "see docs/run_card.md for the keys"
    others = f" (and {', '.join(repr(prefix + k) for k in unknown[1:])})" if len(unknown) > 1 else ""
    raise RunCardError(f"{source}: unknown key '{prefix}{key}'{others}; {advice}")


def _describe(value) -> str:
    if isinstance(value, str):
        hint = ""
        try:
            float(value)
            hint = " (YAML reads numbers like 1e4 as text: write 10000 or 1.0e+4)"
        except ValueError:
            pass
        return f"the text {value!r}{hint}"
    return repr(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(data, key, default, where: _Where, *, positive=False):
    value = data.get(key)
    if value is None:
        return default
    if not _is_number(value) or not math.isfinite(value):
        raise where.error(key, f"expected a number, got {_describe(value)}")
    if positive and value <= 0:
        raise where.error(key, f"must be positive, got {value!r}")
    return float(value)


def _polarisation(data, key, where: _Where) -> float:
    """A beam polarisation in percent, MadGraph's polbeam1/2: -100 (all helicity -) to 100 (all +)."""
    value = _number(data, key, 0.0, where)
    if not -100.0 <= value <= 100.0:
        raise where.error(key, f"a polarisation in percent, from -100 (helicity -) to 100 (helicity +); got {value!r}")
    return value


def _integer(data, key, default, where: _Where, *, minimum=None, maximum=None):
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise where.error(key, f"expected a whole number, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise where.error(key, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise where.error(key, f"must be at most {maximum}, got {value}")
    return value


def _tolerance(data, key, default, where: _Where) -> float:
    value = _number(data, key, default, where)
    if not 0.0 <= value < 1.0:
        raise where.error(key, f"is a fraction of the cross section in [0, 1), e.g. 0.001; got {value!r}")
    return value


def _optional_fraction(data, key, where: _Where) -> float | None:
    value = _number(data, key, None, where)
    if value is not None and not 0.0 < value < 1.0:
        raise where.error(key, f"is a relative precision in (0, 1), e.g. 0.01 for 1%; got {value!r}")
    return value


def _boolean(data, key, default, where: _Where) -> bool:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise where.error(key, f"expected true or false, got {_describe(value)}")
    return value


def _choice(data, key, default, choices, where: _Where) -> str:
    value = data.get(key)
    if value is None:
        return default
    if value not in choices:
        raise where.error(key, f"expected one of {', '.join(choices)}; got {_describe(value)}")
    return value


def _read_columnar(data, where: _Where) -> str | None:
    if "columnar" in data and data["columnar"] in (False, "none"):
        return None
    return _choice(data, "columnar", "npz", COLUMNAR_FORMATS, where)


def _read_beams(data, where: _Where) -> tuple[float, float]:
    has_sqrt_s, has_beams = data.get("sqrt_s") is not None, data.get("beam_energies") is not None
    if has_sqrt_s and has_beams:
        raise RunCardError(f"{where.source}: give either 'sqrt_s' or 'beam_energies', not both")
    if not (has_sqrt_s or has_beams):
        raise RunCardError(f"{where.source}: missing the collision energy; add 'sqrt_s: <GeV>' "
                           "(symmetric beams) or 'beam_energies: [E1, E2]' (GeV, beam 1 along +z)")
    if has_sqrt_s:
        sqrt_s = _number(data, "sqrt_s", None, where)
        if sqrt_s <= 0:
            raise where.error("sqrt_s", f"the collision energy must be positive (GeV), got {sqrt_s!r}")
        return (sqrt_s / 2.0, sqrt_s / 2.0)
    beams = data["beam_energies"]
    if not isinstance(beams, (list, tuple)) or len(beams) != 2:
        raise where.error("beam_energies", f"expected two energies [E1, E2] in GeV, got {_describe(beams)}")
    energies = []
    for index, energy in enumerate(beams, start=1):
        if not _is_number(energy) or not math.isfinite(energy):
            raise where.error("beam_energies", f"beam {index}: expected a number (GeV), got {_describe(energy)}")
        if energy <= 0:
            raise where.error("beam_energies", f"beam {index}: the energy must be positive (GeV), got {energy!r}")
        energies.append(float(energy))
    return (energies[0], energies[1])


def _read_beam_kinds(data, where: _Where):
    """``beams: [p, p]``: per beam "p", "p~" (hadrons), a particle of the process (name or PDG id),
    or null (the process's own initial particle)."""
    value = data.get("beams")
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise where.error("beams", f"expected two beams such as [p, p] or [p, p~] or [e-, p], got {_describe(value)}")
    beams = []
    for index, beam in enumerate(value, start=1):
        if beam is None or isinstance(beam, str) and beam.strip():
            beams.append(beam.strip() if isinstance(beam, str) else None)
        elif isinstance(beam, int) and not isinstance(beam, bool):
            beams.append({2212: "p", -2212: "p~"}.get(beam, beam))
        else:
            raise where.error("beams", f"beam {index}: expected p, p~ or a particle name, got {_describe(beam)}")
    if all(b is None for b in beams):
        return None
    return tuple(beams)


def _read_pdf(data, where: _Where):
    value = data.get("pdf")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and not value.strip()):
        raise where.error("pdf", f"expected an LHAPDF set name, id or directory, got {_describe(value)}")
    return value.strip() if isinstance(value, str) else value


def _me_frame(data, where: _Where) -> tuple[int, ...]:
    """MadGraph's me_frame: the legs (1-based) in whose rest frame |M|^2 is evaluated, [1, 2] by default; a list
    or MadGraph's text ('[1,2]', '1 2')."""
    value = data.get("me_frame")
    if value is None:
        return (1, 2)
    items = value if isinstance(value, list) else str(value).strip().strip("[]").replace(",", " ").split()
    try:
        legs = tuple(int(item) for item in items)
    except (TypeError, ValueError):
        legs = ()
    if not legs or any(leg < 1 for leg in legs):
        raise where.error("me_frame", f"expected a list of leg numbers such as [1, 2], got {value!r}")
    return legs


def _scale_choice(data, where: _Where) -> int:
    from madgen.runtime.scales import DYNAMICAL_SCALE_CHOICES

    value = _integer(data, "dynamical_scale_choice", 3, where)
    if value not in DYNAMICAL_SCALE_CHOICES:
        choices = "; ".join(f"{k}: {v}" for k, v in DYNAMICAL_SCALE_CHOICES.items())
        extra = " (-1, MadGraph's CKKW clustering, and 0, a user's Fortran function, have no equivalent here)" \
            if value in (-1, 0) else ""
        raise where.error("dynamical_scale_choice", f"must be one of {choices}; got {value}{extra}")
    return value


def _read_cuts(value, where: _Where) -> Cuts:
    if value is None:
        return Cuts()
    if not isinstance(value, Mapping):
        raise where.error("cuts", f"expected a mapping such as 'cuts: {{ptj: 20, etaj: 5}}', got {_describe(value)}")
    given = {str(k): v for k, v in value.items()}
    cut_lines = {f"cuts.{k}": line for k, line in getattr(value, "lines", {}).items()}
    where = _Where(where.source, {**where.lines, **cut_lines})
    _reject_unknown(given, CUT_KEYS, where.source, "cuts.")
    values = dict(CUT_DEFAULTS)
    by_pdg = []
    for key, number in given.items():
        if key in PDG_CUTS or key == PDG_PAIR_FLAG:
            by_pdg.append((key, _pdg_cut_entries(key, number, where)))
        else:
            values[key] = _cut_value(key, number, where)
    for lower, upper in _CUT_WINDOWS:
        if values[upper] > 0 and values[lower] > values[upper]:
            raise RunCardError(f"{where.source}, keys 'cuts.{lower}' and 'cuts.{upper}': the window is empty "
                               f"({lower} = {values[lower]:g} > {upper} = {values[upper]:g}); "
                               f"lower {lower} or raise {upper} (-1 = no upper cut)")
    return Cuts(tuple(values.items()), tuple(given), tuple(sorted(by_pdg)))


def _pdg_cut_entries(key: str, value, where: _Where) -> tuple:
    """A cut by PDG id, ``{6: 100}``, as sorted (pdg, value) pairs; MadGraph's rules: positive ids of
    particles that no class cut covers, values as the class cuts' (-1: no upper cut)."""
    name = f"cuts.{key}"
    if not isinstance(value, Mapping):
        raise where.error(name, f"expected a mapping of PDG ids to values, e.g. '{key}: {{6: 100}}', got "
                                f"{_describe(value)}")
    entries = []
    for pdg, entry in value.items():
        if key == PDG_PAIR_FLAG and pdg == "default":
            entries.append(("default", _flag(name, pdg, entry, where)))
            continue
        code = _pdg_code(name, pdg, where)
        if key == PDG_PAIR_FLAG:
            entries.append((code, _flag(name, pdg, entry, where)))
            continue
        upper = "_max_" in key
        if not _is_number(entry) or not math.isfinite(entry) or (entry < 0 and not (upper and entry == -1)) \
                or (upper and entry == 0):
            expected = "-1 (no cut) or a positive number" if upper else "a number >= 0"
            raise where.error(name, f"PDG id {code}: expected {expected}, got {_describe(entry)}")
        entries.append((code, float(entry)))
    return tuple(sorted(entries, key=lambda item: str(item[0])))


def _pdg_code(name: str, pdg, where: _Where) -> int:
    text = str(pdg).strip()
    if not text.lstrip("-").isdigit():
        raise where.error(name, f"expected PDG ids as keys (e.g. 6 for the top), got {pdg!r}")
    code = int(text)
    if code <= 0:
        raise where.error(name, f"PDG id {code}: give the positive id (the cut acts on particle and "
                                f"antiparticle), {-code}")
    if code in LIGHT_PDG_IDS:
        raise where.error(name, f"PDG id {code} is a jet, b, lepton or photon, which the class cuts cover "
                                "(ptj, ptb, ptl, pta, ...), as in MadGraph; use those")
    return code


def _flag(name: str, pdg, value, where: _Where) -> bool:
    if not isinstance(value, bool):
        raise where.error(name, f"{pdg}: expected true or false, got {_describe(value)}")
    return value


def _cut_value(key: str, number, where: _Where) -> float:
    name = f"cuts.{key}"
    if key == "isoEM":  # true or false (1 or 0, as the effective card writes it)
        if isinstance(number, bool) or number in (0, 1):
            return float(number)
        raise where.error(name, f"expected true or false, got {_describe(number)}")
    if not _is_number(number) or not math.isfinite(number):
        raise where.error(name, f"expected a number, got {_describe(number)}")
    number = float(number)
    if key in ("R0gamma", "epsgamma") and not (_is_number(number) and number > 0):
        raise where.error(name, f"expected a positive number, got {_describe(number)}")
    if key == "cutuse" and number not in (0.0, 1.0):
        raise where.error(name, f"takes 0 (every one of ptj1min ... ptj4max must hold) or 1 (one is enough), "
                                f"got {number:g}")
    if key in _UPPER_CUTS:
        if number == -1.0:
            return number
        if number <= 0:
            raise where.error(name, f"an upper cut takes -1 (no cut) or a positive value, got {number:g}")
        return number
    if number < 0:
        raise where.error(name, f"a lower cut takes 0 (no cut) or a positive value, got {number:g}")
    return number
