"""What every benchmark shares: where its results go, their provenance, and its command line.

Each benchmark is a module ``exemplar.bench.NAME`` with ``params(quick) -> dict``, ``run(**params) ->
pandas.DataFrame`` and a ``main()`` (``python -m exemplar.bench.NAME [--quick] [--output-dir DIR]``);
``python -m exemplar.bench.run_all`` (``make bench``, ``exemplar bench``) runs them in turn. Results go
to ``results/bench/NAME.csv`` with ``NAME.json`` beside it (parameters, machine, versions, commit),
written atomically; ``--quick`` (tiny sizes, for tests) writes to ``results/quick/bench/`` instead.
Every figure is a ratio measured in the same run (against a peak, a memcpy, another method).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from exemplar import config, results


def bench_dir(quick: bool = False, output_dir: str | os.PathLike | None = None) -> Path:
    """Folder of benchmark results: ``output_dir``, else ``results/quick/bench`` (quick) or ``results/bench``."""
    if output_dir is not None:
        return Path(output_dir)
    return config.ROOT / config.QUICK_RESULTS / "bench" if quick else config.results_dir() / "bench"


def write(name: str, rows: pd.DataFrame, params: Mapping[str, Any], quick: bool = False,
          output_dir: str | os.PathLike | None = None, load_start=None, **extra) -> Path:
    """Write ``NAME.csv`` and ``NAME.json`` (provenance with ``params``) atomically; return the CSV's path.

    ``load_start`` is the machine's load average when the benchmark started (default: now); the
    load when it ends is recorded beside it.
    """
    prov = results.provenance(dict(params), benchmark=name, quick=quick, **extra)
    if load_start is not None:
        prov["load"] = {"start": load_start}
    prov = results.with_end_load(prov)
    return results.write_results(name, rows, prov, directory=bench_dir(quick, output_dir))


def parser(description: str) -> argparse.ArgumentParser:
    """The command line every benchmark shares: ``--quick`` and ``--output-dir``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds), results in results/quick/bench")
    p.add_argument("--output-dir", default=None, help="write the CSV and JSON here instead")
    return p


def main(name: str, description: str, run: Callable[..., pd.DataFrame], params_of: Callable[[bool], dict],
         argv=None) -> int:
    """Command line of one benchmark: run it, write its results, print them; exit 1 with the reason on failure."""
    args = parser(description).parse_args(argv)
    t0, load_start = time.perf_counter(), results.load_average()
    # a benchmark that writes more than its main CSV takes where and how to write it
    accepted = inspect.signature(run).parameters
    where = {k: v for k, v in (("output_dir", args.output_dir), ("quick", args.quick)) if k in accepted}
    try:
        params = params_of(args.quick)
        df = run(**params, **where)
        path = write(name, df, params, quick=args.quick, output_dir=args.output_dir, load_start=load_start,
                     wall_seconds=round(time.perf_counter() - t0, 1))
    except BenchError as exc:
        print(f"benchmark {name} failed: {exc}", file=sys.stderr)
        return 1
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(df.to_string(index=False))
    print(f"[bench] {name}: {config.display_path(path)} in {time.perf_counter() - t0:.1f} s")
    return 0


class BenchError(RuntimeError):
    """A benchmark cannot run here (missing dependency, bad parameter); the message says what to do."""
