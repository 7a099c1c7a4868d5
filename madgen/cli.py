"""``madgen`` command line: a thin shell over the public API (heavy imports are lazy)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from madgen.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="madgen",
        description="Compile tree-level matrix elements from a UFO model and a MadGraph-syntax "
                    "process into differentiable JAX code.")
    parser.add_argument("--version", action="version", version=f"madgen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each stage and its timing")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    generate = commands.add_parser("generate", help="generate the matrix-element package of a process card")
    generate.add_argument("card", help="process card (process.yaml, or MadGraph's proc_card_mg5.dat)")
    generate.add_argument("-o", "--output", help="output directory (default: generated/<name>)")
    generate.add_argument("--force", action="store_true", help="overwrite an existing output directory")
    generate.add_argument("--draw", action="store_true", help="also draw the diagrams to SVG")
    generate.add_argument("--all-helicities", action="store_true",
                          help="keep the helicity combinations that vanish identically (filtered out by default)")

    launch = commands.add_parser(
        "launch", help="integrate a process and write unweighted events (LHE, columnar, results.json)")
    launch.add_argument("card", help="process card (process.yaml or MadGraph's proc_card_mg5.dat) or a generated "
                        "package directory")
    launch.add_argument("--run", required=True, help="run card (run.yaml, or MadGraph's run_card.dat): beams, events, "
                        "seed, cuts")
    launch.add_argument("-o", "--output", help="run directory (default: <package>/Events/run_NN)")
    launch.add_argument("--force", action="store_true",
                        help="replace an existing run directory given with -o (only a madgen run)")
    launch.add_argument("--no-progress", action="store_true", help="no progress bar")
    launch.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                        help="as MadGraph's set at launch (repeatable): a run-card key (n_events=500, ptj=30 or "
                             "cuts.ptj=30, polbeam2=-80) or a model parameter for this run (MT=172.5, or "
                             "'MASS 6=172.5' as a param-card entry; no regeneration)")
    from madgen.inference.cli import add_mine_parser
    from madgen.runtime.tasks import add_scale_out_options

    add_scale_out_options(launch)

    add_mine_parser(commands)

    draw = commands.add_parser("draw", help="draw the Feynman diagrams of a process card to SVG")
    draw.add_argument("card", help="process card (process.yaml, or MadGraph's proc_card_mg5.dat)")
    draw.add_argument("-o", "--output", help="output directory (default: diagrams/<name>)")

    reweight = commands.add_parser(
        "reweight", help="add weights |M(theta_i)|^2/|M(theta_0)|^2 to the events of an LHE file (LHE 3.0 <rwgt>)")
    reweight.add_argument("events", help="LHE file (madgen's or another generator's, .lhe or .lhe.gz)")
    reweight.add_argument("--card", required=True, help="process card or generated package of the events' process")
    reweight.add_argument("--theta", action="append", required=True, metavar="NAME=VALUE,...",
                          help="a new parameter point (repeatable): one weight per point; NAME a parameter "
                               "(MZ) or a param-card entry ('SMEFT 9=-0.4', 'MASS 23=92'), as launch --set")
    reweight.add_argument("--theta-ref", default=None, metavar="NAME=VALUE,...",
                          help="the parameters the events were generated with (default: the package's)")
    reweight.add_argument("--name", action="append", default=None,
                          help="weight id of each point, in order (default rwgt_1, rwgt_2, ...)")
    where = reweight.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", help="output LHE file (default: <events>_rwgt.lhe beside the input)")
    where.add_argument("--in-place", action="store_true", help="replace the input file (atomically)")

    clean = commands.add_parser(
        "clean", help="remove temporary files and directories left by killed madgen runs")
    clean.add_argument("paths", nargs="*", default=["generated"],
                       help="directories to search, recursively (default: generated)")
    return parser


CPU_THREADS_VARIABLES = ("NPROC", "PJRT_NPROC")
"""Environment variables that fix the size of XLA's CPU thread pool (read when JAX starts)."""


def fix_cpu_thread_pool(environ=os.environ) -> None:
    """Pin XLA's CPU thread pool to one thread unless the user chose a size.

    XLA splits CPU work into as many parts as its thread pool has threads (by default the CPUs
    visible to the process), and floating-point reductions then add in a different order: the
    same seed would give events differing in the last digits on machines (or ``taskset`` masks)
    with different numbers of cores. A fixed pool size makes them byte-identical. One thread is
    also what these elementwise-heavy kernels run fastest with on a CPU; scale out with processes.
    """
    if not any(name in environ for name in CPU_THREADS_VARIABLES):
        environ["NPROC"] = "1"


def enable_compilation_cache(environ=os.environ) -> None:
    """Keep XLA's compiled matrix elements between runs (JAX's persistent compilation cache, under
    ``$MADGEN_CACHE/jax``, default ``~/.cache/madgen/jax``) unless the user configured JAX's own:
    a second ``madgen launch`` of a process starts in seconds instead of recompiling."""
    from madgen.contract import CACHE_MIN_COMPILE_SECONDS, compilation_cache_directory

    if "JAX_COMPILATION_CACHE_DIR" in environ:
        return
    environ["JAX_COMPILATION_CACHE_DIR"] = compilation_cache_directory(environ)
    environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", CACHE_MIN_COMPILE_SECONDS)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    fix_cpu_thread_pool()
    enable_compilation_cache()
    if args.command is None:
        parser.print_help()
        return 0
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")
    return _run_interruptibly(_COMMANDS[args.command], args)


def _run_interruptibly(command, args) -> int:
    """Run ``command(args)`` in a worker thread, so that Ctrl-C (or SIGTERM) is answered at once
    even while a long compiled computation runs: the main thread removes every temporary the run
    was writing, says so, and exits with 130. Nothing half-written remains."""
    import os
    import signal
    import threading

    outcome = {}

    def work():
        try:
            outcome["rc"] = _report_errors(command, args)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            outcome["error"] = error

    in_main_thread = threading.current_thread() is threading.main_thread()
    # SIGINT and SIGTERM interrupt, even when the shell started madgen with SIGINT ignored (a
    # background job of a script): a user's or a batch system's signal must stop the run.
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if in_main_thread else {}
    worker = threading.Thread(target=work, name="madgen", daemon=True)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        from madgen.output import TEMP_TAG, completed_directories, remove_live_temporaries

        removed = remove_live_temporaries()
        done = completed_directories()
        message = "madgen: interrupted"
        unfinished = [str(path) for path in removed if TEMP_TAG in path.name and not path.name.endswith("lock")]
        if unfinished:
            message += f"; unfinished output removed ({', '.join(sorted(unfinished))})"
        message += f"; kept complete: {', '.join(map(str, done))}" if done else "; nothing new was written"
        print(message + " (earlier files and runs are unchanged)", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("rc", 1)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _report_errors(command, args) -> int:
    """Run one command; madgen's errors become one line on stderr and rc 2, bugs rc 1."""
    from madgen.errors import MadgenError

    try:
        return command(args)
    except MadgenError as error:
        print(f"madgen: error: {error}", file=sys.stderr)
        return 2
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


def _generate(args) -> int:
    from madgen.api import generate

    result = generate(args.card, output=args.output, force=args.force, draw=args.draw,
                      all_helicities=args.all_helicities)
    if result.model:
        print(result.model)
    for line in subprocess_summary(result.subprocesses, result.n_diagrams):
        print(line)
    timings = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in result.timings)
    print(f"generated {result.path} ({timings})")
    return 0


def subprocess_summary(processes, n_diagrams) -> list[str]:
    """One line per subprocess with its number of diagrams, a mirror (``u~ u > t t~`` beside ``u u~ > t t~``)
    on its partner's line, and a total as MadGraph counts (mirrors are no processes of their own there:
    ``p p > t t~`` is "5 processes with 7 diagrams")."""
    def mirror(process: str) -> str | None:
        initial, arrow, rest = process.partition(" > ")
        legs = initial.split()
        return f"{legs[1]} {legs[0]}{arrow}{rest}" if len(legs) == 2 and legs[0] != legs[1] and arrow else None

    index = {process: i for i, process in enumerate(processes)}
    partner = {i: index[mirror(p)] for i, p in enumerate(processes) if mirror(p) in index}
    lines, n_processes, total = [], 0, 0
    for i, (process, n) in enumerate(zip(processes, n_diagrams)):
        if partner.get(i, i) < i and n_diagrams[partner[i]] == n:
            continue  # on its partner's line
        twin = partner.get(i)
        also = f" (and its mirror {processes[twin]})" if twin is not None and n_diagrams[twin] == n else ""
        lines.append(f"  {process}{also}: {n} diagram(s)")
        n_processes, total = n_processes + 1, total + n
    lines.append(f"  {n_processes} process(es) with {total} diagram(s)"
                 + (f" ({len(processes)} subprocesses with their mirrors)" if n_processes != len(processes) else ""))
    return lines


def _launch(args) -> int:
    from madgen.api import launch
    from madgen.errors import MadgenError
    from madgen.runtime.runcard import is_run_card_key, run_card_with

    settings = _settings(args.settings)
    run = args.run
    run_overrides = {key: value for key, value in settings.items() if is_run_card_key(key)}
    parameters = {key: value for key, value in settings.items() if not is_run_card_key(key)}
    if run_overrides:
        run = run_card_with(args.run, run_overrides)
    for key, value in parameters.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MadgenError(f"--set {key}={value}: '{key}' is not a run-card key (docs/run_card.md), so it sets "
                              "a model parameter, which takes a number")
    result = launch(args.card, run, output=args.output, force=args.force, progress=not args.no_progress,
                    workers=args.workers, scheduler=args.scheduler, parameters=parameters or None)
    print(f"cross section: {result.cross_section_pb:.6g} +- {result.error_pb:.3g} pb")
    where = (f"in {result.output_dir}: {', '.join(result.event_files)}" if result.event_files else
             f"selected, none written (lhe: false, columnar: none); the cross section is in "
             f"{Path(result.output_dir) / 'results.json'}")
    print(f"{result.n_events} unweighted events (seed {result.seed}) {where}")
    if result.n_negative:
        print(f"{result.n_negative} of them with a negative weight (the integrand is negative in part of the phase "
              f"space; the integral of its magnitude is {result.abs_cross_section_pb:.6g} pb): fill histograms with "
              "the event weights, whose signs make them add up to the cross section")
    return 0


def _settings(items) -> dict:
    """``--set KEY=VALUE`` items as {key: value}, values read as YAML (numbers, true/false, [p, p]); a
    malformed item is an error naming it."""
    import yaml

    from madgen.errors import MadgenError

    settings = {}
    for item in items:
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals or not key or not text.strip():
            raise MadgenError(f"--set {item!r}: expected KEY=VALUE, e.g. --set n_events=1000 or --set MT=172.5")
        if key in settings:
            raise MadgenError(f"--set: '{key}' is given twice")
        try:
            settings[key] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise MadgenError(f"--set {item!r}: cannot read the value {text!r}") from None
    return settings


def _draw(args) -> int:
    from madgen.api import draw

    paths = draw(args.card, output=args.output)
    for path in paths:
        print(path)
    return 0


def _clean(args) -> int:
    from pathlib import Path

    from madgen.output import remove_stale

    removed = []
    for path in args.paths:
        removed += remove_stale(Path(path), recursive=True)
    for path in removed:
        print(f"removed {path}")
    print(f"{len(removed)} stale temporar{'y' if len(removed) == 1 else 'ies'} removed")
    return 0


def _reweight(args) -> int:
    from madgen.api import reweight
    from madgen.inference.cli import parse_assignments

    thetas = [parse_assignments(text, "--theta") for text in args.theta]
    result = reweight(args.events, args.card, thetas, theta_ref=parse_assignments(args.theta_ref, "--theta-ref") or None,
                      output=args.output, in_place=args.in_place, names=args.name)
    for point, total, sigma in zip(result.points, result.sums, result.cross_sections_pb):
        if sigma is None:
            print(f"{point.weight_id} ({point.describe()}): sum of weights {total:.6g} "
                  f"(reference {result.reference_sum:.6g})")
        else:
            print(f"{point.weight_id} ({point.describe()}): cross section {sigma:.6g} pb "
                  f"(reference {result.reference_cross_section_pb:.6g} pb)")
    return 0


def _mine(args) -> int:
    from madgen.api import process_for_run
    from madgen.inference.cli import run_mine

    return run_mine(args, process_for_run(args.card)[1])


_COMMANDS = {"generate": _generate, "draw": _draw, "launch": _launch, "mine": _mine, "reweight": _reweight,
             "clean": _clean}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
