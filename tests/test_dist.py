import pytest

from neurocontrol.exceptions import ParameterError
from neurocontrol.experiments.sweeps import sweep
from neurocontrol.scenario import Scenario

distributed = pytest.importorskip("dask.distributed")


def _without_timing(metrics):
    return [{k: v for k, v in m.items() if k != "control_step_us"} for m in metrics]


def test_sweep_on_a_local_cluster_equals_the_local_sweep():
    from neurocontrol.experiments.distributed import sweep_on_cluster

    sc = Scenario.from_toml("scenarios/helicopter_hover.toml").set("run.duration", "2")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cl:
        remote = sweep_on_cluster(sc, [3, 0, 1, 2], cl.scheduler_address)
        with distributed.Client(cl) as client:           # an open client is used and left open
            again = sweep_on_cluster(sc, [5], client)
            assert client.status == "running"
    local = sweep(sc, [3, 0, 1, 2], workers=1)
    assert remote.seeds == (3, 0, 1, 2) and remote.workers == 2
    assert _without_timing(remote.metrics) == _without_timing(local.metrics)
    assert remote.statuses == local.statuses and again.n == 1


def test_errors():
    from neurocontrol.experiments.distributed import connect

    with pytest.raises(ParameterError, match=r"`scheduler` must be an address like tcp://host:8786, got an empty"):
        connect("  ")
    with pytest.raises(ParameterError, match=r"`scheduler` must be an address like tcp://host:8786, a dask cluster"):
        connect(8786)
