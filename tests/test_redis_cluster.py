"""The tests' Redis Cluster: it forms, every node sees all slots, and keys spread over
every master."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from tests.redis_cluster import LocalCluster


@pytest.mark.cluster
@pytest.mark.slow
def test_local_cluster_forms_and_serves(redis_cluster: LocalCluster) -> None:
    assert len(redis_cluster.startup_nodes) == 3
    assert redis_cluster.url == f"redis://127.0.0.1:{redis_cluster.startup_nodes[0][1]}/0"
    for host, port in redis_cluster.startup_nodes:
        with redis.Redis(host=host, port=port, decode_responses=True) as node:
            info = node.cluster("INFO")
            assert info["cluster_state"] == "ok"
            assert info["cluster_known_nodes"] == "3"
            assert info["cluster_slots_assigned"] == "16384"

    nodes = [ClusterNode(host, port) for host, port in redis_cluster.startup_nodes]
    with RedisCluster(startup_nodes=nodes) as cluster:
        keys = [f"key-{i}" for i in range(30)]
        owners = {cluster.get_node_from_key(k).port for k in keys}
        assert len(owners) == 3  # the keys span every master
        for k in keys:
            cluster.set(k, k.encode())
        assert [cluster.get(k) for k in keys] == [k.encode() for k in keys]
