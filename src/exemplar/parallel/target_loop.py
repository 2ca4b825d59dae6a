"""Training to a target accuracy: the variants a DDP or Horovod user would try, and the engines' loop.

Time to accuracy (DAWNBench, MLPerf) asks how long a way of training takes to reach a given
accuracy, not what it reaches after a fixed number of epochs. Every rank runs :func:`train_until`
together: epochs of the fast trainer (:mod:`exemplar.models.numpy_mlp`) on its own rows, the
variant's communication, and at every *checkpoint* (the end of an epoch, or of an average for the
variants that average, once ``checkpoint_steps`` optimizer steps passed since the last: every
variant is tested about as often per update as the sequential run) the model is tested on a
validation set **off the clock**; the run stops
when the validation accuracy reaches ``target``, or when the optimizer steps reach ``budget_steps``
(or ``max_epochs``).

The variants (:data:`VARIANTS`)
-------------------------------
``one-shot`` (the paper's)
    Every engine trains apart; at each checkpoint the shard-size-weighted mean of the engines'
    weights is formed off the clock and tested (the average the paper would take if it stopped
    there). Training exchanges nothing; the one average of the end is gathered by the master.
``periodic, every k epochs`` (local SGD)
    Apart, 200 rows a step, the weights averaged by one ``Allreduce`` every ``k`` epochs (each
    engine keeps its own Adam moments); a checkpoint after each average.
``gradient-allreduce``
    Synchronous data parallelism with 200 rows per engine: the global batch grows to 200 × n at
    the sequential learning rate.
``gradient-allreduce, global batch``
    The global batch held at 200 rows, split over the engines (33 or 34 at 6 engines): the
    sequential algorithm, step for step (PyTorch DDP with the per-device batch = batch / n).
``gradient-allreduce, lr × n`` and ``gradient-allreduce, Adam √n rule``
    200 rows per engine with Adam rescaled for the batch ``κ = n`` times larger: the learning rate
    × n (linear, Goyal et al. 2017; Horovod's advice), or Malladi et al.'s square-root rule for Adam
    (NeurIPS 2022): learning rate × √κ, ``1 − β₁`` and ``1 − β₂`` × κ, ``ε / √κ``.
``post-local SGD`` (Lin et al., ICLR 2020)
    The held global batch with an ``Allreduce`` every step for the first ``switch_epochs`` epochs,
    then local steps on the same rows per engine, the weights averaged after every epoch.

Clocks
------
Each rank keeps its own on-clock time (:class:`Clock`): the wall time of its epochs and of the
variant's exchanges, and its compute CPU time (``time.thread_time`` outside the collectives). The
checkpoints' tests, the off-clock averages and the decision to stop are outside it. After training,
rank 0 times ``STEP_PROBE`` steps of its own trainer while every other rank sleeps (:func:`step_probe`),
so the compute of a step is measured on a core of its own, and :meth:`Collectives.probe
<exemplar.parallel.collectives.Collectives.probe>` measures the exchange's ``Allreduce`` between two
engines with a core each; :mod:`exemplar.parallel.dedicated` turns them into the estimate.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from exemplar.models.numpy_mlp import NumpyEpochs, NumpyMLP
from exemplar.models.optim import ADAM_DEFAULTS
from exemplar.parallel.collectives import Collectives
from exemplar.parallel.rounds import average_weights

#: The rows of a step in all, for the variants that hold the global batch (scikit-learn's ``"auto"``).
GLOBAL_ROWS = 200
#: Steps the compute probe times (after ``STEP_WARMUP`` untimed ones); their median is the step's cost.
STEP_PROBE, STEP_WARMUP = 15, 3
#: The type the checkpoints' validation test computes in.
EVAL_DTYPE = np.float32
#: How the variants change Adam for a batch ``κ`` times larger.
LR_RULES = ("linear", "sqrt")


@dataclass(frozen=True)
class Variant:
    """One way of training in parallel (see the module's documentation).

    Attributes
    ----------
    name : str
        Its label in tables and figures.
    strategy : {"one-shot", "periodic", "gradient-allreduce", "post-local"}
        When the engines meet.
    sync_every : int or None
        Epochs between averages (periodic; post-local after the switch).
    batch : {"engine", "global"}
        200 rows per engine a step, or 200 rows in all, split over the engines.
    lr_rule : {None, "linear", "sqrt"}
        How Adam is rescaled for the larger global batch (:func:`scaled_params`).
    switch_epochs : int or None
        Post-local: epochs of gradient all-reduce before the local steps.
    global_rows : int
        The rows of a step in all where ``batch="global"`` (:data:`GLOBAL_ROWS`).
    """

    name: str
    strategy: str
    sync_every: int | None = None
    batch: str = "engine"
    lr_rule: str | None = None
    switch_epochs: int | None = None
    global_rows: int = GLOBAL_ROWS

    @property
    def apart(self) -> bool:
        """Whether the engines train apart (one-shot): a checkpoint's model is an off-clock average."""
        return self.strategy == "one-shot"

    def as_dict(self) -> dict:
        return asdict(self)


def variant_catalogue(sync_every=(1, 5), switch_epochs: int = 5) -> dict[str, Variant]:
    """Every variant by name, periodic once per ``sync_every``, post-local switching after ``switch_epochs``."""
    out = {"one-shot": Variant("one-shot", "one-shot")}
    for k in sync_every:
        name = f"periodic, every {int(k)} epoch{'s' if int(k) != 1 else ''}"
        out[name] = Variant(name, "periodic", sync_every=int(k))
    for name, batch, rule in (("gradient-allreduce", "engine", None),
                              ("gradient-allreduce, global batch", "global", None),
                              ("gradient-allreduce, lr × n", "engine", "linear"),
                              ("gradient-allreduce, Adam √n rule", "engine", "sqrt")):
        out[name] = Variant(name, "gradient-allreduce", batch=batch, lr_rule=rule)
    out["post-local SGD"] = Variant("post-local SGD", "post-local", sync_every=1, batch="global",
                                    switch_epochs=int(switch_epochs))
    return out


#: The variants with their default settings.
VARIANTS = variant_catalogue()


def scaled_params(variant: Variant, mlp_params: dict, kappa: int) -> dict:
    """``mlp_params`` with Adam rescaled by the variant's rule for a batch ``kappa`` times larger.

    ``"linear"``: learning rate × κ. ``"sqrt"`` (Malladi et al. 2022): learning rate × √κ,
    ``1 − β₁`` and ``1 − β₂`` × κ (β at least 0), ``ε / √κ``. Without a rule (or κ = 1) unchanged.
    """
    given = dict(mlp_params or {})
    p = {**ADAM_DEFAULTS, **given}
    k = float(kappa)
    if variant.lr_rule is None:
        return given
    if variant.lr_rule == "linear":
        p["learning_rate_init"] = p["learning_rate_init"] * k
    elif variant.lr_rule == "sqrt":
        p["learning_rate_init"] = p["learning_rate_init"] * math.sqrt(k)
        p["beta_1"] = max(0.0, 1 - (1 - p["beta_1"]) * k)
        p["beta_2"] = max(0.0, 1 - (1 - p["beta_2"]) * k)
        p["epsilon"] = p["epsilon"] / math.sqrt(k)
    else:
        raise ValueError(f"lr_rule must be one of {LR_RULES} or None; got {variant.lr_rule!r}")
    return {**given, **p}


class Clock:
    """One rank's on-clock wall time and compute CPU time; ``enter``/``leave`` bracket each collective.

    The collectives' wall time stays on the clock (it is part of training); their CPU time (MPICH
    spins while it waits) is taken out of the compute.
    """

    def __init__(self):
        self.wall = self.cpu = self.comm = 0.0
        self._wall = self._cpu = self._inside = 0.0

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.thread_time()

    def stop(self) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.thread_time() - self._cpu

    def enter(self) -> None:
        self._inside = time.thread_time()

    def leave(self, seconds: float) -> None:
        self.cpu -= time.thread_time() - self._inside
        self.comm += float(seconds)


class Checkpoints:
    """The validation test of every checkpoint: off the clock, collective, decided on rank 0.

    For one-shot the checkpoint's model is the shard-size-weighted mean of the ranks' weights (one
    uncounted ``Allreduce``); otherwise every rank holds the same model. Rank 0 holds the validation
    rows (uint8 pixels, scaled like the training rows) and broadcasts its decision. The test runs in
    float32 (:data:`EVAL_DTYPE`, half the time of float64; a label can change only where two classes'
    probabilities tie to float32's precision).
    """

    def __init__(self, fit: NumpyEpochs, variant: Variant, share: float, X_val, y_val, scale):
        self.fit, self.variant, self.share = fit, variant, share
        self.coll = Collectives()  # its own counters: none of this is training's communication
        self.net = NumpyMLP(fit.net.layer_units, 0, alpha=fit.net.alpha, dtype=EVAL_DTYPE)
        self.X = self.y = None
        if self.coll.rank == 0:
            X = np.asarray(X_val).astype(EVAL_DTYPE)
            self.X = X / np.float32(scale) if scale is not None else X
            self.y = np.asarray(y_val)
        self.points: list[dict] = []

    def accuracy(self) -> float:
        """The checkpoint model's validation accuracy in percent (on every rank)."""
        if self.variant.apart:
            buf = self.coll.average(self.fit.weights(), self.share)
            self.net.params[...] = buf[: self.net.n_params]
        else:
            self.net.params[...] = self.fit.net.params
        acc = None
        if self.coll.rank == 0:
            pred = self.fit.classes[np.argmax(self.net.predict_proba(self.X), axis=1)]
            acc = float(np.mean(pred == self.y) * 100)
        return float(self.coll.comm.bcast(acc, root=0))

    def record(self, epoch: int, steps: int, exchanges: int, clock: Clock, accuracy: float) -> None:
        self.points.append({"epoch": epoch, "steps": steps, "exchanges": exchanges, "wall": clock.wall,
                            "cpu": clock.cpu, "comm": clock.comm, "validation_pct": accuracy})


def _averages_after(variant: Variant, epoch: int) -> bool:
    """Whether the variant averages the weights at the end of ``epoch`` (1 for the first)."""
    if variant.strategy == "periodic":
        return epoch % variant.sync_every == 0
    if variant.strategy == "post-local":
        return epoch > variant.switch_epochs and (epoch - variant.switch_epochs) % variant.sync_every == 0
    return False


def train_until(X, y, variant: Variant, hidden, seed: int, classes, mlp_params: dict, dtype, scale, *,
                target: float | None, budget_steps: int, max_epochs: int, stopping: bool, X_val, y_val,
                patience_steps: int | None = None, checkpoint_steps: int = 1) -> tuple:
    """This rank's part of one run to the target (every rank calls it together).

    Returns ``(report, weights)``: what the rank reports (its checkpoints, clocks, counters and,
    on rank 0, the probes) and its final weights (identical on every rank except for one-shot).
    ``stopping`` also stops at scikit-learn's rule on the training loss (the reference runs);
    ``patience_steps`` gives up once that many steps have passed without a new best validation accuracy.
    A checkpoint is taken where the model is one (every epoch; after each average for the variants that
    average) once at least ``checkpoint_steps`` steps passed since the last, and at the end.
    ``report["stopped_by"]`` says which of ``"target"``, ``"budget"`` (steps or epochs), ``"patience"``
    and ``"rule"`` ended the run.
    """
    coll = Collectives()
    together = variant.strategy in ("gradient-allreduce", "post-local")
    params = scaled_params(variant, mlp_params, coll.size)
    fit = NumpyEpochs(X, y, hidden, seed, classes=classes, collectives=coll if together else None, dtype=dtype,
                      scale=scale, global_batch=variant.global_rows if variant.batch == "global" else None, **params)
    clock = Clock()
    fit.timer = clock
    share = X.shape[0] / coll.allreduce_value(X.shape[0], "sum")
    checks = Checkpoints(fit, variant, share, X_val, y_val, scale)
    before = coll.counters()
    epoch = steps = best_steps = checked = 0
    best, stopped_by = -1.0, None
    while True:
        clock.start()
        loss = fit.epoch()
        epoch += 1
        steps += fit.plan["steps_per_epoch"]
        if variant.strategy == "post-local" and epoch == variant.switch_epochs:
            fit.collectives = None  # from now on every step is local
        averaged = _averages_after(variant, epoch)
        fired = stopping and fit.stopping.update(loss)
        last = fired or epoch >= max_epochs or steps >= budget_steps
        if averaged or (last and variant.strategy in ("periodic", "post-local") and fit.collectives is None):
            average_weights(fit, coll, share, timer=clock)
            averaged = True
        clock.stop()
        consistent = (averaged or variant.strategy in ("one-shot", "gradient-allreduce")
                      or (variant.strategy == "post-local" and epoch <= variant.switch_epochs))
        if not (last or (consistent and steps - checked >= checkpoint_steps)):
            continue
        checked = steps
        acc = checks.accuracy()
        checks.record(epoch, steps, coll.counters()[0] - before[0], clock, acc)
        if acc > best:
            best, best_steps = acc, steps
        if target is not None and acc >= target:
            stopped_by = "target"
        elif last:
            stopped_by = "rule" if fired else "budget"
        elif patience_steps is not None and steps - best_steps >= patience_steps:
            stopped_by = "patience"
        if stopped_by:
            break
    weights = fit.weights()
    rounds, nbytes, comm_seconds = (a - b for a, b in zip(coll.counters(), before))
    report = {"rank": coll.rank, "points": checks.points, "n_iter": epoch, "steps": steps, "stopped_by": stopped_by,
              "fit_seconds": clock.wall, "fit_cpu_seconds": clock.cpu, "comm_rounds": rounds, "comm_bytes": nbytes,
              "comm_seconds": comm_seconds, "local_batch": fit.plan["batch"], "global_batch": fit.plan["global"],
              "steps_per_epoch": fit.plan["steps_per_epoch"], "learning_rate": fit.net.adam.learning_rate_init}
    report["step_probe_seconds"] = step_probe(fit, coll)
    message = fit.net.n_params + (2 if variant.strategy == "gradient-allreduce" else 0)
    report["allreduce_probe_seconds"] = coll.probe(message, str(fit.net.dtype))
    return report, weights


def step_probe(fit: NumpyEpochs, coll: Collectives) -> float:
    """The time of one training step of rank 0's trainer with a core of its own (``nan`` elsewhere).

    Collective: rank 0 times :data:`STEP_PROBE` steps (its batch's rows gathered, forward, backward,
    Adam; after :data:`STEP_WARMUP` untimed ones) on its own rows while every other rank waits in a
    non-blocking barrier polled with short sleeps, so no engine of the run shares its core or its
    caches. Each step is timed in this thread's CPU time (BLAS is pinned to it), so other work on
    the machine delays the probe without lengthening it; the median is returned. It changes rank 0's
    weights: call it after training.
    """
    times = []
    if coll.rank == 0:
        net, buf = fit.net, fit.buf
        idx = fit.order[: fit.plan["batch"]]
        for i in range(STEP_WARMUP + STEP_PROBE):
            t0 = time.thread_time()
            xb, yb = fit.batches.take(idx)
            loss_sum, _ = net.loss_grad_sum(xb, yb, out=buf)
            net.apply(buf, loss_sum, xb.shape[0])
            if i >= STEP_WARMUP:
                times.append(time.thread_time() - t0)
    done = coll.comm.Ibarrier()
    while not done.Test():
        time.sleep(0.0005)
    return float(np.median(times)) if times else float("nan")
