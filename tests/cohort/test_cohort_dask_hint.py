"""A Dask cluster whose workers run the statistical profiler gets a one-line hint."""

from __future__ import annotations

import logging

import pytest

from calcscan.cohort.executors import DaskBackend


@pytest.mark.parametrize("profiler", [True, False])
def test_profiler_hint(profiler: bool, caplog: pytest.LogCaptureFixture) -> None:
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    with (
        dask.config.set({"distributed.worker.profile.enabled": profiler}),
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
        caplog.at_level(logging.WARNING, logger="calcscan.cohort.executors"),
    ):
        backend = DaskBackend(client)
    assert backend.workers == 1
    hinted = "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False" in caplog.text
    assert hinted == profiler, caplog.text
