"""The fuzzing benchmark: atheris (libFuzzer) on ``exemplar validate``, the CSV/IDX readers and every chapter's
parameters; ``results/bench/fuzz.csv``.

Each target of :mod:`exemplar.bench.fuzz_targets` runs in a child process of its own
(``python -m exemplar.bench.fuzz --child TARGET``) for ``runs`` inputs, mutated by libFuzzer from the target's
good seeds, with libFuzzer's own limits: ``timeout_s`` per input (a hang is a finding) and ``rss_limit_mb`` (so
is memory past it). Where atheris is not installed (it is in the ``[bench]`` extra) a seeded random mutator
does the same work, and the ``engine`` column says so. One row per target: the inputs tried, the findings
(distinct, and the inputs that gave one), the child's peak resident memory, the inputs per second and the
first finding. Every finding so far has been fixed, each with its test in ``tests/test_fuzz_*.py``.

Run ``python -m exemplar.bench.fuzz [--runs N] [--quick] [--output-dir DIR]`` or ``exemplar bench fuzz``.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from exemplar.bench import common
from exemplar.bench.fuzz_targets import TARGETS, Targets, seeds

#: Bytes a nasty mutation inserts (the random mutator's; libFuzzer finds its own).
TOKENS = [b"nan", b"-1", b"256", b"1e400", b"9" * 5000, b"\x00", b"\r", b"\xef\xbb\xbf", b"\xff\xfe", b"\x1f\x8b",
          b"True", b"[" * 200, b",", b"\n\n", b"None", b".inf", b"{1: 2}", b"\x00\x00\x08\x01\x00\x00\x00\x00"]


def params(quick: bool) -> dict:
    """Inputs per target (``--quick``: a few hundred), libFuzzer's seed and limits."""
    return {"runs": 300 if quick else 20_000, "targets": list(TARGETS), "seed": 1, "timeout_s": 10,
            "rss_limit_mb": 2048, "max_len": 8192}


class _Child:
    """The state of one fuzzing child: its target, what it has tried and found; saved to ``status.json``."""

    def __init__(self, target: str, folder: Path, runs: int, engine: str):
        self.call, self.folder, self.runs = Targets(folder)[target], folder, runs
        self.status = {"target": target, "engine": engine, "inputs": 0, "failing_inputs": 0, "findings": {}}

    def one(self, blob: bytes) -> None:
        finding = self.call(bytes(blob))
        s = self.status
        s["inputs"] += 1
        if finding is not None:
            s["failing_inputs"] += 1
            key = finding.split(" | ")[0]
            s["findings"].setdefault(key, f"{finding} | input {bytes(blob[:120])!r}")
        if s["inputs"] % 25 == 0 or s["inputs"] >= self.runs or finding is not None:
            self.save()

    def save(self) -> None:
        self.status["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tmp = self.folder / "status.json.tmp"
        tmp.write_text(json.dumps(self.status))
        tmp.replace(self.folder / "status.json")


def _mutate(rng: random.Random, blob: bytes, pool: list[bytes]) -> bytes:
    """One to four random edits: flip, insert (a nasty token or noise), delete, duplicate, truncate, splice."""
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(blob))
        kind = rng.randrange(6)
        if kind == 0 and blob:
            at = min(at, len(blob) - 1)
            blob = blob[:at] + bytes([blob[at] ^ (1 << rng.randrange(8))]) + blob[at + 1:]
        elif kind == 1:
            token = rng.choice(TOKENS) if rng.random() < 0.7 else rng.randbytes(rng.randint(1, 8))
            blob = blob[:at] + token + blob[at:]
        elif kind == 2:
            blob = blob[:at] + blob[at + rng.randint(1, 64):]
        elif kind == 3:
            blob = blob[:at] + blob[at:at + rng.randint(1, 400)] + blob[at:]
        elif kind == 4:
            blob = blob[:at]
        else:
            other = rng.choice(pool)
            blob = blob[:at] + other[rng.randint(0, len(other)):]
    return blob


def child(target: str, runs: int, folder: Path, seed: int, timeout_s: int, rss_limit_mb: int, max_len: int) -> int:
    """Fuzz one target in this process (atheris, else the random mutator); results in ``folder/status.json``."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    pool = seeds(target)
    for i, blob in enumerate(pool):
        (corpus / f"seed{i}").write_bytes(blob)
    try:
        import atheris
    except ImportError:
        atheris = None
    if atheris is None:
        state = _Child(target, folder, runs, "random")
    else:  # libFuzzer is guided by the coverage of the package's readers and checks (imported here, instrumented)
        with atheris.instrument_imports(include=["exemplar.data", "exemplar.experiments", "exemplar.site"]):
            state = _Child(target, folder, runs, "atheris")
            state.call(pool[0])  # imports what the target needs
    state.save()
    if atheris is None:
        rng = random.Random(seed)
        while state.status["inputs"] < runs:
            state.one(_mutate(rng, rng.choice(pool), pool)[:max_len])
        return 0
    atheris.Setup([sys.argv[0], f"-runs={runs}", f"-seed={seed}", f"-timeout={timeout_s}", f"-max_len={max_len}",
                   f"-rss_limit_mb={rss_limit_mb}", "-print_final_stats=1", str(corpus)], state.one)
    atheris.Fuzz()  # libFuzzer exits the process when done
    return 0


def _row(target: str, folder: Path, proc: subprocess.CompletedProcess, seconds: float) -> dict:
    status = json.loads((folder / "status.json").read_text())
    findings = dict(status["findings"])
    if proc.returncode != 0:  # libFuzzer stops on a hang (timeout) or on memory past its limit
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])[-300:]
        findings[f"the fuzzer stopped (exit {proc.returncode})"] = tail
    return {"target": target, "engine": status["engine"], "inputs": status["inputs"],
            "findings": len(findings), "failing_inputs": status["failing_inputs"],
            "peak_rss_mb": round(status["peak_rss_mb"], 1), "seconds": round(seconds, 1),
            "inputs_per_second": round(status["inputs"] / max(seconds, 1e-9), 1),
            "first_finding": next(iter(findings.values()), "")}


def run(runs: int, targets: list[str], seed: int, timeout_s: int, rss_limit_mb: int, max_len: int) -> pd.DataFrame:
    """Fuzz each target in a child process for ``runs`` inputs; one row per target."""
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown or not targets:
        raise common.BenchError(f"targets must be some of {list(TARGETS)}; got {targets}")
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise common.BenchError(f"runs must be a positive integer; got {runs!r}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="exemplar-fuzz-") as scratch:
        env = {**os.environ, "EXEMPLAR_RESULTS": str(Path(scratch) / "results")}  # the parameters read no results
        for target in targets:
            folder = Path(scratch) / target
            folder.mkdir()
            cmd = [sys.executable, "-m", "exemplar.bench.fuzz", "--child", target, "--runs", str(runs),
                   "--workdir", str(folder), "--seed", str(seed), "--timeout-s", str(timeout_s),
                   "--rss-limit-mb", str(rss_limit_mb), "--max-len", str(max_len)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder, errors="replace")
            rows.append(_row(target, folder, proc, time.perf_counter() - t0))
            print(f"[fuzz] {target}: {rows[-1]['inputs']:,} inputs, {rows[-1]['findings']} findings", flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    """``--child TARGET`` fuzzes one target here; otherwise the benchmark (``--runs N`` inputs per target)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--child" in argv:
        import argparse

        p = argparse.ArgumentParser()
        for flag, kind in (("--child", str), ("--runs", int), ("--workdir", Path), ("--seed", int),
                           ("--timeout-s", int), ("--rss-limit-mb", int), ("--max-len", int)):
            p.add_argument(flag, type=kind, required=True)
        a = p.parse_args(argv)
        return child(a.child, a.runs, a.workdir, a.seed, a.timeout_s, a.rss_limit_mb, a.max_len)
    runs = None
    if "--runs" in argv:  # the shared command line (--quick, --output-dir), plus --runs
        i = argv.index("--runs")
        runs, argv = argv[i + 1] if i + 1 < len(argv) else "", argv[:i] + argv[i + 2:]
        if not runs.isdigit() or int(runs) < 1:
            print(f"--runs must be a positive integer; got {runs!r}", file=sys.stderr)
            return 2

    def params_of(quick: bool) -> dict:
        return {**params(quick), **({"runs": int(runs)} if runs else {})}

    return common.main("fuzz", __doc__.split("\n\n")[0] + " --runs N: inputs per target.", run, params_of, argv)


if __name__ == "__main__":
    sys.exit(main())
