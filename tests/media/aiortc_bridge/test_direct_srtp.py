"""SRTP reaches aiortc's packet handlers in the call that received it, not through aioice's
queue and the DTLS transport's receive task (media.aiortc_bridge.srtp.DirectSrtp); forwarded RTP
reaches the socket in the call that sent it (media.aiortc_bridge.send.DirectSend)."""

from __future__ import annotations

import asyncio
import gc
import logging
import types

import aioice.ice
import aiortc.rtcdtlstransport
import aiortc.rtp
import pytest

from media.aiortc_bridge.run_now import run_now
from media.aiortc_bridge.send import DirectSend, RtpLeg
from media.aiortc_bridge.srtp import DirectSrtp
from media.rtp.reader import abs_send_time_of, parse_rtp
from media.rtp.writer import RtpStreamLayout, abs_send_time, rtp_packet

pytestmark = pytest.mark.bridge


async def call_in_progress(make_consult, make_client, connected, wait):
    """A physician and a guardian in call, the guardian already seeing video."""
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian})
    await wait(lambda: len(guardian.received["video"].pts) >= 10, 10, "10 frames at the guardian")
    return consult, guardian


async def thirty_more_frames_taken_directly(guardian, direct, wait):
    """Until the guardian shows 30 more frames and DirectSrtp has taken 30 more packets:
    counted at the server too, since a guardian behind on a loaded machine may still be
    showing frames whose packets came in earlier."""
    before = direct.packets
    seen = len(guardian.received["video"].pts)
    await wait(
        lambda: len(guardian.received["video"].pts) >= seen + 30 and direct.packets >= before + 30,
        10,
        "30 more frames, 30 more packets direct",
    )


async def test_srtp_skips_the_ice_queue_once_the_transport_has_its_keys(
    make_consult, make_client, connected, wait
):
    consult, guardian = await call_in_progress(make_consult, make_client, connected, wait)

    peer = consult.media._parties["physician"].peer
    (direct,) = peer.direct_srtp.values()  # BUNDLE: one transport for audio and video
    queued_srtp: list[int] = []
    take_queue = direct._queued

    def queue(data: bytes, component: int) -> None:
        if 127 < data[0] < 192:
            queued_srtp.append(len(data))
        take_queue(data, component)

    direct._queued = queue
    await thirty_more_frames_taken_directly(guardian, direct, wait)

    # Every SRTP datagram of the last second was handled in the call: none went to the queue.
    assert queued_srtp == []
    stats = consult.media.stats()["roles"]["physician"]["srtp_direct"]
    assert stats == {"packets": direct.packets, "dropped": 0}
    # The transport's own counters (its getStats) still count what it received.
    report = direct._dtls._get_stats()
    (transport_stats,) = [s for s in report.values() if s.type == "transport"]
    assert transport_stats.packetsReceived >= direct.packets


async def test_received_rtp_takes_the_lane_not_aiortcs_packet_handler(
    make_consult, make_client, connected, wait
):
    consult, guardian = await call_in_progress(make_consult, make_client, connected, wait)

    peer = consult.media._parties["physician"].peer
    through_aiortc: list[str] = []
    for leg in peer.legs:
        receiver = leg.transceiver.receiver

        async def handle_rtp_packet(packet, arrival_time_ms, kind=leg.kind):
            through_aiortc.append(kind)

        receiver._handle_rtp_packet = handle_rtp_packet
    lanes = {leg.kind: leg.hooks.lane for leg in peer.legs}
    before = {kind: lane.packets for kind, lane in lanes.items()}
    streams = {kind: lane.receiver._RTCRtpReceiver__remote_streams for kind, lane in lanes.items()}
    counted = {kind: sum(s.packets_received for s in streams[kind].values()) for kind in lanes}
    seen = len(guardian.received["video"].pts)
    await wait(
        lambda: (
            len(guardian.received["video"].pts) >= seen + 30
            and lanes["video"].packets >= before["video"] + 30
            and lanes["audio"].packets >= before["audio"] + 10
        ),
        10,
        "30 more frames, and packets of both kinds through the lanes",
    )

    # The guardian got 30 more frames of the physician's video; every packet of both of the
    # physician's streams went through its lane and none through aiortc's handler, and the
    # receivers' own statistics (their Receiver Reports, getStats) counted each one.
    assert through_aiortc == []
    for kind, lane in lanes.items():
        taken = lane.packets - before[kind]
        now = sum(s.packets_received for s in streams[kind].values())
        assert now - counted[kind] == taken, kind


async def test_media_datagrams_bypass_aioices_stun_handling(
    make_consult, make_client, connected, wait, monkeypatch
):
    consult, guardian = await call_in_progress(make_consult, make_client, connected, wait)

    (direct,) = consult.media._parties["physician"].peer.direct_srtp.values()
    server_sockets = set(direct._connection._protocols)
    assert server_sockets
    parsed_media: list[int] = []
    aioice_path = aioice.ice.StunProtocol.datagram_received

    def datagram_received(protocol, data: bytes, addr: tuple) -> None:
        # The clients in this process are aiortc peers too: only the server's sockets count.
        if protocol in server_sockets and 127 < data[0] < 192:
            parsed_media.append(len(data))
        aioice_path(protocol, data, addr)

    monkeypatch.setattr(aioice.ice.StunProtocol, "datagram_received", datagram_received)
    await thirty_more_frames_taken_directly(guardian, direct, wait)

    # 30 more frames reached the guardian, and not one of their datagrams was tried as STUN.
    assert parsed_media == []


def _receiving_dtls(connection: object, handled: list[bytes]) -> types.SimpleNamespace:
    """A connected DTLS transport stand-in over ``connection``: SRTP that unprotects to the
    same bytes, and an RTP handler that keeps what it was given in ``handled``."""

    class Srtp:
        def unprotect(self, data: bytes) -> bytes:
            return data

    async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
        handled.append(data)

    return types.SimpleNamespace(
        _rx_srtp=Srtp(),
        _state=aiortc.rtcdtlstransport.State.CONNECTED,
        transport=types.SimpleNamespace(_connection=connection),
        _handle_rtp_data=handle_rtp_data,
        _RTCDtlsTransport__rx_bytes=0,
        _RTCDtlsTransport__rx_packets=0,
    )


def _demultiplexed_socket() -> tuple[aioice.ice.StunProtocol, list[str], list[bytes]]:
    """A real StunProtocol of a stand-in connection, with DirectSrtp installed on it; what
    reached aioice's STUN handling, and what DirectSrtp handled."""
    stun_seen: list[str] = []
    handled: list[bytes] = []

    class Connection:
        def __init__(self) -> None:
            self._queue: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()
            self._protocols = [aioice.ice.StunProtocol(receiver=self)]

        def data_received(self, data: bytes, component: int) -> None:
            self._queue.put_nowait((data, component))

        def request_received(self, message, addr, protocol) -> None:
            stun_seen.append(f"{message.message_method.name} from {addr[0]}")

    connection = Connection()
    (protocol,) = connection._protocols
    protocol.local_candidate = aioice.Candidate(
        foundation="1",
        component=1,
        transport="udp",
        priority=1,
        host="192.0.2.1",
        port=4000,
        type="host",
    )
    DirectSrtp(_receiving_dtls(connection, handled))  # type: ignore[arg-type]
    return protocol, stun_seen, handled


async def test_the_first_byte_tells_stun_dtls_and_rtp_apart():
    protocol, stun_seen, handled = _demultiplexed_socket()
    binding = aioice.stun.Message(
        message_method=aioice.stun.Method.BINDING, message_class=aioice.stun.Class.REQUEST
    )
    dtls_record = b"\x16\xfe\xfd" + bytes(10)
    rtp = b"\x80\x60\x00\x01" + bytes(28)

    protocol.datagram_received(bytes(binding), ("192.0.2.9", 5000))
    protocol.datagram_received(rtp, ("192.0.2.9", 5000))
    protocol.datagram_received(dtls_record, ("192.0.2.9", 5000))

    assert stun_seen == ["BINDING from 192.0.2.9"]  # STUN still answered by aioice
    assert handled == [rtp]  # RTP: handled in the call
    assert protocol.receiver._queue.get_nowait() == (dtls_record, 1)  # DTLS: the queue


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_the_event_loop_finds_datagram_received_on_the_protocol_each_time(loop_kind):
    """What DirectSrtp's demultiplexing relies on: a protocol's ``datagram_received`` set
    after the socket is open takes the next datagram, on both event loops the server runs."""
    import uvloop

    class Protocol(asyncio.DatagramProtocol):  # a class with instances, as StunProtocol
        pass

    async def exchange() -> list[str]:
        loop = asyncio.get_running_loop()
        got: list[str] = []
        transport, protocol = await loop.create_datagram_endpoint(
            Protocol, local_addr=("127.0.0.1", 0)
        )
        protocol.datagram_received = lambda data, addr: got.append(data.decode())
        transport.sendto(b"after", transport.get_extra_info("sockname"))
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.01)
        transport.close()
        return got

    new_loop = uvloop.new_event_loop if loop_kind == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=new_loop) as runner:
        assert runner.run(exchange()) == ["after"]


async def test_a_datagram_never_overtakes_older_ones_still_in_the_queue():
    """What a browser sends during the last handshake flight waits in aioice's queue until
    the transport's task reads it; a newer datagram must queue behind it, not go first."""
    handled: list[bytes] = []

    class Connection:  # aioice.Connection's hand-over and queue
        def __init__(self) -> None:
            self._queue: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()
            self._protocols: list[aioice.ice.StunProtocol] = []

        def data_received(self, data: bytes, component: int) -> None:
            self._queue.put_nowait((data, component))

    connection = Connection()
    direct = DirectSrtp(_receiving_dtls(connection, handled))  # type: ignore[arg-type]
    first_frame, second_frame = b"\x80\x60first", b"\x80\x60second"
    connection._queue.put_nowait((first_frame, 1))  # arrived before the keys, not read yet
    connection.data_received(second_frame, 1)
    assert handled == [] and direct.packets == 0
    assert [connection._queue.get_nowait()[0] for _ in range(2)] == [first_frame, second_frame]
    # The transport's task has caught up: from here on, datagrams go direct.
    connection.data_received(second_frame, 1)
    assert handled == [second_frame] and direct.packets == 1


async def test_a_handler_that_never_waits_runs_inside_the_call():
    ran: list[str] = []

    async def handle() -> None:
        ran.append("handled")

    run_now(handle())
    assert ran == ["handled"]


async def test_a_handler_that_waits_is_carried_on_by_a_task_in_order():
    loop = asyncio.get_running_loop()
    sent = loop.create_future()
    steps: list[str] = []

    async def handle() -> None:
        steps.append("before")
        steps.append(await sent)
        await asyncio.sleep(0)  # a bare yield too
        steps.append("after")

    run_now(handle())
    assert steps == ["before"]
    sent.set_result("sent")
    for _ in range(5):
        await asyncio.sleep(0)
    assert steps == ["before", "sent", "after"]


async def test_a_failing_handler_drops_its_packet_and_is_logged(caplog):
    loop = asyncio.get_running_loop()
    sent = loop.create_future()

    async def fails_at_once() -> None:
        raise ValueError("malformed")

    async def fails_after_waiting() -> None:
        await sent

    with caplog.at_level(logging.ERROR, logger="media.aiortc_bridge.run_now"):
        run_now(fails_at_once())  # does not raise
        run_now(fails_after_waiting())
        sent.set_exception(ConnectionError("transport closed"))
        for _ in range(5):
            await asyncio.sleep(0)
    failures = [r for r in caplog.records if "packet handler failed" in r.getMessage()]
    assert [type(r.exc_info[1]) for r in failures] == [ValueError, ConnectionError]


# --------------------------------------------------------------------------- sending


async def test_forwarded_packets_reach_the_socket_without_aiortcs_send_coroutines(
    make_consult, make_client, connected, wait
):
    consult, guardian = await call_in_progress(make_consult, make_client, connected, wait)

    peer = consult.media._parties["guardian"].peer
    (video_leg,) = [leg for leg in peer.legs if leg.kind == "video"]
    leg = video_leg.rtp
    dtls = leg.sender.transport
    through_aiortc: list[int] = []
    aiortc_send = dtls._send_rtp

    async def send_rtp(data: bytes) -> None:
        if not aiortc.rtp.is_rtcp(data):  # aiortc's RTCP (reports, feedback) still goes here
            through_aiortc.append(len(data))
        await aiortc_send(data)

    dtls._send_rtp = send_rtp
    packets_before = leg.counters.packets
    (transport_before,) = [s for s in dtls._get_stats().values() if s.type == "transport"]
    seen = len(guardian.received["video"].pts)
    await wait(
        lambda: (
            len(guardian.received["video"].pts) >= seen + 30
            and leg.counters.packets >= packets_before + 30
        ),
        10,
        "30 more frames, 30 more packets sent",
    )

    # The guardian got 30 more frames, and not one of their packets took aiortc's path;
    # the transport's own counters (its getStats) still count every packet that left.
    assert through_aiortc == []
    sent = leg.counters.packets - packets_before
    (transport_after,) = [s for s in dtls._get_stats().values() if s.type == "transport"]
    assert transport_after.packetsSent - transport_before.packetsSent >= sent
    assert transport_after.bytesSent > transport_before.bytesSent


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))


def _dtls_with_pair(protocol: object, state: object) -> types.SimpleNamespace:
    """A DTLS transport stand-in: outbound SRTP that tags, and one nominated pair."""
    through_aiortc: list[bytes] = []

    class Srtp:
        def protect(self, data: bytes) -> bytes:
            return b"srtp:" + data

    async def send_rtp(data: bytes) -> None:
        through_aiortc.append(data)

    pair = types.SimpleNamespace(protocol=protocol, remote_addr=("192.0.2.7", 50000))
    connection = types.SimpleNamespace(_nominated={1: pair})
    return types.SimpleNamespace(
        _state=state,
        _tx_srtp=Srtp(),
        transport=types.SimpleNamespace(_connection=connection),
        _send_rtp=send_rtp,
        through_aiortc=through_aiortc,
        _RTCDtlsTransport__tx_bytes=0,
        _RTCDtlsTransport__tx_packets=0,
    )


def _turn_protocol() -> types.SimpleNamespace:
    """A pair's protocol that is not a plain UDP socket: aioice's TURN client, which wraps
    each datagram for the relay (its socket must see nothing sent directly)."""
    return types.SimpleNamespace(transport=_Recorder())


def _stun_protocol(transport: object) -> aioice.ice.StunProtocol:
    protocol = aioice.ice.StunProtocol(receiver=None)
    protocol.transport = transport
    return protocol


async def test_a_packet_is_protected_sent_and_counted_in_the_call():
    socket = _Recorder()
    dtls = _dtls_with_pair(_stun_protocol(socket), aiortc.rtcdtlstransport.State.CONNECTED)
    wire = DirectSend(dtls)  # type: ignore[arg-type]
    wire.send_rtp(b"\x80\x60packet")
    assert socket.sent == [(b"srtp:\x80\x60packet", ("192.0.2.7", 50000))]
    assert (dtls._RTCDtlsTransport__tx_packets, dtls._RTCDtlsTransport__tx_bytes) == (1, 13)
    assert dtls.through_aiortc == []


async def test_a_relayed_pair_takes_aiortcs_own_path():
    relay = _turn_protocol()
    dtls = _dtls_with_pair(relay, aiortc.rtcdtlstransport.State.CONNECTED)
    DirectSend(dtls).send_rtp(b"\x80\x60packet")  # type: ignore[arg-type]
    assert dtls.through_aiortc == [b"\x80\x60packet"]
    assert relay.transport.sent == []


async def test_sending_before_the_transport_is_up_is_a_connection_error():
    socket = _Recorder()
    connecting = _dtls_with_pair(_stun_protocol(socket), aiortc.rtcdtlstransport.State.CONNECTING)
    with pytest.raises(ConnectionError):
        DirectSend(connecting).send_rtp(b"\x80\x60packet")  # type: ignore[arg-type]
    unpaired = _dtls_with_pair(_stun_protocol(socket), aiortc.rtcdtlstransport.State.CONNECTED)
    unpaired.transport._connection._nominated.clear()
    with pytest.raises(ConnectionError):
        DirectSend(unpaired).send_rtp(b"\x80\x60packet")  # type: ignore[arg-type]
    assert socket.sent == [] and connecting.through_aiortc == unpaired.through_aiortc == []


def _leg_on(dtls: object) -> RtpLeg:
    """An RtpLeg whose sender has started, on the DTLS transport stand-in ``dtls``."""

    async def parked(*_: object) -> None:
        return None

    sender = types.SimpleNamespace(kind="video", send=parked, _handle_rtcp_packet=parked)
    leg = RtpLeg(sender, parked, clock=lambda: 1_700_000_000.0)  # type: ignore[arg-type]
    leg.layout = RtpStreamLayout(payload_type=96, ssrc=0x1234)
    leg._wire = DirectSend(dtls)  # type: ignore[arg-type]
    return leg


FRAME = ((b"first", False), (b"second", False), (b"last", True))


@pytest.mark.parametrize("relayed", [False, True], ids=["socket", "relayed"])
async def test_a_frames_packets_leave_in_order_and_are_counted_once(relayed):
    socket = _Recorder()
    protocol = _turn_protocol() if relayed else _stun_protocol(socket)
    dtls = _dtls_with_pair(protocol, aiortc.rtcdtlstransport.State.CONNECTED)
    leg = _leg_on(dtls)
    first = leg._sequence
    leg.send_frame(FRAME, pts=3000)

    timestamp = (leg._timestamp_origin + 3000) & 0xFFFFFFFF
    packets = [
        rtp_packet(96, marker, (first + i) & 0xFFFF, timestamp, 0x1234, b"", payload)
        for i, (payload, marker) in enumerate(FRAME)
    ]
    if relayed:  # aiortc's own path protects, sends and counts
        assert dtls.through_aiortc == packets
        assert dtls._RTCDtlsTransport__tx_packets == 0
    else:
        assert socket.sent == [(b"srtp:" + p, ("192.0.2.7", 50000)) for p in packets]
        assert dtls.through_aiortc == []
        assert dtls._RTCDtlsTransport__tx_packets == 3
        assert dtls._RTCDtlsTransport__tx_bytes == sum(len(b"srtp:" + p) for p in packets)
    assert (leg.counters.packets, leg.counters.octets, leg.counters.frames) == (3, 15, 1)
    assert leg._sequence == (first + 3) & 0xFFFF


async def test_a_frame_leaves_under_the_partys_send_time_and_repairs_on_the_partys_clock():
    socket = _Recorder()
    dtls = _dtls_with_pair(_stun_protocol(socket), aiortc.rtcdtlstransport.State.CONNECTED)
    leg = _leg_on(dtls)
    leg.layout = RtpStreamLayout(payload_type=96, ssrc=0x1234, abs_send_time_id=3)
    own = abs_send_time(1_700_000_000.0)  # the leg's clock is fixed at that instant
    first = leg._sequence

    def send_times() -> list[int]:
        stamps = [parse_rtp(data[len(b"srtp:") :]) for data, _ in socket.sent]
        socket.sent.clear()
        return [abs_send_time_of(p, 3) for p in stamps]

    leg.send_frame(FRAME, pts=3000, send_time=0x00F000)
    assert send_times() == [0x00F000] * 3
    # A frame the party did not stamp, and a retransmission, go out on the party's clock:
    # the server's clock shifted by what the last stamped frame showed.
    leg.send_frame(FRAME[:1], pts=6000)
    leg.retransmit([first])
    assert send_times() == [0x00F000, 0x00F000]
    leg._clock = lambda: 1_700_000_000.0 + 0.25
    leg.retransmit([first + 1])
    shifted = (abs_send_time(1_700_000_000.25) - own + 0x00F000) & 0xFFFFFF
    assert send_times() == [shifted] and shifted == 0x00F000 + (1 << 16)  # 0.25 s later


@pytest.mark.parametrize("rtx", [True, False], ids=["over-rtx", "as-sent"])
async def test_a_resent_packet_carries_what_was_sent_from_a_history_the_collector_never_walks(
    rtx,
):
    socket = _Recorder()
    dtls = _dtls_with_pair(_stun_protocol(socket), aiortc.rtcdtlstransport.State.CONNECTED)
    leg = _leg_on(dtls)
    leg.layout = RtpStreamLayout(
        payload_type=96,
        ssrc=0x1234,
        rtx_payload_type=97 if rtx else None,
        rtx_ssrc=0x5678 if rtx else None,
        mid_id=1,
        mid="0",
        abs_send_time_id=3,
    )
    first = leg._sequence
    leg.send_frame(FRAME, pts=3000)
    sent = [parse_rtp(data[len(b"srtp:") :]) for data, _ in socket.sent]
    socket.sent.clear()
    # A dict holding only ints and bytes is untracked: a full garbage collection (a loop
    # stall that grows with what it walks) does not walk the 1024 packets of each leg.
    gc.collect()
    assert not gc.is_tracked(leg._history)

    leg.retransmit([first + 2, first + 1, (first + 7) & 0xFFFF])
    resent = [parse_rtp(data[len(b"srtp:") :]) for data, _ in socket.sent]
    assert leg.counters.nacks_too_late == 1  # first + 7 was never sent
    assert [(p.marker, p.timestamp) for p in resent] == [
        (sent[2].marker, sent[2].timestamp),
        (sent[1].marker, sent[1].timestamp),
    ]
    if rtx:
        assert {(p.payload_type, p.ssrc) for p in resent} == {(97, 0x5678)}
        assert [p.payload for p in resent] == [
            (first + 2).to_bytes(2, "big") + b"last",
            (first + 1).to_bytes(2, "big") + b"second",
        ]
    else:
        assert [(p.sequence_number, p.payload) for p in resent] == [
            (first + 2, b"last"),
            (first + 1, b"second"),
        ]
