"""Run card: defaults (MadGraph's LO run_card), parsing, and one clear error per bad key."""

from pathlib import Path

import pytest

from madgen.errors import CardError, RunCardError
from madgen.runtime.runcard import CUT_KEYS, parse_run_card, read_run_card

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_defaults_follow_madgraph():
    card = parse_run_card("sqrt_s: 1000")
    assert card.beam_energies == (500.0, 500.0) and card.sqrt_s == pytest.approx(1000.0)
    assert (card.n_events, card.seed, card.scale, card.cut_decays) == (10000, 0, 91.188, False)
    assert (card.channels, card.lhe, card.columnar) == ("multichannel", True, "npz")
    assert (card.iterations, card.points_per_iteration, card.max_weight_tolerance) == (10, 20000, 0.001)
    cuts = card.cuts
    assert (cuts["ptj"], cuts["ptb"], cuts["pta"], cuts["ptl"]) == (20.0, 0.0, 10.0, 10.0)
    assert (cuts["etaj"], cuts["etab"], cuts["etaa"], cuts["etal"]) == (5.0, -1.0, 2.5, 2.5)
    assert (cuts["drjj"], cuts["drll"], cuts["draa"], cuts["drbb"], cuts["drjl"]) == (0.4, 0.4, 0.4, 0.0, 0.4)
    assert cuts.user_set == ()


def test_full_card(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("""
beam_energies: [7000, 3500.5]
n_events: 500
seed: 42
scale: 173.0
iterations: 5
points_per_iteration: 1000
target_precision: 0.005
channels: rambo
batch_size: 256
max_weight_tolerance: 0.01
lhe: false
columnar: hdf5
cuts:
  ptj: 30
  etaj: -1
  mmjj: 50
  mmjjmax: 500
""")
    card = read_run_card(path)
    assert card.path == str(path)
    assert card.beam_energies == (7000.0, 3500.5)
    assert card.sqrt_s == pytest.approx(2 * (7000 * 3500.5) ** 0.5)
    assert (card.n_events, card.seed, card.scale, card.iterations, card.points_per_iteration) == (500, 42, 173.0, 5, 1000)
    assert (card.target_precision, card.channels, card.batch_size, card.max_weight_tolerance) == (0.005, "rambo", 256, 0.01)
    assert (card.lhe, card.columnar) == (False, "hdf5")
    assert card.cuts["ptj"] == 30 and card.cuts["etaj"] == -1 and card.cuts["mmjjmax"] == 500
    assert set(card.cuts.user_set) == {"ptj", "etaj", "mmjj", "mmjjmax"}
    again = parse_run_card(card.to_yaml())  # the effective card reads back to the same card
    assert again.as_mapping() == card.as_mapping()


def test_madgraph_aliases_and_columnar_off():
    card = parse_run_card("sqrt_s: 91.188\nnevents: 20\niseed: 3\ncolumnar: none")
    assert (card.n_events, card.seed, card.columnar) == (20, 3, None)


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("run_*.yaml")), ids=lambda p: p.name)
def test_examples_are_valid(example):
    import yaml

    card = read_run_card(example)
    given = yaml.safe_load(example.read_text())
    assert card.path == str(example)
    for key in ("n_events", "seed", "iterations", "points_per_iteration"):
        if key in given:
            assert getattr(card, key) == given[key], key
    if "sqrt_s" in given:
        assert card.sqrt_s == pytest.approx(given["sqrt_s"])
    for key, value in (given.get("cuts") or {}).items():
        assert card.cuts[key] == value, key


@pytest.mark.parametrize("text, key", [
    ("sqrt_s: 1000\nn_event: 10", "n_event"),  # typo
    ("sqrt_s: 1000\nptj: 10", "ptj"),  # a cut outside 'cuts:'
    ("sqrt_s: 1000\nebeam1: 500", "ebeam1"),
    ("sqrt_s: 1000\ncuts: {ptjj: 10}", "cuts.ptjj"),
    ("sqrt_s: -5", "sqrt_s"),
    ("sqrt_s: 0", "sqrt_s"),
    ("sqrt_s: lots", "sqrt_s"),
    ("beam_energies: [500, -1]", "beam_energies"),
    ("beam_energies: 500", "beam_energies"),
    ("beam_energies: [1, 2, 3]", "beam_energies"),
    ("sqrt_s: 1000\nbeam_energies: [500, 500]", "beam_energies"),
    ("n_events: 10", "sqrt_s"),
    ("", "sqrt_s"),
    ("sqrt_s: 1000\nn_events: 0", "n_events"),
    ("sqrt_s: 1000\nn_events: -3", "n_events"),
    ("sqrt_s: 1000\nn_events: 1e4", "n_events"),  # YAML text, not a number
    ("sqrt_s: 1000\nn_events: 10.5", "n_events"),
    ("sqrt_s: 1000\nn_events: true", "n_events"),
    ("sqrt_s: 1000\nseed: -1", "seed"),
    ("sqrt_s: 1000\nseed: 9223372036854775808", "seed"),  # 2^63: past JAX's PRNG keys
    ("sqrt_s: 1000\nscale: 0", "scale"),
    ("sqrt_s: 1000\nscale: 91\nfixed_scale: 91", "fixed_scale"),
    ("sqrt_s: 1000\niterations: 0", "iterations"),
    ("sqrt_s: 1000\ntarget_precision: 5", "target_precision"),
    ("sqrt_s: 1000\nchannels: vegas", "channels"),
    ("sqrt_s: 1000\nmax_weight_tolerance: 1", "max_weight_tolerance"),
    ("sqrt_s: 1000\nlhe: yes please", "lhe"),
    ("sqrt_s: 1000\ncolumnar: root", "columnar"),
    ("sqrt_s: 1000\nmaxjetflavor: 6", "maxjetflavor"),
    ("sqrt_s: 1000\ncuts: [ptj]", "cuts"),
    ("sqrt_s: 1000\ncuts: {ptj: -10}", "cuts.ptj"),
    ("sqrt_s: 1000\ncuts: {drjj: -0.4}", "cuts.drjj"),
    ("sqrt_s: 1000\ncuts: {ptjmax: 0}", "cuts.ptjmax"),
    ("sqrt_s: 1000\ncuts: {etaa: -2.5}", "cuts.etaa"),
    ("sqrt_s: 1000\ncuts: {ptj: '20'}", "cuts.ptj"),
    ("sqrt_s: 1000\ncuts: {ptj: 100, ptjmax: 50}", "cuts.ptjmax"),
    ("sqrt_s: 1000\ncuts: {mmll: 120, mmllmax: 60}", "cuts.mmll"),
    ("sqrt_s: 1000\ncuts: {etalmin: 3}", "cuts.etal"),  # etalmin 3 > default etal 2.5
    ("sqrt_s: 1000\nseed: 1\nseed: 2", "seed"),  # duplicate key
    ("[1, 2]", "sqrt_s"),
])
def test_bad_cards_name_the_key(text, key):
    with pytest.raises(RunCardError) as error:
        parse_run_card(text, "run.yaml")
    message = str(error.value)
    assert message.startswith("run.yaml") and key in message, message
    assert isinstance(error.value, CardError)


def test_madgraph_keys_at_their_off_values_read_and_others_say_why():
    """A card carried over from MadGraph reads where its settings mean what madgen does (unpolarised beams,
    helicities summed, no matching; use_syst is madgen's own key); at another value each is refused with the
    reason, not only 'unknown key'."""
    plain = parse_run_card("sqrt_s: 500\nn_events: 10")
    carried = parse_run_card("sqrt_s: 500\nn_events: 10\nnhel: 0\nickkw: 0\nxqcut: 0.0\nuse_syst: false")
    assert carried.as_mapping() == plain.as_mapping()
    for text, words in [("nhel: 1", "sums every helicity exactly"),
                        ("ickkw: 1", "matching and merging"), ("xqcut: 20", "matching and merging"),
                        ("systematics_program: systematics", "use_syst: true"), ("use_syst: 0", "true or false"),
                        ("nhel: false", "sums every helicity")]:
        with pytest.raises(RunCardError) as error:
            parse_run_card(f"sqrt_s: 500\n{text}", "run.yaml")
        assert words in str(error.value) and repr(text.split(":")[0]) in str(error.value), text


def test_beam_polarisations_in_percent_as_madgraph():
    card = parse_run_card("sqrt_s: 250\npolbeam1: 30\npolbeam2: -80.0")
    assert (card.polbeam1, card.polbeam2) == (30.0, -80.0)
    assert (parse_run_card("sqrt_s: 250").polbeam1, parse_run_card("sqrt_s: 250").polbeam2) == (0.0, 0.0)
    for text in ("polbeam1: 120", "polbeam2: -100.5", "polbeam1: left"):
        with pytest.raises(RunCardError, match=r"run.yaml:2, key 'polbeam[12]'"):
            parse_run_card(f"sqrt_s: 250\n{text}", "run.yaml")


def test_unknown_key_suggests_close_match():
    with pytest.raises(RunCardError, match="did you mean 'n_events'"):
        parse_run_card("sqrt_s: 1000\nnevent: 10")
    with pytest.raises(RunCardError, match="did you mean 'cuts.ptj'"):
        parse_run_card("sqrt_s: 1000\ncuts: {ptjj: 10}")


def test_malformed_yaml_and_missing_file(tmp_path):
    with pytest.raises(RunCardError, match=r"run\.yaml:2, column"):
        parse_run_card("sqrt_s: 1000\ncuts: {ptj: [}", "run.yaml")
    with pytest.raises(RunCardError, match="no such file"):
        read_run_card(tmp_path / "absent.yaml")


def test_every_cut_key_is_documented():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "run_card.md").read_text()
    missing = [key for key in CUT_KEYS if f"`{key}`" not in docs]
    assert not missing, f"undocumented cut keys: {missing}"


def test_errors_name_the_line_of_the_key(tmp_path):
    """One YAML reader (madgen.cards) for process and run cards: errors say file:line and the key."""
    from madgen.errors import CardError, RunCardError
    from madgen.process.card import read_process_card
    from madgen.runtime.runcard import read_run_card

    card = tmp_path / "run.yaml"
    card.write_text("sqrt_s: 91.188\nn_events: 10\ncuts:\n  ptl: 10\n  etal: abc\n")
    with pytest.raises(RunCardError, match=r"run\.yaml:5, key 'cuts\.etal': expected a number"):
        read_run_card(card)
    card.write_text("sqrt_s: 91.188\nn_events: 10\nseed: -3\n")
    with pytest.raises(RunCardError, match=r"run\.yaml:3, key 'seed': must be at least 0"):
        read_run_card(card)
    card.write_text("sqrt_s: 91.188\nseed: 1\nseed: 2\n")
    with pytest.raises(RunCardError, match=r"run\.yaml:3: key 'seed' is given twice \(first at line 2\)"):
        read_run_card(card)
    process = tmp_path / "process.yaml"
    process.write_text("model: sm\nprocess: e+ e- > mu+ mu-\nmodel: mssm\n")
    with pytest.raises(CardError, match=r"process\.yaml:3: key 'model' is given twice"):
        read_process_card(process)


def test_maxjetflavor_follows_the_initial_state_as_madgraph_sets_it():
    """MadGraph's run card for a process: maxjetflavor 4, raised to the heaviest incoming quark (5 when p
    holds the b, as in a five-flavour model); a value the card gives stays."""
    from types import SimpleNamespace

    from madgen.runtime.runcard import for_process

    def sub(*pdg_ids):
        return SimpleNamespace(pdg_ids=pdg_ids, n_initial=2)

    card = parse_run_card("sqrt_s: 13000")
    assert card.maxjetflavor is None
    assert for_process(card, [sub(2, -2, 5, -5), sub(21, 21, 5, -5)]).maxjetflavor == 4
    assert for_process(card, [sub(2, -2, 23), sub(5, -5, 23)]).maxjetflavor == 5
    assert for_process(card, [sub(-11, 11, 13, -13)]).maxjetflavor == 4
    assert for_process(parse_run_card("sqrt_s: 13000\nmaxjetflavor: 4"), [sub(5, -5, 23)]).maxjetflavor == 4


def test_a_madgraph_run_card_dat_is_named_with_the_way_over():
    from madgen.errors import RunCardError

    with pytest.raises(RunCardError, match=r"run_card.dat:2: '10000 = nevents ! Number of unweighted events' is "
                                           r"MadGraph's run_card.dat format.*here 'n_events: \.\.\.'"):
        parse_run_card("#*** MadGraph\n  10000 = nevents ! Number of unweighted events\n", "run_card.dat")
    with pytest.raises(RunCardError, match=r"beam_energies: \[E1, E2\]"):
        parse_run_card("6500.0 = ebeam1 ! beam 1 total energy in GeV\n", "run_card.dat")
    assert parse_run_card("sqrt_s: 100  # a = b\n").sqrt_s == 100
