"""MadGraph's ``run_card.dat`` read as a madgen run card.

A MadGraph run card is lines of ``value = key ! comment`` (``#`` starts a comment line). Each key is
read in one of four ways:

* a setting madgen has (``nevents``, ``ebeam1``/``ebeam2``, ``lpp1``/``lpp2``, ``pdlabel`` with
  ``lhaid``, the scales, ``bwcutoff``, ``cut_decays``, ``use_syst``, every generation cut): taken over,
  under madgen's name (``docs/run_card.md`` lists each pair);
* bookkeeping and MadGraph's own integration strategy (``run_tag``, ``gridpack``, ``sde_strategy``,
  job splitting, helicity recycling, vector sizes, ...): they change how MadGraph computes, not what,
  and are dropped;
* physics madgen does not do (matching and merging, user Fortran, ion beams, ...): accepted at the
  value that switches it off, an error naming the line otherwise;
* anything else: an error naming the line and the key.

What is dropped that a physicist may have meant (the PDF and alpha_s variations of MadGraph's
systematics) is said in a note; the resulting mapping is validated as any YAML run card.
"""

from __future__ import annotations

import re

from madgen.cards import CardMapping
from madgen.errors import RunCardError
from madgen.pdf.lookup import MADGRAPH_PDF_LABELS

LINE = re.compile(r"^\s*(?P<value>[^#!]*?)\s*=\s*(?P<key>[A-Za-z_]\w*)\s*(?:[!#].*)?$")
"""``value = key ! comment``: the value may itself hold '=' (``['--mur=0.5,1,2']``); the key is the last
word before the comment."""

TECHNICAL = frozenset((
    "run_tag", "gridpack", "sde_strategy", "clusinfo", "python_seed", "job_strategy", "hard_survey",
    "tmin_for_channel", "survey_splitting", "survey_nchannel_per_job", "refine_evt_by_job", "global_flag",
    "aloha_flag", "matrix_flag", "vector_size", "nb_warp", "vecsize_memmax", "limhel", "hel_recycling",
    "hel_filtering", "hel_splitamp", "hel_zeroamp", "cudacpp_backend", "cudacpp_bldall", "mc_grouped_subproc",
    "fixed_couplings", "max_np", "nhel_refine", "nevt_job", "frame_id", "lhe_version", "nhel",
    "bypass_check", "ptonium", "etaonium", "ievo_eva",
))
"""How MadGraph computes (its integration strategy, parallel jobs, code flags, the frame it evaluates
|M|^2 in, the LHE version it writes: madgen's is 3.0, nhel: Monte Carlo over helicities where madgen sums
them; ptonium/etaonium cut quarkonium states no model here has, ievo_eva acts only with EVA PDFs), not what:
read and dropped."""

OFF_VALUES = {
    **{key: ("0", lambda v: _number(v) == 0, "madgen writes parton-level events at fixed order, with no jet matching "
                                             "or merging (MLM, CKKW): generate each multiplicity with its own cuts")
       for key in ("ickkw", "xqcut")},
    "custom_fcts": ("[] or empty", lambda v: v in ([], "", None, "None") or v == [""],
                    "madgen has no user Fortran hooks: put custom cuts into the run card's cuts, a custom scale "
                    "into dynamical_scale_choice 1-4"),
    "bias_module": ("None", lambda v: str(v).lower() in ("none", "dummy"), "madgen does not bias event weights"),
    "bias_parameters": ("{}", lambda v: v in ({}, None, "{}"), "madgen does not bias event weights"),
    "small_width_treatment": ("1e-06", lambda v: _number(v) == 1e-6,
                              "madgen keeps every width as the model gives it"),
    "ktdurham": ("-1", lambda v: _number(v) is not None and _number(v) <= 0, "madgen does no CKKW-L merging"),
    "ptlund": ("-1", lambda v: _number(v) is not None and _number(v) <= 0, "madgen does no CKKW-L merging"),
    "fixed_extra_scale": ("false", lambda v: v is False, "madgen has no running of EFT coefficients"),
    "boost_event": ("False", lambda v: v is False or str(v).lower() == "false",
                    "madgen writes events in the laboratory frame"),
    **{f"nb_proton{side}": ("1", lambda v: _number(v) == 1, "madgen's hadron beams are protons") for side in (1, 2)},
    **{f"nb_neutron{side}": ("0", lambda v: _number(v) == 0, "madgen's hadron beams are protons")
       for side in (1, 2)},
    **{f"mass_ion{side}": ("-1", lambda v: _number(v) is not None and _number(v) < 0,
                           "madgen's hadron beams are protons") for side in (1, 2)},
}
"""Physics madgen does not do, at the value that switches it off in MadGraph: (that value as text, test,
what madgen does instead)."""

MATCHING = frozenset(("alpsfact", "chcluster", "pdfwgt", "asrwgtflavor", "highestmult", "ktscheme",
                      "issgridfile", "auto_ptj_mjj", "dparameter", "pdgs_for_merging_cut", "xmtcentral"))
"""MLM and CKKW settings that act only with ickkw > 0 or xqcut > 0 (refused on their own lines): dropped."""

RUNNING_EFT = frozenset(("mue_ref_fixed", "mue_over_ref"))
"""Settings of MadGraph's running EFT coefficients, acting only with fixed_extra_scale (off above)."""

SYSTEMATICS = frozenset(("systematics_program", "systematics_arguments", "sys_alpsfact", "sys_matchscale",
                         "sys_pdf"))
"""MadGraph's systematics options; madgen writes the scale variations itself (use_syst, sys_scalefact)."""


NLO_KEYS = frozenset(("parton_shower", "req_acc_fo", "npoints_fo_grid", "niters_fo_grid", "req_acc",
                      "iappl", "reweight_scale", "reweight_pdf", "store_rwgt_info", "fixed_qes_scale",
                      "mur_over_ref", "shower_scale_factor", "fo_lhe_weight_ratio"))
"""Keys of aMC@NLO's run card (not of the leading-order one): such a card is named as a whole."""


def is_madgraph_run_card(text: str) -> bool:
    """Whether ``text`` is MadGraph's run_card.dat format (some line ``value = key``) rather than YAML."""
    return any(LINE.match(line) and ":" not in line.split("=")[0] for _, line in _setting_lines(text))


def madgraph_run_card(text: str, source: str, madgen_keys, cut_keys) -> tuple[CardMapping, tuple[str, ...]]:
    """The madgen run-card mapping of MadGraph's run_card.dat ``text`` (module docstring) and the notes
    on what it drops. ``madgen_keys``: madgen's top-level keys and the MadGraph spellings it reads;
    ``cut_keys``: the generation cuts (matched in any case, as MadGraph does)."""
    raw, lines = {}, {}
    for number, line in _setting_lines(text):
        match = LINE.match(line)
        if not match:
            raise RunCardError(f"{source}:{number}: '{line.strip()}' is not a 'value = key' line of MadGraph's "
                               "run_card.dat")
        key = match.group("key").lower()
        if key in raw:
            raise RunCardError(f"{source}:{number}: key '{key}' is given twice (first on line {lines[key]})")
        raw[key], lines[key] = _value(match.group("value")), number
    nlo = [key for key in raw if key in NLO_KEYS]
    if nlo:
        raise RunCardError(f"{source}:{lines[nlo[0]]}: key '{nlo[0]}' belongs to aMC@NLO's run card: madgen computes "
                           "at leading order; start from MadGraph's leading-order run_card.dat (or a run.yaml)")
    return _convert(raw, lines, source, {k.lower(): k for k in madgen_keys}, {k.lower(): k for k in cut_keys})


def _convert(raw: dict, lines: dict, source: str, madgen_keys: dict, cut_keys: dict):
    data, cuts, notes = CardMapping(), CardMapping(), []
    data.lines, cuts.lines = {}, {}

    def error(key, message):
        return RunCardError(f"{source}:{lines[key]}, key '{key}' (MadGraph's run_card.dat): {message}")

    def put(target, name, key):
        target[name] = raw[key]
        target.lines[name] = lines[key]

    hadrons = any(_number(raw.get(key, 0)) != 0 for key in ("lpp1", "lpp2"))
    for key, value in raw.items():
        if key in TECHNICAL or key in MATCHING or key in RUNNING_EFT:
            continue
        if key in OFF_VALUES:
            off, is_off, instead = OFF_VALUES[key]
            if not is_off(value):
                raise error(key, f"{value!r} switches on what madgen does not do ({instead}); set it to {off}")
            continue
        if key in SYSTEMATICS:
            if raw.get("use_syst") is True and hadrons and key in ("systematics_arguments", "sys_pdf", "sys_alpsfact"):
                notes.append(_systematics_note(key, value, source, lines[key]))
            if key == "systematics_arguments" and "sys_scalefact" not in raw:
                factors = _scale_factors(value)
                if factors:
                    data["sys_scalefact"] = factors
                    data.lines["sys_scalefact"] = lines[key]
            continue
        if key in ("ebeam1", "ebeam2", "pdlabel", "pdlabel1", "pdlabel2", "lhaid", "fixed_fac_scale1",
                   "fixed_fac_scale2"):
            continue  # below, together with their partners
        if key in cut_keys:
            put(cuts, cut_keys[key], key)
        elif key in madgen_keys:
            put(data, madgen_keys[key], key)
        else:
            raise error(key, "madgen has no such setting (docs/run_card.md lists MadGraph's keys it reads); remove "
                             "the line, or say what it should do in an issue")
    if "ebeam1" in raw or "ebeam2" in raw:
        if "ebeam1" not in raw or "ebeam2" not in raw:
            raise error("ebeam1" if "ebeam1" in raw else "ebeam2", "give both ebeam1 and ebeam2")
        data["beam_energies"] = [raw["ebeam1"], raw["ebeam2"]]
        data.lines["beam_energies"] = lines["ebeam1"]
    _fixed_factorisation(raw, lines, data, error)
    if hadrons:
        _pdf(raw, lines, data, error)
    if cuts:
        data["cuts"] = cuts
        data.lines["cuts"] = min(cuts.lines.values())
    return data, tuple(dict.fromkeys(note for note in notes if note))


def _fixed_factorisation(raw, lines, data, error) -> None:
    """MadGraph 3's fixed_fac_scale1/fixed_fac_scale2 (per beam) as madgen's one fixed_fac_scale."""
    sides = [key for key in ("fixed_fac_scale1", "fixed_fac_scale2") if key in raw]
    if not sides:
        return
    values = {raw[key] for key in sides}
    if len(values) > 1:
        raise error(sides[0], "madgen fixes both factorisation scales or neither: give fixed_fac_scale1 and "
                              "fixed_fac_scale2 the same value")
    if "fixed_fac_scale" in data and data["fixed_fac_scale"] not in values:
        raise error(sides[0], "disagrees with fixed_fac_scale; keep one of them")
    data["fixed_fac_scale"] = values.pop()
    data.lines["fixed_fac_scale"] = lines[sides[0]]


def _pdf(raw, lines, data, error) -> None:
    """pdlabel (with lhaid for 'lhapdf') as madgen's ``pdf``; MadGraph reads lhaid only with lhapdf."""
    given = [key for key in ("pdlabel", "pdlabel1", "pdlabel2") if key in raw]
    labels = [str(raw[key]).strip().lower() for key in given]
    for key, other in zip(given[1:], labels[1:]):
        if other != labels[0]:
            raise error(key, "madgen takes one PDF set for both beams: give pdlabel, pdlabel1 and pdlabel2 one value")
    label = labels[0] if given else "nn23lo1"
    if label == "lhapdf":
        if "lhaid" not in raw:
            raise error(given[0], "'lhapdf' needs lhaid, the LHAPDF id of the set")
        data["pdf"] = raw["lhaid"]
        data.lines["pdf"] = lines["lhaid"]
    elif label in MADGRAPH_PDF_LABELS:  # the label itself: its LHAPDF set with MadGraph's alpha_s for it
        data["pdf"] = label
        data.lines["pdf"] = lines[given[0]] if given else 0
    else:
        raise error(given[0], f"madgen reads LHAPDF6 sets: use 'lhapdf' with lhaid (or nn23lo1, which madgen "
                              f"ships), not '{raw[given[0]]}'")


def _arguments(value) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else str(value).split()


def _scale_factors(value) -> list[str] | None:
    """The factors of MadGraph's systematics arguments ``--mur=0.5,1,2 --muf=0.5,1,2`` where they are one
    list for both scales (madgen's sys_scalefact varies muR and muF by the same factors)."""
    found = {}
    for argument in _arguments(value):
        name, _, factors = argument.partition("=")
        if name in ("--mur", "--muf"):
            found[name] = factors.replace(",", " ")
    lists = set(found.values())
    return lists.pop() if len(lists) == 1 else None


def _systematics_note(key: str, value, source: str, line: int) -> str:
    arguments = _arguments(value)
    if key == "systematics_arguments":
        scales = {a.partition("=")[0]: a for a in arguments if a.startswith(("--mur", "--muf"))}
        dropped = [a for a in arguments if not a.startswith(("--mur", "--muf"))]
        if len({a.partition("=")[2] for a in scales.values()}) > 1:
            dropped += list(scales.values())
        if not dropped:
            return ""
        return (f"note: {source}:{line}: {key}: madgen writes the scale variations of use_syst, one list of "
                f"factors for muR and muF (sys_scalefact), and not {' '.join(dropped)}")
    return (f"note: {source}:{line}: {key} = {' '.join(arguments)}: madgen writes the muR and muF variations of "
            "use_syst (sys_scalefact) and no PDF or alpha_s variations")


def _setting_lines(text: str):
    """(line number, line) of every line with a setting: not blank, not a comment, not a comment continued on
    a line of its own ('   ! ...', as MadGraph writes long comments)."""
    return ((number, line) for number, line in enumerate(text.splitlines(), start=1)
            if re.sub(r"[#!].*", "", line).strip())


def _value(text: str):
    """A value as MadGraph writes it: true/false in its spellings, numbers (Fortran's 1d3 too), {pdg: x}
    dictionaries and [..] lists (as YAML reads them), or text."""
    import yaml

    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        stripped = stripped[1:-1].strip()  # older cards quote text values: 'lhapdf' = pdlabel
    lowered = stripped.lower()
    if lowered in ("t", "true", ".true."):
        return True
    if lowered in ("f", "false", ".false."):
        return False
    number = _number(stripped.replace("d", "e").replace("D", "e"))
    if number is not None:
        return int(number) if re.fullmatch(r"[+-]?\d+", stripped) else number
    if stripped.startswith(("{", "[")):
        spaced = re.sub(r":(?=\S)", ": ", stripped) if stripped.startswith("{") else stripped  # {6:250}: YAML's key
        try:
            return yaml.safe_load(spaced.replace("True", "true").replace("False", "false"))
        except yaml.YAMLError:
            return stripped
    return stripped


def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None
