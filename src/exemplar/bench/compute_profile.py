"""Where a fit's time goes: a py-spy sampling profile of one sequential fit, per trainer, by category.

One fit of each trainer (``sklearn``: ``MLPClassifier.fit``; ``numpy``: the fast trainer,
:func:`exemplar.models.numpy_mlp.train`, fed the raw ``uint8`` pixels) runs in a child process
under ``py-spy record -f raw`` with BLAS on one thread; only the samples inside the timed fit
count. Each sampled stack (``func (file:line)`` frames, innermost last) goes to one category
(:func:`classify_stack`), the same categories for both trainers so that they can be set side by side:

* scikit-learn's stacks by the innermost frame that names a known function (:data:`PROFILE_RULES`);
* the fast trainer's by its innermost frame in ``exemplar/models/numpy_mlp.py``: its function
  and the text of its sampled line (:data:`FAST_RULES`: a ``matmul`` line is GEMM, ``apply`` is
  Adam's update (:mod:`exemplar.models.optim`, called from ``apply``), ``Batches.take`` the batch
  gather, ...). Its numpy calls are C code that has no
  Python frame of its own, so the line is what says which operation was running. The line numbers
  are mapped to categories from the module's source as it is at classification time
  (:func:`fast_line_categories`, by :mod:`inspect`), the same file the profiled child ran.
"""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from exemplar.bench import common

GEMM = "GEMM (BLAS matmul)"
ADAM = "Adam update"
GATHER = "batch gather (X[idx] copy)"
ACTIVATIONS = "activations, softmax, derivatives"
LOSS = "loss (log-loss, L2 penalty)"
SCALING = "gradient scaling and L2 term"
SHUFFLE = "shuffle"
OTHER = "other Python in fit (loops, checks, allocation)"

#: scikit-learn's frames: the first rule whose text is in the sampled frame wins.
PROFILE_RULES = [
    (GEMM, ("safe_sparse_dot",)),
    (ADAM, ("_stochastic_optimizers",)),
    (GATHER, ("_safe_indexing", "_array_indexing", "_indexing.py")),
    (ACTIVATIONS, ("inplace_relu", "inplace_softmax", "_base.py")),
    (LOSS, ("log_loss", "xlogy", "squared_norm")),
    (SCALING, ("_compute_loss_grad",)),
    ("other backprop bookkeeping", ("_backprop", "_forward_pass")),
    (SHUFFLE, ("shuffle",)),
]

#: The fast trainer's functions (qualified names in ``numpy_mlp``): the category of any line, and
#: (text in the line's code, category) pairs that override it, the first match winning.
FAST_RULES = {
    "NumpyMLP._forward": (ACTIVATIONS, [("matmul", GEMM)]),
    "NumpyMLP.loss_grad_sum": (ACTIVATIONS, [("matmul", GEMM), ("np.log", LOSS), ("np.sum(", SCALING)]),
    "NumpyMLP.l2_sum": (LOSS, []),
    "NumpyMLP.apply": (ADAM, [("l2_sum", LOSS), ("alpha", SCALING), ("n_rows", SCALING), ("grad[:nc]", SCALING)]),
    "Batches.take": (GATHER, []),
    "NumpyEpochs.epoch": (OTHER, [("perm", SHUFFLE)]),
}

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*):(?P<line>\d+)\)$")


def fast_line_categories(module=None) -> dict[int, tuple[str, str]]:
    """``{line number: (function, category)}`` for every line of the functions of :data:`FAST_RULES`.

    Read from ``module``'s source (default :mod:`exemplar.models.numpy_mlp`); comments are ignored.

    Raises
    ------
    ValueError
        A function of :data:`FAST_RULES` that the module no longer has (the rules need updating).
    """
    if module is None:
        from exemplar.models import numpy_mlp as module
    out = {}
    for qualname, (default, overrides) in FAST_RULES.items():
        obj = module
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if obj is None:
            raise ValueError(f"the profile's rules name {qualname}, which {module.__name__} does not define")
        lines, start = inspect.getsourcelines(obj)
        for offset, text in enumerate(lines):
            code = text.split("#", 1)[0]
            category = next((c for needle, c in overrides if needle in code), default)
            out[start + offset] = (qualname, category)
    return out


def classify_stack(frames: list[str], fast_lines: dict[int, tuple[str, str]] | None = None) -> str:
    """The category of one sampled stack (``func (file:line)`` frames, innermost last).

    A stack through the fast trainer (a frame in ``numpy_mlp.py``) is classified by its innermost
    such frame, by ``fast_lines`` (default :func:`fast_line_categories`): a frame whose function
    and line are there gets that line's category, one in another function of the rules that
    function's own category, any other (``train``, set-up) :data:`OTHER`. Any other stack goes by
    :data:`PROFILE_RULES`, innermost frame first.
    """
    for frame in reversed(frames):
        m = _FRAME.match(frame.strip())
        if m and m["file"].endswith("numpy_mlp.py"):
            lines = fast_line_categories() if fast_lines is None else fast_lines
            func, category = lines.get(int(m["line"]), (None, None))
            if func == m["func"]:
                return category
            return FAST_RULES[m["func"]][0] if m["func"] in FAST_RULES else OTHER
    for frame in reversed(frames):
        for name, needles in PROFILE_RULES:
            if any(n in frame for n in needles):
                return name
    return OTHER


#: The profiled child: ``timed_fit`` is the marker of the samples that count (BLAS pinned outside it).
PROFILE_SCRIPT = """
import sys
from threadpoolctl import threadpool_limits
from exemplar import data
from exemplar.models import numpy_mlp, sklearn_mlp as mlp
n_train, hidden, epochs, dtype, trainer = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
X, y = data.load_mnist("train", n_rows=n_train)
Xf = X.astype(dtype)
def timed_fit():
    if trainer == "numpy":
        numpy_mlp.train(X, y, hidden, epochs, 0, dtype=dtype)
    else:
        mlp.fit_timed(mlp.build_mlp(hidden, epochs, 0), Xf, y)
with threadpool_limits(limits=1):
    timed_fit()
"""


def count_samples(raw_text: str, fast_lines: dict[int, tuple[str, str]] | None = None) -> Counter:
    """Samples per category in py-spy's raw output (``frame;frame;... count`` lines), inside ``timed_fit`` only."""
    fast_lines = fast_line_categories() if fast_lines is None else fast_lines
    counts: Counter = Counter()
    for line in raw_text.splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not any(f.startswith("timed_fit ") for f in frames):
            continue  # imports, data loading, BLAS set-up
        counts[classify_stack(frames, fast_lines)] += int(n)
    return counts


def profile_rows(n_train, hidden, epochs, dtype="float64", trainer="sklearn", rate=250) -> list[dict]:
    """py-spy samples of one sequential fit on raw pixels by ``trainer``, grouped by :func:`classify_stack`.

    Returns one row per category: ``trainer, dtype, category, samples, share_pct``; without py-spy,
    one row that says how to install it.

    Raises
    ------
    BenchError
        py-spy failed (most often: not allowed to trace the child).
    """
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return [{"trainer": trainer, "dtype": dtype, "category": "py-spy not installed: pip install -e '.[bench]'",
                 "samples": 0, "share_pct": np.nan}]
    with tempfile.TemporaryDirectory() as tmp:
        script, raw = Path(tmp) / "fit.py", Path(tmp) / "profile.txt"
        script.write_text(PROFILE_SCRIPT)
        cmd = [spy, "record", "-r", str(rate), "-f", "raw", "-o", str(raw), "--", sys.executable, str(script),
               str(n_train), str(hidden), str(epochs), dtype, trainer]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not raw.exists():
            raise common.BenchError(f"py-spy failed (exit {proc.returncode}): {proc.stderr[-500:]} "
                                    "(py-spy needs permission to trace: run as root or set kernel.yama.ptrace_scope=0)")
        counts = count_samples(raw.read_text())
    total = sum(counts.values())
    if not total:
        raise common.BenchError(f"py-spy recorded no samples inside the {trainer} fit: {proc.stderr[-500:]}")
    return [{"trainer": trainer, "dtype": dtype, "category": k, "samples": v, "share_pct": 100.0 * v / total}
            for k, v in counts.most_common()]
