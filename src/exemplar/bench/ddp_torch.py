"""PyTorch DistributedDataParallel, set up to train exactly our network: the DDP side of :mod:`exemplar.bench.ddp`.

:func:`train_ddp` spawns ``n_procs`` processes (``torch.multiprocessing``, spawn) that each run
:func:`rank_main`: gloo on 127.0.0.1, one thread per process, scikit-learn's initial weights (drawn by
:class:`exemplar.models.numpy_mlp.NumpyMLP`), per-epoch shuffles of the rank's contiguous shard from
the same stream as ours, a step's loss ``(sum of the ranks' cross-entropies + alpha/2 * ||W||^2) /
(global batch rows)`` (each rank scales its own cross-entropy sum by the number of ranks, since DDP
averages the gradients), Adam (``torch.optim.Adam``, or scikit-learn's with ``adam="sklearn"``) and
scikit-learn's stopping rule on the global training loss. After every epoch rank 0 evaluates the
test set with the clock paused. See :mod:`exemplar.bench.ddp` for what is measured and why.
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
import time
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from exemplar.bench.common import BenchError
from exemplar.models.stopping import StoppingRule

#: What ``pip install`` needs for this benchmark.
TORCH_HINT = "PyTorch is not installed: pip install -e '.[bench]' (torch==2.13.0, CPU build)"


def require_torch():
    """The ``torch`` module, or :class:`~exemplar.bench.common.BenchError` saying how to install it."""
    try:
        import torch
    except ImportError:
        raise BenchError(TORCH_HINT) from None
    return torch


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def crc(arrays) -> int:
    """CRC-32 of the arrays' bytes, in order (to compare replicas' weights)."""
    value = 0
    for a in arrays:
        value = zlib.crc32(np.ascontiguousarray(a).tobytes(), value)
    return value


def global_batch_rows(sizes: list[int], batch: int) -> list[int]:
    """Rows of every step's global batch: step ``s`` takes rows ``s*batch ..`` of every shard.

    Examples
    --------
    >>> global_batch_rows([401, 400], 200)   # the last step: 1 row on rank 0, none on rank 1
    [400, 400, 1]
    """
    steps = -(-max(sizes) // batch)
    return [sum(min(batch, max(0, n - s * batch)) for n in sizes) for s in range(steps)]


# --------------------------------------------------------------------------------------------
# One rank (runs in a spawned process)
# --------------------------------------------------------------------------------------------


def _pin_threads(torch, flush_denormal: bool) -> bool:
    """One thread per process; denormals flushed if asked. Whether flushing is on."""
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set (cannot happen in a fresh process)
        pass
    return torch.set_flush_denormal(flush_denormal) and flush_denormal


def _build_model(torch, n_features: int, n_classes: int, cfg: dict):
    """Our network in ``cfg["dtype"]`` with scikit-learn's initial weights; and the rank's shuffle stream."""
    from torch import nn

    from exemplar.models.sklearn_mlp import initial_weights

    hidden, seed = cfg["hidden"], cfg["seed"]
    stream = np.random.RandomState(seed)
    coefs, intercepts = initial_weights(stream, [n_features, hidden, n_classes])  # scikit-learn's, then its shuffles
    model = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    model = model.to(getattr(torch, cfg["dtype"]))
    with torch.no_grad():
        for layer, W, b in ((model[0], coefs[0], intercepts[0]), (model[2], coefs[1], intercepts[1])):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            layer.bias.copy_(torch.from_numpy(b))
    return model, stream


def _tensors(torch, X, y, X_test, y_test, classes, bounds, rank: int, cfg: dict) -> SimpleNamespace:
    """The rank's shard (and, on rank 0, the test set) as tensors, pixels scaled if asked."""
    dtype = getattr(torch, cfg["dtype"])
    a, b = bounds[rank]
    Xl = torch.from_numpy(X[a:b]).to(dtype)
    if cfg["scale_inputs"]:
        Xl /= 255.0
    yl = torch.from_numpy(np.searchsorted(classes, y[a:b]).astype(np.int64))
    Xt = yt = None
    if rank == 0:
        Xt = torch.from_numpy(X_test).to(dtype)
        if cfg["scale_inputs"]:
            Xt /= 255.0
        yt = torch.from_numpy(np.searchsorted(classes, y_test).astype(np.int64))
    return SimpleNamespace(X=Xl, y=yl, X_test=Xt, y_test=yt)


def _optimizer_step(torch, params, cfg: dict):
    """``step(loss)``: the backward pass and one Adam update, torch's or scikit-learn's (``cfg["adam"]``)."""
    lr, (b1, b2), eps = cfg["lr"], cfg["betas"], cfg["eps"]
    if cfg["adam"] == "torch":
        opt = torch.optim.Adam(params, lr=lr, betas=(b1, b2), eps=eps)

        def step(loss):
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step
    # scikit-learn's AdamOptimizer: eps added to sqrt(v) before the bias correction
    ms = [torch.zeros_like(p) for p in params]
    vs = [torch.zeros_like(p) for p in params]
    t_adam = [0]

    def sklearn_step(loss):
        for p in params:
            p.grad = None
        loss.backward()
        t_adam[0] += 1
        lr_t = lr * math.sqrt(1 - b2 ** t_adam[0]) / (1 - b1 ** t_adam[0])
        with torch.no_grad():
            for p, m, v in zip(params, ms, vs):
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                p.addcdiv_(m, v.sqrt().add_(eps), value=-lr_t)

    return sklearn_step


def _epoch_loss_sum(torch, ddp, data, order, batches, rows, coefs, step, rank: int, world: int, alpha: float):
    """One epoch of steps; the rank's share of the epoch's summed loss (float64 tensor)."""
    import torch.nn.functional as F

    total = torch.zeros((), dtype=torch.float64)
    for s in range(len(rows)):
        if s < len(batches):
            idx = torch.from_numpy(order[batches[s]])
            xb, yb = data.X[idx], data.y[idx]
        else:  # this shard is out of rows: an empty batch keeps the collectives in step
            xb, yb = data.X[:0], data.y[:0]
        out = ddp(xb)
        ce = F.cross_entropy(out, yb, reduction="sum")
        l2 = sum((W * W).sum() for W in coefs)
        loss = (ce * world + 0.5 * alpha * l2) / rows[s]
        step(loss)
        total += ce.detach().double()
        if rank == 0:
            total += 0.5 * alpha * l2.detach().double()
    return total


def _train(torch, ddp, model, data, sizes, rng, rank: int, world: int, cfg: dict, t_ready: float) -> dict:
    """The epochs, scikit-learn's stopping rule, and rank 0's evaluation after each with the clock paused."""
    import torch.distributed as dist
    from sklearn.utils import gen_batches
    from sklearn.utils import shuffle as sk_shuffle

    batch = int(np.clip(cfg["batch_size"], 1, max(sizes)))
    rows = global_batch_rows(sizes, batch)
    batches = list(gen_batches(sizes[rank], batch))
    n_total = sum(sizes)
    step = _optimizer_step(torch, list(model.parameters()), cfg)
    coefs = (model[0].weight, model[2].weight)
    order = np.arange(sizes[rank])
    r = SimpleNamespace(train_clock=0.0, paused=0.0, acc_curve=[], loss_curve=[], ttt=None, ttt_wall=None,
                        target_epoch=None)
    rule = StoppingRule(cfg["tol"], cfg["n_iter_no_change"])
    epoch_start = time.monotonic()
    for epoch in range(cfg["epochs"]):
        order = sk_shuffle(order, random_state=rng)
        total = _epoch_loss_sum(torch, ddp, data, order, batches, rows, coefs, step, rank, world, cfg["alpha"])
        dist.all_reduce(total)
        epoch_loss = float(total) / n_total
        now = time.monotonic()
        r.train_clock += now - epoch_start
        r.loss_curve.append(epoch_loss)
        stop = rule.update(epoch_loss)
        # --- clock paused: rank 0 evaluates, everyone waits
        if rank == 0:
            with torch.no_grad():
                acc = float((model(data.X_test).argmax(dim=1) == data.y_test).double().mean()) * 100.0
            r.acc_curve.append(acc)
            if r.target_epoch is None and acc >= cfg["target_pct"] - 1e-9:
                r.target_epoch, r.ttt = epoch + 1, r.train_clock
                r.ttt_wall = now - t_ready - r.paused
        dist.barrier()
        epoch_start = time.monotonic()
        r.paused += epoch_start - now
        if stop:
            break
    return vars(r)


def rank_main(rank: int, world: int, port: int, cfg: dict, out_dir: str, t_spawn: float) -> None:
    """One DDP rank: set up, train its shard, evaluate on rank 0 after every epoch (clock paused).

    The data come from ``out_dir/data.npz`` (not through the spawn's pipe: a child that dies while
    starting would leave the parent blocked writing a large pickle into it); the rank's report goes
    to ``out_dir/rankN.json`` (and, with ``cfg["return_weights"]``, rank 0's weights to ``weights.npz``).
    """
    t_enter = time.monotonic()
    with np.load(Path(out_dir) / "data.npz") as npz:
        X, y, X_test, y_test = npz["X"], npz["y"], npz["X_test"], npz["y_test"]
    from datetime import timedelta

    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from exemplar.parallel.shards import shard_bounds

    flushing = _pin_threads(torch, cfg["flush_denormal"])
    t_import = time.monotonic()
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=cfg["timeout"]))
    classes = np.unique(y)
    bounds = shard_bounds(len(y), world)
    sizes = [b - a for a, b in bounds]
    model, rng = _build_model(torch, X.shape[1], len(classes), cfg)
    ddp = DDP(model)
    init_crc = crc(p.detach().numpy() for p in model.parameters())
    crcs = [None] * world
    dist.all_gather_object(crcs, init_crc)
    dist.barrier()
    t_ready = time.monotonic()
    data = _tensors(torch, X, y, X_test, y_test, classes, bounds, rank, cfg)
    r = _train(torch, ddp, model, data, sizes, rng, rank, world, cfg, t_ready)
    t_done = time.monotonic()
    final = [p.detach().numpy().copy() for p in model.parameters()]
    crcs_end = [None] * world
    dist.all_gather_object(crcs_end, crc(final))
    out = {
        "rank": rank, "world": world, "n_iter": len(r["loss_curve"]), "fit_seconds": r["train_clock"],
        "start_seconds": t_enter - t_spawn, "import_seconds": t_import - t_enter,
        "setup_seconds": t_ready - t_spawn, "ready_to_done_seconds": t_done - t_ready,
        "paused_seconds": r["paused"], "loss_curve": r["loss_curve"], "init_crc": int(init_crc),
        "init_identical": len(set(crcs)) == 1, "final_identical": len(set(crcs_end)) == 1,
        "threads": torch.get_num_threads(), "torch_version": torch.__version__, "flush_denormal": bool(flushing),
    }
    if rank == 0:
        out.update(accuracy_curve=r["acc_curve"], accuracy_pct=r["acc_curve"][-1], target_epoch=r["target_epoch"],
                   time_to_target_seconds=r["ttt"], time_to_target_wall_seconds=r["ttt_wall"])
        if cfg.get("return_weights"):
            # scikit-learn's layout: coefficients (in, out), then intercepts
            w = [final[0].T, final[2].T, final[1], final[3]]
            np.savez(Path(out_dir) / "weights.npz", *w)
    dist.destroy_process_group()
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(out))


# --------------------------------------------------------------------------------------------
# The parent
# --------------------------------------------------------------------------------------------


def _spawn_and_join(tmp, out_dir: str, n_procs: int, cfg: dict, timeout: float) -> float:
    """Start the ranks with one thread each and on the loopback interface; wait for them. The spawn time."""
    from exemplar.parallel.cluster import THREAD_ENV_VARS

    env = {v: "1" for v in THREAD_ENV_VARS}
    env["GLOO_SOCKET_IFNAME"] = "lo"  # keep gloo on the loopback interface, as our MPI
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the children inherit it at spawn
    try:
        t_spawn = time.monotonic()
        ctx = tmp.start_processes(rank_main, args=(n_procs, free_port(), cfg, out_dir, t_spawn),
                                  nprocs=n_procs, join=False, start_method="spawn")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    deadline = t_spawn + timeout
    try:
        while not ctx.join(timeout=0.5):
            if time.monotonic() > deadline:
                raise BenchError(f"DDP with {n_procs} processes did not finish within {timeout:g} s")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.terminate()
    return t_spawn


def train_ddp(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, n_procs: int, hidden: int,
              epochs: int, seed: int, target_pct: float, batch_size: int = 200, dtype: str = "float32",
              adam: str = "torch", scale_inputs: bool = True, alpha: float = 1e-4, lr: float = 1e-3,
              betas=(0.9, 0.999), eps: float = 1e-8, tol: float = 1e-4, n_iter_no_change: int = 10,
              flush_denormal: bool = True, timeout: float = 1800.0, return_weights: bool = False) -> dict:
    """Train with DDP on ``n_procs`` spawned processes (gloo); what rank 0 measured, plus the parent's times.

    ``X`` and ``X_test`` are raw pixels (uint8). Returns rank 0's report (``accuracy_curve``,
    ``accuracy_pct``, ``time_to_target_seconds``, ``target_epoch``, ``fit_seconds`` as the slowest
    rank's, ``setup_seconds``, ``wall_seconds``, ``init_identical``, ...) and, with
    ``return_weights``, the final ``weights`` in :func:`exemplar.models.sklearn_mlp.get_weights` order.
    """
    torch = require_torch()
    import torch.multiprocessing as tmp

    if dtype not in ("float32", "float64"):
        raise BenchError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    if adam not in ("torch", "sklearn"):
        raise BenchError(f"adam must be 'torch' or 'sklearn'; got {adam!r}")
    cfg = dict(hidden=int(hidden), epochs=int(epochs), seed=int(seed), target_pct=float(target_pct),
               batch_size=int(batch_size), dtype=dtype, adam=adam, scale_inputs=bool(scale_inputs),
               alpha=float(alpha), lr=float(lr), betas=tuple(float(b) for b in betas), eps=float(eps),
               tol=float(tol), n_iter_no_change=int(n_iter_no_change), flush_denormal=bool(flush_denormal),
               timeout=float(timeout), return_weights=bool(return_weights))
    X = np.ascontiguousarray(X, dtype=np.uint8)
    X_test = np.ascontiguousarray(X_test, dtype=np.uint8)
    with tempfile.TemporaryDirectory(prefix="ddp-") as out_dir:
        np.savez(Path(out_dir) / "data.npz", X=X, y=np.asarray(y), X_test=X_test, y_test=np.asarray(y_test))
        t_spawn = _spawn_and_join(tmp, out_dir, n_procs, cfg, timeout)
        t_join = time.monotonic()
        reports = [json.loads((Path(out_dir) / f"rank{r}.json").read_text()) for r in range(n_procs)]
        weights = None
        if return_weights:
            with np.load(Path(out_dir) / "weights.npz") as npz:
                weights = [npz[f"arr_{i}"] for i in range(4)]
    out = dict(reports[0])
    out["fit_seconds"] = max(r["fit_seconds"] for r in reports)
    out["setup_seconds"] = max(r["setup_seconds"] for r in reports)
    out["wall_seconds"] = reports[0]["ready_to_done_seconds"] - reports[0]["paused_seconds"]
    out["spawn_to_join_seconds"] = t_join - t_spawn
    out["n_iter_ranks"] = [r["n_iter"] for r in reports]
    out["init_crcs"] = [r["init_crc"] for r in reports]
    out["torch_version"] = torch.__version__
    if weights is not None:
        out["weights"] = weights
    return out
