"""The performance benchmarks (``make bench``, ``exemplar bench``): speed and memory as ratios measured in one run.

* :mod:`~exemplar.bench.compute`: one fit against the single-core GEMM peak; where the rest goes.
* :mod:`~exemplar.bench.dtype`: what float32 costs in test accuracy against float64, over seeds, and its speed.
* :mod:`~exemplar.bench.distribution`: giving the engines their shards, four ways, against a memcpy
  (what runs on the engines: :mod:`~exemplar.bench.distribution_engines`).
* :mod:`~exemplar.bench.ddp`: our best strategy against PyTorch DistributedDataParallel
  (:mod:`~exemplar.bench.ddp_torch`, :mod:`~exemplar.bench.ddp_ours`).
* :mod:`~exemplar.bench.report`: how the report's cost grows with the training set; the sweep on two engines.
* :mod:`~exemplar.bench.common`: results, provenance and the command line they share;
  :mod:`~exemplar.bench.run_all` runs them all.

Each runs as ``python -m exemplar.bench.NAME [--quick] [--output-dir DIR]``; all of them:
``python -m exemplar.bench.run_all`` (which ``make bench`` calls).
"""
