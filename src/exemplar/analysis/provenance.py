"""What a results file's provenance (``results/NAME.json``) records, read one way everywhere.

The provenance is :func:`exemplar.results.provenance`'s record: the parameters, the machine, the
versions and the load. Where the chapters and the report need one of its figures (the machine's
cores, for speedups and "more engines than cores"), they read it here, so that an older record that
lacks a field is read the same way on every page.
"""

from __future__ import annotations

from typing import Any, Mapping

from exemplar import results


def cores(prov: Mapping[str, Any]) -> int:
    """The usable cores of the machine that produced the results of ``prov``.

    The record's ``machine.usable_cores``, else its ``machine.logical_cores`` (older records), else
    this machine's usable cores (:func:`exemplar.results.usable_cores`) where the record has neither.
    """
    machine = prov.get("machine") or {}
    return int(machine.get("usable_cores") or machine.get("logical_cores") or results.usable_cores())
