"""SLHA param card reading, writing and mapping to model parameters."""

import math
from pathlib import Path

import pytest
import ufo_sm

from madgen.errors import ParamCardError
from madgen.model import load_model
from madgen.model.param_card import (
    format_value,
    ignored_dependent_entries,
    parameters_from_card,
    parse_param_card,
    read_param_card,
    write_param_card,
)

SM_DIR = Path(ufo_sm.__file__).parent


@pytest.fixture(scope="module")
def sm():
    return load_model("sm")


def test_read_restrict_default_file():
    card = read_param_card(SM_DIR / "restrict_default.dat")
    assert card.source.endswith("restrict_default.dat")
    assert card.get("SMINPUTS", (1,)) == 132.507
    assert card.get("sminputs", (2,)) == 1.16639e-05
    assert card.blocks["WOLFENSTEIN"][(1,)] == 0.0
    assert card.decays[6] == 1.4915
    assert card.get("DECAY", (25,)) == 6.38233934e-03
    assert card.get("MASS", (999,)) is None


def test_read_text_with_comments_multi_index_fortran_exponent_and_branching_ratios():
    text = """# a comment
BLOCK Mass  # masses
   5  4.7d0   # MB
  25  1.25E+02
Block NMIX Q= 91.0
  1  2  -0.5  # N12
DECAY 6 1.5  # top
   1.0   2   5   24   # BR(t -> b W+)
decay 23 2.4952
Block SPINFO
   1  SOFTSUSY
"""
    card = read_param_card(text)
    assert card.get("MASS", (5,)) == 4.7
    assert card.get("mass", (25,)) == 125.0
    assert card.get("NMIX", (1, 2)) == -0.5
    assert card.decays == {6: 1.5, 23: 2.4952}


@pytest.mark.parametrize(
    "text, line, needle",
    [
        ("Block MASS\n  5 4.7\n  6 abc\n", 3, "expected integer code"),
        ("  5 4.7\n", 1, "before any 'Block'"),
        ("Block MASS\nDECAY six 1.0\n", 2, "DECAY line"),
        ("DECAY 6 1.5\n  1.0 3 5 24\n", 2, "announces 3 daughters"),
        ("Block\n", 1, "without a name"),
    ],
)
def test_malformed_lines_name_the_line(text, line, needle):
    with pytest.raises(ParamCardError) as info:
        read_param_card(text)
    assert f"<text>:{line}:" in str(info.value)
    assert needle in str(info.value)


def test_malformed_file_names_file_and_line(tmp_path):
    path = tmp_path / "param_card.dat"
    path.write_text("Block SMINPUTS\n  1 132.5\n  2 1.1e-5 3\n")
    with pytest.raises(ParamCardError, match=r"param_card\.dat:3:"):
        read_param_card(path)
    with pytest.raises(ParamCardError, match=r"param_card\.dat:3:"):
        read_param_card(str(path))


def test_write_read_roundtrip_is_exact_and_deterministic(sm):
    text = write_param_card(sm, {})
    assert text == write_param_card(sm, {})
    assert "Block SMINPUTS" in text
    assert "    1 1.325070e+02 # aEWM1" in text
    assert "DECAY     23 2.441404e+00 # WZ (Z)" in text
    values = parameters_from_card(sm, read_param_card(text))
    assert values == {p.name: p.value for p in sm.external_parameters}
    assert list(values) == [p.name for p in sm.external_parameters]


def test_write_with_overrides_roundtrips_full_precision(sm):
    text = write_param_card(sm, {"MZ": 91.1876, "aS": 0.1181234567891234})
    values = parameters_from_card(sm, read_param_card(text))
    assert values["MZ"] == 91.1876
    assert values["aS"] == 0.1181234567891234


def test_write_rejects_unknown_parameter(sm):
    with pytest.raises(ParamCardError, match="lamWS"):
        write_param_card(sm, {"lamWS": 0.2})  # fixed to 0 by restrict_default


def test_parameters_from_card_names_missing_entries(sm):
    card = read_param_card("Block SMINPUTS\n 1 132.5\n 2 1.1e-5\n")
    with pytest.raises(ParamCardError) as info:
        parameters_from_card(sm, card)
    message = str(info.value)
    assert "Block SMINPUTS entry 3 (aS)" in message
    assert "DECAY 23 (WZ)" in message
    assert "does not have" not in message
    misspelled = read_param_card(write_param_card(sm).replace("Block MASS", "Block MAS"))
    with pytest.raises(ParamCardError, match=r"missing Block MASS entry 23 \(MZ\).*<text>:\d+ has Block MAS, which "
                                             r"model 'sm' does not have: Block MASS\?"):
        parameters_from_card(sm, misspelled)


def test_entries_the_model_does_not_read_are_named(sm):
    """SLHA's SMINPUTS 4 (MZ) in a card for the SM UFO, whose MZ is MASS 23: ignored as MadGraph ignores it,
    but said, with its line; a card madgen wrote for the model has none."""
    from madgen.model.param_card import unread_entries

    assert unread_entries(sm, read_param_card(write_param_card(sm))) == []
    text = write_param_card(sm).replace("Block SMINPUTS", "Block SMINPUTS\n    4 9.000000e+01 # MZ (SLHA)")
    line = text.splitlines().index("    4 9.000000e+01 # MZ (SLHA)") + 1
    (message,) = unread_entries(sm, parse_param_card(text, "slha.dat"))
    assert f"Block SMINPUTS entry 4 (slha.dat:{line})" in message and "ignored" in message


def test_format_value():
    assert format_value(132.507) == "1.325070e+02"
    assert format_value(0.0) == "0.000000e+00"
    assert float(format_value(0.1 + 0.2)) == 0.1 + 0.2


# --------------------------------------------------------------------------- bad user cards


@pytest.mark.parametrize("text, first, second, entry", [
    ("Block MASS\n  6 173.0\n  25 125.0\n  6 172.5  # MT again\n", 2, 4, "Block MASS entry 6"),
    ("Block CKMBLOCK\n  1 1 0.97\n  1 2 0.22\n  1 1 0.96\n", 2, 4, "Block CKMBLOCK entry 1 1"),
    ("DECAY 6 1.5\nDECAY 23 2.4952\ndecay 6 1.4\n", 1, 3, "DECAY 6"),
])
def test_duplicate_entry_names_file_both_lines_and_entry(tmp_path, text, first, second, entry):
    path = tmp_path / "param_card.dat"
    path.write_text(text)
    with pytest.raises(ParamCardError) as info:
        read_param_card(path)
    message = str(info.value)
    assert f"{path}:{second}:" in message and f"lines {first} and {second}" in message and entry in message


def test_blocks_with_an_argument_are_distinct():
    card = read_param_card("Block QNUMBERS 9000005  # Z1\n 1 0\n 2 3\nBlock QNUMBERS 9000006\n 1 3\n 2 3\n"
                           "Block MASS Q= 91.1876\n 6 173\n")
    assert card.blocks["QNUMBERS 9000005"][(2,)] == 3 and card.blocks["QNUMBERS 9000006"][(1,)] == 3
    assert card.get("MASS", (6,)) == 173


@pytest.mark.parametrize("data, needle", [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00binary", "binary file"),
    (b"Block MASS\n  6 173.0 # caf\xe9\n", ":2: is not UTF-8"),
])
def test_binary_or_non_utf8_card_is_a_param_card_error(tmp_path, data, needle):
    path = tmp_path / "card.dat"
    path.write_bytes(data)
    with pytest.raises(ParamCardError) as info:
        read_param_card(path)
    assert str(path) in str(info.value) and needle in str(info.value)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_value_in_a_card_names_the_parameter(sm, tmp_path, value):
    text = write_param_card(sm).replace("9.118800e+01 # MZ", f"{value} # MZ")
    assert f"{value} # MZ" in text
    path = tmp_path / "param_card.dat"
    path.write_text(text)
    line = text.splitlines().index(next(x for x in text.splitlines() if x.endswith(f"{value} # MZ"))) + 1
    with pytest.raises(ParamCardError) as info:
        parameters_from_card(sm, read_param_card(path))
    assert f"{path}:{line}" in str(info.value) and "parameter MZ" in str(info.value)


@pytest.mark.parametrize("name, old, new", [("MT", "1.730000e+02 # MT", "-1.730000e+02 # MT"),
                                            ("WZ", "2.441404e+00 # WZ", "-2.441404e+00 # WZ (Z)")])
def test_negative_mass_or_width_in_a_card_is_refused(sm, tmp_path, name, old, new):
    text = write_param_card(sm)
    assert old in text
    path = tmp_path / "param_card.dat"
    path.write_text(text.replace(old, new))
    with pytest.raises(ParamCardError) as info:
        parameters_from_card(sm, read_param_card(path))
    assert f"parameter {name}" in str(info.value) and ">= 0" in str(info.value)


def test_process_card_overrides_are_checked(sm):
    from madgen.model.param_card import with_defaults

    for values, needle in [({"MZ": float("nan")}, "MZ is nan"), ({"WT": -1.0}, "WT is a width"),
                           ({"MH": -125.0}, "MH is a mass")]:
        with pytest.raises(ParamCardError) as info:
            with_defaults(sm, values, "process.yaml, key 'parameters'")
        assert needle in str(info.value) and "process.yaml" in str(info.value)
    assert with_defaults(sm, {"aS": -0.1}, "here").parameter("aS").value == -0.1  # not a mass


def test_process_card_parameters_in_madgraph_spellings(sm):
    """As MadGraph's 'set': a UFO name in any case or a param-card entry; a derived mass named as such, a
    near miss suggested, one parameter set twice refused."""
    from madgen.model.param_card import with_defaults

    for values, name in [({"mt": 172.5}, "MT"), ({"MASS 6": 172.5}, "MT"), ({"mass 6": 172.5}, "MT"),
                         ({"DECAY 6": 1.3}, "WT"), ({"yukawa 6": 172.5}, "ymt"), ({"SMINPUTS 3": 0.12}, "aS")]:
        model = with_defaults(sm, values, "process.yaml, key 'parameters'")
        assert model.parameter(name).value == next(iter(values.values()))
    for values, needle in [({"MASS 24": 80.4}, "'MASS 24' (MW): it is a derived (internal) parameter"),
                           ({"mtt": 1.0}, "did you mean 'MT'?"),
                           ({"MT": 172.0, "mass 6": 171.0}, "'MT' and 'mass 6' both set the parameter 'MT'")]:
        with pytest.raises(ParamCardError) as info:
            with_defaults(sm, values, "process.yaml, key 'parameters'")
        assert needle in str(info.value) and "process.yaml" in str(info.value)


def test_majorana_masses_may_be_negative_as_in_slha_spectra():
    from madgen.model.param_card import with_defaults

    mssm = load_model("mssm")
    assert with_defaults(mssm, {"Mneu2": -180.0}, "card").parameter("Mneu2").value == -180.0
    with pytest.raises(ParamCardError, match="Msu1 is a mass"):
        with_defaults(mssm, {"Msu1": -500.0}, "card")


def test_restriction_card_may_hold_negative_widths(tmp_path):
    import shutil

    model_dir = tmp_path / "negsm"
    shutil.copytree(SM_DIR, model_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pkl"))
    card = (model_dir / "restrict_default.dat").read_text()
    (model_dir / "restrict_negw.dat").write_text(card.replace("DECAY   6 1.491500E+00", "DECAY   6 -1.491500E+00"))
    assert "-1.491500E+00" in (model_dir / "restrict_negw.dat").read_text()
    assert load_model(f"{model_dir}-negw").parameter("WT").value == -1.4915


def test_a_restriction_keeps_madgraphs_stand_ins_free_and_ties_identical_inputs(tmp_path):
    """MadGraph's restrict_model: 9.999999e-01 and 0.000001e-99 keep a parameter free (not fixed) with the
    default 1 and 0; inputs of one block with the same value up to sign (not DECAY, not 0/1/stand-ins) are
    merged, the later ones internal and equal (or opposite) to the first, and a card that gives them apart
    is refused with both lines and the way out ('-full')."""
    import shutil

    model_dir = tmp_path / "tiesm"
    shutil.copytree(SM_DIR, model_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pkl"))
    card = (model_dir / "restrict_default.dat").read_text()
    assert "  3 1.180000e-01 # aS" in card and " 15 1.777000e+00 # ymtau" in card
    (model_dir / "restrict_ties.dat").write_text(card.replace("  3 1.180000e-01 # aS", "  3 9.999999e-01 # aS")
                                                 .replace(" 15 1.777000e+00 # ymtau", " 15 -4.700000e+00 # ymtau")
                                                 .replace("DECAY   6 1.491500E+00", "DECAY   6 2.047600E+00"))
    model = load_model(f"{model_dir}-ties")
    assert model.parameter("aS").external and model.parameter("aS").value == 1.0
    assert not model.parameter("ymtau").external and str(model.parameter("ymtau").value) == "-ymb"
    assert model.parameter("WT").external and model.parameter("WT").value == model.parameter("WW").value  # DECAY: untied
    assert [(t.name, t.source, t.sign) for t in model.tied_entries] == [("ymtau", "ymb", -1)]
    text = write_param_card(model)
    assert "ymtau" not in text  # an internal parameter now, as in MadGraph's card
    apart = text.replace("Block YUKAWA", "Block YUKAWA\n    15 1.777 # ymtau")
    line = apart.splitlines().index("    15 1.777 # ymtau") + 1
    with pytest.raises(ParamCardError, match=rf"tied\.dat:{line}: Block YUKAWA entry 15 \(ymtau\) = 1\.777, but the "
                                             r"restriction restrict_ties\.dat .* ties ymtau to Block YUKAWA entry 5 "
                                             r"\(ymb = 4\.7, tied\.dat:\d+\).* minus ymb.*'tiesm-full'"):
        parameters_from_card(model, parse_param_card(apart, "tied.dat"))
    kept = parameters_from_card(model, parse_param_card(text.replace("Block YUKAWA", "Block YUKAWA\n 15 -4.7"), "ok.dat"))
    assert kept["ymb"] == 4.7 and "ymtau" not in kept
    # a tied mass stays in the card as a computed entry (as MW): editing its source alone is no error
    (model_dir / "restrict_mass_ties.dat").write_text(card.replace("15 1.777000e+00 # MTA", "15 4.700000e+00 # MTA"))
    masses = load_model(f"{model_dir}-mass_ties")
    assert [(t.name, t.source) for t in masses.tied_entries] == [("MTA", "MB")]
    edited = write_param_card(masses).replace("5 4.700000e+00 # MB", "5 5.000000e+00 # MB")
    values = parameters_from_card(masses, parse_param_card(edited, "edited.dat"))
    assert values["MB"] == 5.0
    (message,) = ignored_dependent_entries(masses, parse_param_card(edited, "edited.dat"), values)
    assert "MTA" in message and "is ignored" in message


def test_generate_refuses_a_bad_param_card(tmp_path):
    import madgen

    (tmp_path / "bad.dat").write_text("Block MASS\n 6 173\n 6 172\n")
    (tmp_path / "card.yaml").write_text("model: sm\nprocess: e+ e- > mu+ mu-\nparam_card: bad.dat\n")
    with pytest.raises(ParamCardError, match=r"bad\.dat:3: Block MASS entry 6 is given twice"):
        madgen.generate(tmp_path / "card.yaml", output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_entry_without_its_value_says_so():
    with pytest.raises(ParamCardError, match=r"needs integer code\(s\) then its value; this line has one field"):
        read_param_card("Block MASS\n  6 173.0\n  23\n")


def test_an_entry_the_restriction_fixed_must_keep_its_value(tmp_path):
    """restrict_default fixes the charm mass to 0 and removes MC: a card that sets MC = 1.5 would be
    ignored without a word, so it is refused with the entry, the restriction and the way out ('-full');
    the fixed value itself (as MadGraph writes it in a restricted model's card) is accepted."""
    import madgen

    sm = load_model("sm")
    full = load_model("sm-full")
    assert [(f.name, f.value) for f in sm.fixed_entries if f.name in ("MC", "lamWS")] == [("lamWS", 0.0),
                                                                                       ("MC", 0.0)]
    assert full.fixed_entries == ()
    text = write_param_card(sm)
    charm = "     4 0.000000e+00 # ZERO (c)"  # among the dependent masses, as in MadGraph's cards
    line = text.splitlines().index(charm) + 1
    (tmp_path / "mc.dat").write_text(text.replace(charm, "    4 1.5 # MC"))
    (tmp_path / "card.yaml").write_text("model: sm\nprocess: e+ e- > mu+ mu-\nparam_card: mc.dat\n")
    with pytest.raises(ParamCardError, match=rf"mc\.dat:{line}: Block MASS entry 4 \(MC\) = 1\.5, but the restriction "
                                             r"restrict_default\.dat .* fixes MC to 0 .*'sm-full'"):
        madgen.generate(tmp_path / "card.yaml", output=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # a card of the unrestricted model sets the CKM angle the restriction removed: refused as well
    with pytest.raises(ParamCardError, match=r"Block WOLFENSTEIN entry 1 \(lamWS\)"):
        parameters_from_card(sm, read_param_card(write_param_card(full)))
    (tmp_path / "mc.dat").write_text(text.replace(charm, "    4 0.0 # MC"))
    assert parameters_from_card(sm, read_param_card(tmp_path / "mc.dat"))["MZ"] == sm.parameter("MZ").value


def test_dependent_masses_follow_the_inputs_and_never_repeat_an_entry():
    """MadGraph's cards list the masses that are not inputs after Block MASS's inputs (Pythia reads them);
    one whose block and code an input already holds (a particle whose mass is an internal copy of the
    input, as SMEFTsim's Z1) is left out, or the card would set one entry twice."""
    import dataclasses

    sm = load_model("sm")
    text = write_param_card(sm)
    card = read_param_card(text)
    mz2, alpha, gf = sm.parameter("MZ").value ** 2, 1 / sm.parameter("aEWM1").value, sm.parameter("Gf").value
    mw = math.sqrt(mz2 / 2 + math.sqrt(mz2 ** 2 / 4 - math.pi * alpha * mz2 / (math.sqrt(2) * gf)))  # Gmu scheme
    assert card.get("MASS", (24,)) == pytest.approx(mw, rel=1e-14) and card.get("MASS", (21,)) == 0.0
    z_copy = dataclasses.replace(sm, particles=tuple(dataclasses.replace(p, mass="MW") if p.name == "Z" else p
                                                     for p in sm.particles))
    copied = read_param_card(write_param_card(z_copy))  # no "entry 23 given twice"
    assert copied.get("MASS", (23,)) == sm.parameter("MZ").value


@pytest.mark.parametrize("values, culprit", [({"MZ": 0.0}, "sw2"), ({"aEWM1": 0.0}, "aEW"), ({"Gf": 0.0}, "MW")])
def test_a_point_where_the_model_is_undefined_is_refused(values, culprit):
    """MZ = 0 makes the SM's sw2 = 1 - MW^2/MZ^2 undefined: the package would compute nan everywhere (and
    keep every helicity), so the values are refused naming the derived quantity."""
    from madgen.model.param_card import with_defaults

    sm = load_model("sm")
    with pytest.raises(ParamCardError, match=rf"card\.yaml, key 'parameters': with {list(values)[0]} = 0, the "
                                             rf"model's {culprit} = .* is .*not finite"):
        with_defaults(sm, values, "card.yaml, key 'parameters'")
    assert with_defaults(sm, {"MZ": 91.0}, "card").parameter("MZ").value == 91.0


def test_a_byte_order_mark_is_not_read_as_a_data_line(tmp_path):
    """Some Windows editors start a file with a UTF-8 byte-order mark; it is not text of the card."""
    sm = load_model("sm")
    path = tmp_path / "param_card.dat"
    path.write_bytes(b"\xef\xbb\xbf" + write_param_card(sm).encode())
    assert parameters_from_card(sm, read_param_card(path))["MZ"] == sm.parameter("MZ").value


def test_an_edited_dependent_entry_is_reported_as_ignored(tmp_path, caplog):
    """MW in Block MASS is computed from the inputs (MadGraph ignores the entry too): a card that edits it
    generates, with a warning naming the line and the value that holds; an untouched card warns nothing."""
    import logging
    import re

    import madgen
    from madgen.model.param_card import ignored_dependent_entries

    sm = load_model("sm")
    text = write_param_card(sm)
    assert ignored_dependent_entries(sm, read_param_card(text), parameters_from_card(sm, read_param_card(text))) == []
    edited = re.sub(r"    24 \S+ # MW", "    24 7.0e+01 # MW", text)
    line = edited.splitlines().index("    24 7.0e+01 # MW (W+)") + 1
    (tmp_path / "mw.dat").write_text(edited)
    (tmp_path / "card.yaml").write_text("model: sm\nprocess: e+ e- > mu+ mu-\nparam_card: mw.dat\n")
    with caplog.at_level(logging.WARNING, logger="madgen"):
        madgen.generate(tmp_path / "card.yaml", output=tmp_path / "out")
    assert re.search(rf"mw\.dat:{line}: Block MASS entry 24 \(MW of W\+\) = 70 is ignored: .*\(80\.4\d* here\)",
                     caplog.text), caplog.text


def test_the_unrestricted_models_name():
    """MadGraph's '-full' spelling in messages, for model names that hold '-' themselves."""
    from madgen.model.types import unrestricted_name

    assert unrestricted_name("sm", "restrict_default.dat") == "sm-full"
    assert unrestricted_name("sm-no_b_mass", "restrict_no_b_mass.dat") == "sm-full"
    assert unrestricted_name("my-model-massless", "restrict_massless.dat") == "my-model-full"
    assert unrestricted_name("my-model", "restrict_default.dat") == "my-model-full"
    assert unrestricted_name("sm-full", None) == "sm-full"
