"""``madgen`` command line: a thin shell over the public API (heavy imports are lazy)."""

from __future__ import annotations

import argparse
import sys

from madgen import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="madgen",
        description="Compile tree-level matrix elements from a UFO model and a MadGraph-syntax "
                    "process into differentiable JAX code.")
    parser.add_argument("--version", action="version", version=f"madgen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each stage and its timing")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    generate = commands.add_parser("generate", help="generate the matrix-element package of a process card")
    generate.add_argument("card", help="process card (process.yaml)")
    generate.add_argument("-o", "--output", help="output directory (default: generated/<name>)")
    generate.add_argument("--force", action="store_true", help="overwrite an existing output directory")
    generate.add_argument("--draw", action="store_true", help="also draw the diagrams to SVG")

    launch = commands.add_parser(
        "launch", help="integrate a process and write unweighted events (LHE, columnar, results.json)")
    launch.add_argument("card", help="process card (process.yaml) or a generated package directory")
    launch.add_argument("--run", required=True, help="run card (run.yaml): beams, events, seed, cuts")
    launch.add_argument("-o", "--output", help="run directory (default: <package>/Events/run_NN)")
    launch.add_argument("--no-progress", action="store_true", help="no progress bar")

    from madgen.inference.cli import add_mine_parser

    add_mine_parser(commands)

    draw = commands.add_parser("draw", help="draw the Feynman diagrams of a process card to SVG")
    draw.add_argument("card", help="process card (process.yaml)")
    draw.add_argument("-o", "--output", help="output directory (default: diagrams/<name>)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from madgen.errors import MadgenError

    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "generate":
            return _generate(args)
        if args.command == "draw":
            return _draw(args)
        if args.command == "launch":
            return _launch(args)
        if args.command == "mine":
            from madgen.inference.cli import run_mine

            return run_mine(args)
    except MadgenError as error:
        print(f"madgen: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("madgen: interrupted; nothing was written", file=sys.stderr)
        return 130
    except OSError as error:  # a file that cannot be read or written (disk full, permissions)
        print(f"madgen: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - a bug in madgen: say so, in one line unless -v
        if args.verbose:
            import traceback

            traceback.print_exc()
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"madgen: internal error: {type(error).__name__}{': ' + detail if detail else ''}; "
              "nothing was written. This is a bug in madgen: please report it with the card "
              "(rerun with -v for the traceback)", file=sys.stderr)
        return 1
    return 0


def _generate(args) -> int:
    from madgen.api import generate

    result = generate(args.card, output=args.output, force=args.force, draw=args.draw)
    if result.model:
        print(result.model)
    for process, n_diagrams in zip(result.subprocesses, result.n_diagrams):
        print(f"  {process}: {n_diagrams} diagram(s)")
    timings = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in result.timings)
    print(f"generated {result.path} ({timings})")
    return 0


def _launch(args) -> int:
    from madgen.api import launch

    result = launch(args.card, args.run, output=args.output, progress=not args.no_progress)
    print(f"cross section: {result.cross_section_pb:.6g} +- {result.error_pb:.3g} pb")
    print(f"{result.n_events} unweighted events (seed {result.seed}) in {result.output_dir}")
    return 0


def _draw(args) -> int:
    from madgen.api import draw

    paths = draw(args.card, output=args.output)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
