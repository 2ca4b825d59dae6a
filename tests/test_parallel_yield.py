"""Engines that share cores: MPI ranks waiting in a collective sleep instead of spinning.

MPICH's ch4 device waits by polling in a loop (``sched_yield`` now and then), so on an
oversubscribed host a waiting rank takes as much of a core as the rank that computes.
:func:`start_cluster` sets :data:`YIELD_MPI_ENV` (``MPIR_CVAR_ENABLE_HEAVY_YIELD=1``: the yield
becomes a ``nanosleep``) in the engines' environment when there are more engines than cores.
"""

from __future__ import annotations

import psutil
import pytest

from exemplar.parallel import cluster
from exemplar.parallel.cluster import YIELD_MPI_ENV, start_cluster


def test_the_setting_is_mpichs_heavy_yield():
    assert YIELD_MPI_ENV == {"MPIR_CVAR_ENABLE_HEAVY_YIELD": "1"}


@pytest.mark.parametrize("bad", ["yes", 1, 0.0])
def test_a_bad_yield_waiting_is_refused_before_anything_starts(bad):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(ValueError, match=r"yield_waiting must be True or False; got"):
        with start_cluster(2, yield_waiting=bad):
            pass  # pragma: no cover
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


def _yield_env(cl) -> list[dict]:
    return [{k: info["env"].get(k) for k in YIELD_MPI_ENV} for info in cl.engine_info]


@pytest.mark.mpi
def test_oversubscribed_engines_get_the_setting_and_report_it(monkeypatch):
    monkeypatch.setattr(cluster, "usable_cores", lambda: 1)  # 2 engines on "1 core"
    with start_cluster(2) as cl:
        assert cl.mpi_yield is True
        assert _yield_env(cl) == [YIELD_MPI_ENV, YIELD_MPI_ENV]


@pytest.mark.mpi
def test_an_explicit_choice_wins_over_the_core_count(monkeypatch):
    monkeypatch.setattr(cluster, "usable_cores", lambda: 1)
    with start_cluster(2, yield_waiting=False) as cl:
        assert cl.mpi_yield is False
        assert _yield_env(cl) == [{k: None for k in YIELD_MPI_ENV}] * 2
