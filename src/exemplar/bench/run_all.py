"""``make bench``: every benchmark in turn, each writing ``results/bench/NAME.csv`` (``--quick``: tiny sizes).

The benchmarks share the machine's cores with nothing else of ours: they run one after another,
and each measures its ratios within its own run. A benchmark that fails is reported and the others
still run; the exit status is then 1.

Run ``python -m exemplar.bench.run_all [NAME ...] [--quick] [--output-dir DIR]`` (``make bench``,
``exemplar bench``); one benchmark alone: ``python -m exemplar.bench.NAME``.
"""

from __future__ import annotations

import importlib
import sys
import time


#: In the order they run: the cheap ones first.
BENCHMARKS = ["compute", "dtype", "distribution", "memory", "ddp", "fuzz", "report", "chaos"]


def main(argv=None) -> int:
    """Run the named benchmarks (default: all of :data:`BENCHMARKS`); 2 for an unknown name, 1 if any failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    only = [a for a in argv if not a.startswith("-")]
    flags = [a for a in argv if a.startswith("-")]
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: {BENCHMARKS}", file=sys.stderr)
        return 2
    failed = []
    t0 = time.perf_counter()
    for name in only or BENCHMARKS:
        print(f"[bench] {name} ...", flush=True)
        module = importlib.import_module(f"exemplar.bench.{name}")
        try:
            status = module.main(flags)
        except Exception as exc:  # one failing benchmark does not stop the others
            print(f"[bench] {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            status = 1
        if status:
            failed.append(name)
    print(f"[bench] done in {time.perf_counter() - t0:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
