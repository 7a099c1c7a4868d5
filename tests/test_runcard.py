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


MADGRAPH_LHC_CARD = """\
#*********************************************************************
#  MadGraph's run_card.dat for a p p process (its LO defaults, some changed)
#*********************************************************************
  lhc_run     = run_tag ! name of the run
  5000 = nevents ! Number of unweighted events requested
  42   = iseed   ! rnd seed
     1        = lpp1    ! beam 1 type
     -1       = lpp2    ! beam 2 type
     6500.0     = ebeam1  ! beam 1 total energy in GeV
     4.0d3      = ebeam2  ! beam 2 total energy in GeV (Fortran exponent)
     lhapdf    = pdlabel     ! PDF set
     230000    = lhaid     ! if pdlabel=lhapdf, this is the lhapdf number
 .false. = fixed_ren_scale  ! if .true. use fixed ren scale
 F        = fixed_fac_scale1
 F        = fixed_fac_scale2
 91.188  = scale            ! fixed ren scale
 2 = dynamical_scale_choice ! Choose one of the preselected dynamical choices
 0.5  = scalefact        ! scale factor for event-by-event scales
  False     = gridpack  !True = setting up the grid pack
  -1.0 = time_of_flight ! not written
  sum =  event_norm       ! average/sum
 0 = ickkw            ! 0 no matching, 1 MLM
 1.0 = alpsfact         ! scale factor for QCD emission vx
 5 = asrwgtflavor     ! highest quark flavor for a_s reweight
 0.0   = xqcut   ! minimum kt jet measure between partons
   0  = nhel          ! helicity sum
   2  = sde_strategy  ! integration strategy
 [] = custom_fcts ! user hooks
  15.0  = bwcutoff      ! (M+/-bwcutoff*Gamma)
 True = cut_decays
 25.0  = ptj       ! minimum pt for the jets
 {6: 50, 25: 10} = pt_min_pdg ! pt cut for other particles
 4.5 = etaj    ! max rap for the jets
 {'default': False} = mxx_only_part_antipart ! pairs
 0.3 = r0gamma ! isolation radius (any case, as MadGraph reads keys)
 5 = maxjetflavor    ! Maximum jet pdg code
   True  = use_syst      ! Enable systematics studies
systematics = systematics_program ! none, systematics [python], SysCalc
['--mur=0.5,1,2', '--muf=0.5,1,2', '--pdf=errorset'] = systematics_arguments ! see the wiki
"""


def test_a_madgraph_run_card_dat_reads_as_madgraph_means_it(tmp_path):
    """MadGraph's run_card.dat is read key by key: its settings under madgen's names (beams from lpp and
    ebeam, the set from pdlabel/lhaid, per-beam fixed_fac_scale, cuts in any case, Fortran exponents,
    values holding '='), its bookkeeping and the matching settings that act only with ickkw dropped, and
    what is dropped that a physicist may have meant (PDF variations) said in a note."""
    path = tmp_path / "run_card.dat"
    path.write_text(MADGRAPH_LHC_CARD)
    notes = []
    run = read_run_card(path, log=notes.append)
    assert run.beams == ("p", "p~") and run.beam_energies == (6500.0, 4000.0)
    assert run.pdf == 230000 and run.n_events == 5000 and run.seed == 42
    assert (run.fixed_ren_scale, run.fixed_fac_scale, run.dynamical_scale_choice, run.scalefact) == (False, False, 2,
                                                                                                       0.5)
    assert run.event_norm == "sum" and run.cut_decays is True and run.maxjetflavor == 5
    cuts = run.cuts.as_dict()
    assert (cuts["ptj"], cuts["etaj"], cuts["R0gamma"], cuts["pt_min_pdg"]) == (25.0, 4.5, 0.3, {6: 50.0, 25: 10.0})
    assert run.use_syst and run.sys_scalefact == (0.5, 1.0, 2.0) and run.time_of_flight == -1.0
    assert parse_run_card(MADGRAPH_LHC_CARD.replace("-1.0 = time_of_flight", "0.5 = time_of_flight"), "run_card.dat",
                          log=lambda _: None).time_of_flight == 0.5  # mm: decay lengths above it are written
    assert len(notes) == 1 and "run_card.dat:39" in notes[0] and "--pdf=errorset" in notes[0]
    same = parse_run_card(MADGRAPH_LHC_CARD.replace("lhapdf    = pdlabel", "nn23lo1 = pdlabel"), "run_card.dat",
                          log=lambda _: None)
    assert same.pdf == "nn23lo1"  # MadGraph reads lhaid only with pdlabel = lhapdf; the label keeps its alpha_s
    cteq = parse_run_card(MADGRAPH_LHC_CARD.replace("lhapdf    = pdlabel", "cteq6l1 = pdlabel"), "run_card.dat",
                          log=lambda _: None)
    assert cteq.pdf == "cteq6l1"  # MadGraph's built-in label: its LHAPDF set (found or named at launch)


def test_a_madgraph_lepton_collider_card_drops_what_has_no_pdf():
    """lpp = 0: no PDF set whatever pdlabel says, polarised beams kept, use_syst kept (alpha_s runs from aS
    without PDFs, as MadGraph's systematics varies muR there), no note."""
    notes = []
    run = parse_run_card("0 = lpp1\n0 = lpp2\n250 = ebeam1\n250 = ebeam2\n-80 = polbeam1\n30 = polbeam2\n"
                         "nn23lo1 = pdlabel\nTrue = use_syst\n", "ilc_card.dat", log=notes.append)
    assert not any(run.beams or ()) and run.pdf is None and (run.polbeam1, run.polbeam2) == (-80.0, 30.0)
    assert run.use_syst and not notes


@pytest.mark.parametrize("line, culprit", [
    ("1 = ickkw", r"run_card.dat:2, key 'ickkw'.*matching"),
    ("20.0 = xqcut", r"key 'xqcut'"),
    ("['user_cuts.f'] = custom_fcts", r"run_card.dat:2, key 'custom_fcts'.*user Fortran.*set it to \[\]"),
    ("abc = time_of_flight", r"run_card.dat:2, key 'time_of_flight': expected a number"),
    ("2 = nb_neutron1", r"key 'nb_neutron1'"),
    ("3 = frobnicate", r"run_card.dat:2, key 'frobnicate'.*no such setting"),
    ("iww = pdlabel", r"key 'pdlabel'.*LHAPDF6.*iww"),
    ("-1 = dynamical_scale_choice", r"dynamical_scale_choice.*-1, MadGraph's CKKW clustering"),
    ("10 = nevents", r"run_card.dat:2: key 'nevents' is given twice \(first on line 1\)"),
    ("this line has no key", r"run_card.dat:2: 'this line has no key' is not a 'value = key' line"),
])
def test_a_madgraph_run_card_dat_names_what_madgen_does_not_do(line, culprit):
    card = f"100 = nevents\n{line}\n1 = lpp1\n1 = lpp2\n6500 = ebeam1\n6500 = ebeam2\n"
    with pytest.raises(RunCardError, match=culprit):
        parse_run_card(card, "run_card.dat", log=lambda _: None)


def test_a_madgraph_run_card_dat_is_told_from_yaml():
    """A YAML card whose comment or text holds '=' is still YAML."""
    assert parse_run_card("sqrt_s: 100  # a = b\n").sqrt_s == 100
    assert parse_run_card("sqrt_s: 100\nseed: 3 # seed = 3\n").seed == 3


def test_launch_reads_a_madgraph_run_card_dat(tmp_path):
    """madgen launch --run run_card.dat with MadGraph's set (--set): the run is the YAML card's run."""
    import subprocess
    import sys

    (tmp_path / "ee.yaml").write_text("model: sm\nprocess: e+ e- > mu+ mu-\nname: ee_mg_card\n"
                                      f"output: {tmp_path / 'package'}\n")
    (tmp_path / "run_card.dat").write_text("  50 = nevents ! events\n 7 = iseed\n 0 = lpp1\n 0 = lpp2\n"
                                           " 45.0 = ebeam1\n 45.0 = ebeam2\n 0 = nhel\n False = gridpack\n")
    (tmp_path / "run.yaml").write_text("sqrt_s: 90\nn_events: 50\nseed: 7\niterations: 2\n"
                                       "points_per_iteration: 2000\n")
    results = []
    for card in ("run_card.dat", "run.yaml"):
        done = subprocess.run([sys.executable, "-m", "madgen", "launch", "ee.yaml", "--run", card, "--set",
                               "iterations=2", "--set", "points_per_iteration=2000", "-o", f"out_{card}",
                               "--no-progress"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        results.append([line for line in done.stdout.splitlines() if line.startswith("cross section")][-1])
    assert results[0] == results[1]


def test_a_madgraph_run_card_dat_reads_its_per_beam_pdf_labels():
    card = "1 = lpp1\n1 = lpp2\n6500 = ebeam1\n6500 = ebeam2\nnn23lo1 = pdlabel\nnn23lo1 = pdlabel1\n"
    assert parse_run_card(card + "nn23lo1 = pdlabel2\n", "run_card.dat").pdf == "nn23lo1"
    with pytest.raises(RunCardError, match=r"run_card.dat:7, key 'pdlabel2'.*one PDF set for both beams"):
        parse_run_card(card + "lhapdf = pdlabel2\n", "run_card.dat")


def test_a_madgraph_run_card_dat_as_madgraph_versions_write_it():
    """What real cards hold: a comment continued on a line of its own ('   ! ...', every card since 2.6), text
    values in quotes (older cards), PDG cuts without a space ({6:250}, the card's own example), quarkonium
    cuts no model here has; an aMC@NLO run card is named as one."""
    card = ("1 = lpp1\n1 = lpp2\n6500 = ebeam1\n6500 = ebeam2\n'lhapdf' = pdlabel\n247000 = lhaid\n"
            "{6:250} = mxx_min_pdg ! min invariant mass of a pair of particles X/X~ (e.g. {6:250})\n"
            "{'default':False} = mxx_only_part_antipart ! if True the invariant mass is applied only\n"
            "                       ! to pairs of particle/antiparticle and not to pairs of the same pdg codes.\n"
            "   0  = nhel          ! using helicities importance sampling or not.\n"
            "                             ! 0: sum over helicity, 1: importance sampling\n"
            "1.0 = ptonium\n0.6 = etaonium\n")
    run = parse_run_card(card, "run_card.dat", log=lambda _: None)
    assert run.pdf == 247000 and run.cuts.as_dict()["mxx_min_pdg"] == {6: 250.0}
    assert run.cuts.as_dict()["mxx_only_part_antipart"] == {"default": False}
    with pytest.raises(RunCardError, match=r"run_card.dat:3: key 'parton_shower' belongs to aMC@NLO's run card"):
        parse_run_card("1 = lpp1\n1 = lpp2\nHERWIG6 = parton_shower\n0.01 = req_acc\n", "run_card.dat")


@pytest.mark.parametrize("text, expected", [
    ("fixed_ren_scale: false", (False, False)),  # MadGraph: both scales dynamical, not muF left at 91.188
    ("fixed_ren_scale: false\nfixed_fac_scale: true", (False, True)),
    ("fixed_fac_scale: false", (True, False)),
    ("dynamical_scale_choice: 2", (False, False)),
    ("", (True, True)),
])
def test_fixed_fac_scale_follows_fixed_ren_scale(text, expected):
    card = parse_run_card(f"sqrt_s: 13000\n{text}")
    assert (card.fixed_ren_scale, card.fixed_fac_scale) == expected
