"""SLHA param card reading, writing and mapping to model parameters."""

from pathlib import Path

import pytest
import ufo_sm

from madgen.errors import ParamCardError
from madgen.model import load_model
from madgen.model.param_card import (
    format_value,
    parameters_from_card,
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


def test_format_value():
    assert format_value(132.507) == "1.325070e+02"
    assert format_value(0.0) == "0.000000e+00"
    assert float(format_value(0.1 + 0.2)) == 0.1 + 0.2
