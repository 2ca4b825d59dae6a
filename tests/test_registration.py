"""Waiting for a cluster's engines gives up at once when the controller is gone (the chaos soak's findings 2 and 3).

Stand-ins for the client, the async result and the launchers: no cluster is started.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from exemplar.parallel import cluster, registration
from exemplar.parallel.registration import ClusterError


class NeverReady:
    def ready(self):
        return False

    def wait(self, seconds):
        time.sleep(min(seconds, 0.01))


class Client:
    ids = [0]

    def __getitem__(self, ids):
        return SimpleNamespace(apply_async=lambda f, *a: NeverReady())

    def wait_for_engines(self, n, timeout, interactive):
        time.sleep(min(timeout, 0.01))
        raise TimeoutError


def stand_in(controller_state="running"):
    return SimpleNamespace(controller=SimpleNamespace(state=controller_state),
                           engine_set=SimpleNamespace(state="running", get_output=lambda remove: "engine output\n"))


def test_a_set_up_whose_controller_is_gone_fails_at_once():
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match="the controller exited while the engines were being set up"):
        registration.set_up(Client(), [0], stand_in("after"), lambda use_mpi: {}, True, timeout=60)
    assert time.monotonic() - t0 < 5


def test_a_set_up_that_never_answers_gives_up_at_its_timeout():
    with pytest.raises(ClusterError, match=r"not set up within 0.3 s of registering; engine launcher output:\nengine"):
        registration.set_up(Client(), [0], stand_in(), lambda use_mpi: {}, True, timeout=0.3)


def test_registration_stops_waiting_when_the_controller_is_gone():
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=r"the controller exited before all 2 engines registered \(1 did\)"):
        registration.wait_for_engines(Client(), stand_in("after"), 2, timeout=60)
    assert time.monotonic() - t0 < 5


def test_the_cluster_module_still_names_its_error():
    assert cluster.ClusterError is ClusterError
