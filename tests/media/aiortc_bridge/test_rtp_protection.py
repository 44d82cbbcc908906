"""RtpProtection: libsrtp called on a pylibsrtp Session's own context, with the wrapper's
results and errors (media.aiortc_bridge.srtp.RtpProtection)."""

from __future__ import annotations

import gc
import os
import struct

import pylibsrtp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.aiortc_bridge.srtp import RtpProtection

pytestmark = pytest.mark.bridge


PROFILES = {
    "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "AES128_CM_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
}


def sessions(profile: str, count: int = 2) -> tuple[list[pylibsrtp.Session], ...]:
    """``count`` outbound and ``count`` inbound sessions, all on one key."""
    srtp_profile, key_length = PROFILES[profile]
    key = os.urandom(key_length)

    def session(direction: int) -> pylibsrtp.Session:
        policy = pylibsrtp.Policy(key=key, ssrc_type=direction, srtp_profile=srtp_profile)
        return pylibsrtp.Session(policy)

    outbound = [session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND) for _ in range(count)]
    inbound = [session(pylibsrtp.Policy.SSRC_ANY_INBOUND) for _ in range(count)]
    return outbound, inbound


def rtp(sequence: int, payload: bytes, marker: bool = False) -> bytes:
    header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | 96, sequence, 3000, 0x1234)
    return header + payload


@pytest.mark.parametrize("profile", PROFILES)
@settings(max_examples=25, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=0, max_size=1300), min_size=1, max_size=20),
    first=st.integers(0, 0xFFFF),
)
def test_the_same_bytes_as_pylibsrtps_wrapper(profile, payloads, first):
    (wrapped_out, direct_out), (wrapped_in, direct_in) = sessions(profile)
    protect, unprotect = RtpProtection(direct_out), RtpProtection(direct_in)
    for i, payload in enumerate(payloads):
        packet = rtp((first + i) & 0xFFFF, payload, marker=i % 3 == 0)
        protected = protect.protect(packet)
        assert protected == wrapped_out.protect(packet)
        assert unprotect.unprotect(protected) == wrapped_in.unprotect(protected) == packet


@pytest.mark.parametrize("profile", PROFILES)
def test_the_same_errors_as_pylibsrtps_wrapper(profile):
    (wrapped_out, direct_out), (wrapped_in, direct_in) = sessions(profile)
    protect, unprotect = RtpProtection(direct_out), RtpProtection(direct_in)
    protected = protect.protect(rtp(7, b"payload"))
    wrapped_out.protect(rtp(7, b"payload"))  # the wrapper's session kept in step

    def failure(call, packet):
        with pytest.raises((pylibsrtp.Error, ValueError)) as raised:
            call(packet)
        return type(raised.value), str(raised.value)

    tampered = protected[:-1] + bytes([protected[-1] ^ 1])
    forged = failure(unprotect.unprotect, tampered)
    assert forged == failure(wrapped_in.unprotect, tampered)
    assert forged == (pylibsrtp.Error, "authentication failure")
    unprotect.unprotect(protected)
    wrapped_in.unprotect(protected)
    replayed = failure(unprotect.unprotect, protected)
    assert replayed == failure(wrapped_in.unprotect, protected)
    assert replayed[0] is pylibsrtp.Error and "replay" in replayed[1]
    too_long = rtp(8, bytes(1500 - 12))
    oversized = failure(protect.protect, too_long)
    assert oversized == failure(wrapped_out.protect, too_long)
    assert oversized == (ValueError, "packet is too long")


def test_the_session_lives_as_long_as_its_protection():
    """pylibsrtp frees the libsrtp context when its Session is collected: a protection that
    did not hold the Session would protect with freed memory (or crash the process)."""
    (outbound, wrapped_out), _ = sessions("AEAD_AES_128_GCM")
    protect = RtpProtection(outbound)
    del outbound
    gc.collect()
    for sequence in range(50):
        packet = rtp(sequence, os.urandom(200))
        assert protect.protect(packet) == wrapped_out.protect(packet)


def test_a_stand_in_session_keeps_its_own_methods():
    class Tagging:
        def protect(self, packet: bytes) -> bytes:
            return b"srtp:" + packet

    class Subclassed(pylibsrtp.Session):
        pass

    stand_in = Tagging()
    assert RtpProtection.of(stand_in) is stand_in
    subclassed = Subclassed()
    assert RtpProtection.of(subclassed) is subclassed
    (outbound, _), _ = sessions("AEAD_AES_128_GCM")
    assert isinstance(RtpProtection.of(outbound), RtpProtection)


async def test_a_calls_rtp_skips_pylibsrtps_wrapper(
    make_consult, make_client, connected, wait, monkeypatch
):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian})
    await wait(lambda: len(guardian.received["video"].pts) >= 10, 10, "10 frames at the guardian")

    (inbound,) = consult.media._parties["physician"].peer.direct_srtp.values()
    (video_leg,) = [
        leg for leg in consult.media._parties["guardian"].peer.legs if leg.kind == "video"
    ]
    wire = video_leg.rtp._wire
    server_sessions = {id(inbound._dtls._rx_srtp), id(wire.dtls._tx_srtp)}
    through_wrapper: list[str] = []
    for name in ("protect", "unprotect"):
        wrapped = getattr(pylibsrtp.Session, name)

        def counted(session, packet, name=name, wrapped=wrapped):
            # The clients in this process are aiortc peers too: only the server's sessions.
            if id(session) in server_sessions:
                through_wrapper.append(name)
            return wrapped(session, packet)

        monkeypatch.setattr(pylibsrtp.Session, name, counted)
    received, sent = inbound.packets, video_leg.rtp.counters.packets
    seen = len(guardian.received["video"].pts)
    await wait(
        lambda: (
            len(guardian.received["video"].pts) >= seen + 30
            and inbound.packets >= received + 30
            and video_leg.rtp.counters.packets >= sent + 30
        ),
        10,
        "30 more frames, 30 more packets in and out",
    )

    # 30 more frames went physician → server → guardian; every RTP packet was unprotected
    # and protected by the server without pylibsrtp's per-call wrapper.
    assert through_wrapper == []
    assert isinstance(inbound._rx, RtpProtection) and isinstance(wire._tx, RtpProtection)
