"""``madgen mine``: unweighted events at theta_ref with joint likelihood ratios, joint scores,
d sigma / d theta and the Fisher information, written to one HDF5 file (docs/mining.md)."""

from __future__ import annotations

from madgen.inference.errors import InferenceError


def add_mine_parser(subparsers):
    """Add the ``mine`` subcommand to the CLI's subparsers; returns its parser."""
    from madgen.runtime.tasks import add_scale_out_options

    mine = subparsers.add_parser(
        "mine", help="sample events at theta_ref and write their gold (log r, score) to HDF5")
    mine.add_argument("card", help="process card (process.yaml or MadGraph's proc_card_mg5.dat) or a generated "
                      "package directory")
    mine.add_argument("--run", required=True, help="run card (run.yaml, or MadGraph's run_card.dat): beams, n_events, "
                      "seed, cuts")
    mine.add_argument("-p", "--parameters", required=True,
                      help="comma-separated external UFO parameters, e.g. MZ,WZ (ones that move an external mass: "
                           "2 -> 2 processes only, through latent variables; docs/mining.md)")
    mine.add_argument("--theta-ref", default=None, metavar="NAME=VALUE,...",
                      help="reference point (default: the package's parameter values)")
    mine.add_argument("--theta", action="append", default=[], metavar="NAME=VALUE,...",
                      help="an alternative hypothesis for log r (repeatable); unnamed parameters keep theta_ref")
    mine.add_argument("-o", "--output", default="gold.h5", help="HDF5 file to write (default: gold.h5)")
    mine.add_argument("--xsec-points", type=int, default=None,
                      help="fixed-sample points for sigma(theta) (default: the run card's points_per_iteration)")
    add_scale_out_options(mine)
    return mine


def parse_assignments(text: str | None, option: str) -> dict:
    """'MZ=91.2,WZ=2.5' -> {'MZ': 91.2, 'WZ': 2.5}; errors name the option and the bad item."""
    if not text:
        return {}
    values = {}
    for item in text.split(","):
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise InferenceError(f"{option}: '{item}' is not NAME=VALUE (e.g. {option} MZ=91.2,WZ=2.5)")
        try:
            number = float(value)
        except ValueError:
            raise InferenceError(f"{option}: in '{item}', '{value.strip()}' is not a number "
                                 f"(e.g. {option} MZ=91.2,WZ=2.5)") from None
        if name.strip() in values:
            raise InferenceError(f"{option}: '{name.strip()}' is given twice in '{text}'")
        values[name.strip()] = number
    return values


def run_mine(args, package_dir=None) -> int:
    """Mine the gold of the package in ``package_dir`` (default: ``args.card``, then a package directory;
    ``madgen mine`` resolves a process card first) as the options ask; print a summary."""
    import numpy as np

    from madgen.inference.mining import mine

    names = [n.strip() for n in args.parameters.split(",") if n.strip()]
    gold = mine(package_dir or args.card, args.run, names, theta_ref=parse_assignments(args.theta_ref, "--theta-ref") or None,
                thetas=[parse_assignments(t, "--theta") for t in args.theta], output=args.output,
                n_xsec_points=args.xsec_points, workers=args.workers, scheduler=args.scheduler)
    print(f"sigma(theta_ref) = {gold.sigma_ref_pb:.6g} +- {gold.sigma_ref_error_pb:.2g} pb")
    for name, g, e in zip(gold.names, gold.sigma_gradient_pb, gold.sigma_gradient_error_pb):
        print(f"d sigma / d {name} = {g:.6g} +- {e:.2g} pb")
    with np.printoptions(precision=5):
        print(f"Fisher information per event ({', '.join(gold.names)}):\n{gold.fisher}")
    print(f"{len(gold)} events with gold for {len(gold.thetas)} theta(s) written to {args.output}")
    return 0
