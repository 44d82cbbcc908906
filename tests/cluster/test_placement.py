"""Node registry and consult placement on the machine's real Redis."""

import asyncio
import uuid

import pytest
import redis.asyncio as redis

from server.cluster.node_registry import NodeLoad, NodeRegistry
from server.cluster.placement import ConsultPlacement, NoLiveNode

ORIGINS = frozenset({"http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9003"})


@pytest.fixture
async def cluster():
    """A cluster name of its own, so tests never see each other's nodes."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    clients: list[redis.Redis] = []

    def node(node_id: str, port: int, consults: int = 0, ttl: int = 6) -> NodeRegistry:
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        clients.append(client)
        return NodeRegistry(client, node_id, f"http://127.0.0.1:{port}", ORIGINS, cluster=name,
                            load=lambda: NodeLoad(consults=consults), heartbeat_seconds=0.3,
                            ttl_seconds=ttl)

    yield node
    for client in clients:
        async for key in client.scan_iter(match=f"{name}:*"):
            await client.delete(key)
        await client.aclose()


async def test_a_node_that_stops_heartbeating_disappears(cluster):
    a, b = cluster("a", 9001, ttl=1), cluster("b", 9002, ttl=1)
    await a.start()
    await b.start()
    assert [n.node_id for n in await b.live_nodes()] == ["a", "b"]
    a._task.cancel()  # the process is gone: no more heartbeats, no clean stop
    await asyncio.sleep(1.6)
    assert [n.node_id for n in await b.live_nodes()] == ["b"]
    await b.stop()


async def test_placement_picks_the_least_loaded_live_node(cluster):
    busy, idle = cluster("busy", 9001, consults=5), cluster("idle", 9002, consults=1)
    await busy.heartbeat()
    await idle.heartbeat()
    placed = await ConsultPlacement(busy.redis, busy).place("c-1")
    assert placed.node.node_id == "idle" and not placed.here
    again = await ConsultPlacement(idle.redis, idle).place("c-1")
    assert again.node.node_id == "idle" and again.here


async def test_twenty_racing_joins_on_two_nodes_place_each_consult_once(cluster):
    a, b = cluster("a", 9001), cluster("b", 9002)
    await a.heartbeat()
    await b.heartbeat()
    on_a, on_b = ConsultPlacement(a.redis, a), ConsultPlacement(b.redis, b)
    consults = [f"c-{i}" for i in range(10)]
    # Both nodes think they are least loaded at the moment they look: the worst case.
    a.load = b.load = lambda: NodeLoad()
    results = await asyncio.gather(*(p.place(c) for c in consults for p in (on_a, on_b)))
    by_consult: dict[str, set[str]] = {}
    for placement in results:
        by_consult.setdefault(placement.consult_id, set()).add(placement.node.node_id)
    assert all(len(nodes) == 1 for nodes in by_consult.values()), by_consult
    assert len(by_consult) == 10


async def test_a_dead_owner_is_taken_over_by_exactly_one_survivor(cluster):
    a, b, c = cluster("a", 9001, ttl=1), cluster("b", 9002), cluster("c", 9003)
    await a.heartbeat()
    assert (await ConsultPlacement(a.redis, a).place("c-9")).node.node_id == "a"
    await asyncio.sleep(1.3)  # a's key expires
    await b.heartbeat()
    await c.heartbeat()
    first, second = await asyncio.gather(ConsultPlacement(b.redis, b).place("c-9"),
                                         ConsultPlacement(c.redis, c).place("c-9"))
    assert first.node.node_id == second.node.node_id in ("b", "c")


async def test_draining_nodes_take_no_new_consults_and_none_alive_is_an_error(cluster):
    a = cluster("a", 9001)
    await a.drain()
    with pytest.raises(NoLiveNode):
        await ConsultPlacement(a.redis, a).place("c-1")


async def test_a_forged_node_url_is_never_believed(cluster):
    honest = cluster("honest", 9001)
    forger = NodeRegistry(honest.redis, "evil", "https://evil.example", ORIGINS,
                          cluster=honest.cluster)
    await forger.heartbeat()
    await honest.heartbeat()
    assert [n.node_id for n in await honest.live_nodes()] == ["honest"]
