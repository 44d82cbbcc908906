"""Reading a browser's SDP offer and trickled ICE candidates before aiortc sees them.

aiortc's own parser asserts and raises bare ``ValueError``/``AssertionError`` on bad
input and picks codecs silently. Reading the offer ourselves first lets the media
layer refuse bad input with a typed error that names the problem, decide the
consult's video codec, and tell whether a new offer is a renegotiation of the
same session or a new session (reload, ICE restart), all without touching a peer
connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCIceCandidate

from media.errors import InvalidCandidate, InvalidOffer

# RFC 3551 static payload types a browser may list without an rtpmap line.
_STATIC_PAYLOAD_TYPES = {
    0: ("PCMU", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
}


@dataclass(frozen=True)
class OfferedCodec:
    """One payload type of an m-line: rtpmap plus fmtp parameters."""

    payload_type: int
    name: str
    clock_rate: int
    channels: int | None = None
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def mime_subtype(self) -> str:
        return self.name.upper()


@dataclass(frozen=True)
class MediaSection:
    """What the media layer needs from one m-line of an offer."""

    index: int
    kind: str
    mid: str | None
    port: int
    direction: str
    codecs: tuple[OfferedCodec, ...]
    ice_ufrag: str | None
    ice_pwd: str | None
    fingerprint: str | None
    rtcp_mux: bool
    ssrcs: tuple[int, ...]
    rtx_ssrcs: frozenset[int]

    def codec_names(self) -> list[str]:
        return [c.mime_subtype for c in self.codecs]


@dataclass(frozen=True)
class SessionSummary:
    media: tuple[MediaSection, ...]

    def of_kind(self, kind: str) -> list[MediaSection]:
        return [m for m in self.media if m.kind == kind]

    def transport_identity(self) -> tuple[frozenset[str], frozenset[str]]:
        """ICE ufrags and DTLS fingerprints: if either changes, it is a new session."""
        ufrags = frozenset(m.ice_ufrag for m in self.media if m.ice_ufrag)
        prints = frozenset(m.fingerprint for m in self.media if m.fingerprint)
        return ufrags, prints


def parse_offer(text: object) -> SessionSummary:
    """Parse and validate an SDP offer; :class:`InvalidOffer` says what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidOffer("the offer SDP is empty or not a string")
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
    if not lines or lines[0] != "v=0":
        raise InvalidOffer("the offer SDP must start with 'v=0'")
    if any(len(ln) < 2 or ln[1] != "=" for ln in lines):
        bad = next(ln for ln in lines if len(ln) < 2 or ln[1] != "=")
        raise InvalidOffer(f"malformed SDP line: {bad[:60]!r}")

    session: dict[str, Any] = {"ufrag": None, "pwd": None, "fingerprint": None, "direction": None}
    blocks: list[list[str]] = []
    for ln in lines:
        if ln.startswith("m="):
            blocks.append([ln])
        elif blocks:
            blocks[-1].append(ln)
        else:
            _session_attribute(session, ln)
    if not blocks:
        raise InvalidOffer("the offer has no media sections (m= lines)")

    sections = tuple(_media_section(i, block, session) for i, block in enumerate(blocks))
    for m in sections:
        if m.kind not in ("audio", "video"):
            continue
        where = f"m-line {m.index} ({m.kind})"
        if not m.ice_ufrag or not m.ice_pwd:
            raise InvalidOffer(f"{where} has no ICE username fragment/password")
        if not m.fingerprint:
            raise InvalidOffer(f"{where} has no DTLS fingerprint")
        if not m.rtcp_mux:
            raise InvalidOffer(f"{where} does not use rtcp-mux, which WebRTC requires")
        if m.mid is None:
            raise InvalidOffer(f"{where} has no a=mid")
        if m.port != 0 and not m.codecs:
            raise InvalidOffer(f"{where} lists no payload types")
    if not any(m.kind in ("audio", "video") for m in sections):
        raise InvalidOffer("the offer has no audio or video m-line")
    return SessionSummary(media=sections)


def _attribute(line: str) -> tuple[str, str]:
    body = line[2:]
    name, _, value = body.partition(":")
    return name, value


def _session_attribute(session: dict[str, Any], line: str) -> None:
    if not line.startswith("a="):
        return
    name, value = _attribute(line)
    if name == "ice-ufrag":
        session["ufrag"] = value
    elif name == "ice-pwd":
        session["pwd"] = value
    elif name == "fingerprint":
        session["fingerprint"] = value.lower()
    elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
        session["direction"] = name


def _media_section(index: int, block: list[str], session: dict[str, Any]) -> MediaSection:
    parts = block[0][2:].split()
    if len(parts) < 3:
        raise InvalidOffer(f"m-line {index} is malformed: {block[0][:60]!r}")
    kind = parts[0]
    try:
        port = int(parts[1].split("/")[0])
    except ValueError:
        raise InvalidOffer(f"m-line {index} has a non-numeric port: {parts[1]!r}") from None

    formats: list[int] = []
    if kind in ("audio", "video"):
        for fmt in parts[3:]:
            try:
                formats.append(int(fmt))
            except ValueError:
                raise InvalidOffer(
                    f"m-line {index} ({kind}) has a non-numeric payload type {fmt!r}"
                ) from None

    rtpmap: dict[int, tuple[str, int, int | None]] = {}
    fmtp: dict[int, dict[str, str]] = {}
    mid = None
    direction = session["direction"] or "sendrecv"
    ufrag, pwd, fingerprint = session["ufrag"], session["pwd"], session["fingerprint"]
    rtcp_mux = False
    ssrcs: list[int] = []
    rtx: set[int] = set()
    for ln in block[1:]:
        if not ln.startswith("a="):
            continue
        name, value = _attribute(ln)
        if name == "mid":
            mid = value
        elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
            direction = name
        elif name == "ice-ufrag":
            ufrag = value
        elif name == "ice-pwd":
            pwd = value
        elif name == "fingerprint":
            fingerprint = value.lower()
        elif name == "rtcp-mux":
            rtcp_mux = True
        elif name == "rtpmap":
            pt, codec = _rtpmap(index, value)
            rtpmap[pt] = codec
        elif name == "fmtp":
            pt_text, _, params = value.partition(" ")
            if pt_text.isdigit():
                fmtp[int(pt_text)] = _fmtp_parameters(params)
        elif name == "ssrc":
            ssrc_text = value.split(" ", 1)[0]
            if ssrc_text.isdigit() and int(ssrc_text) not in ssrcs:
                ssrcs.append(int(ssrc_text))
        elif name == "ssrc-group":
            group = value.split()
            # a=ssrc-group:FID <media> <rtx>: the second SSRC carries retransmissions
            if len(group) >= 3 and group[0] == "FID" and group[2].isdigit():
                rtx.add(int(group[2]))

    codecs = []
    for pt in formats:
        if pt in rtpmap:
            name, clock_rate, channels = rtpmap[pt]
        elif pt in _STATIC_PAYLOAD_TYPES:
            name, clock_rate, channels = _STATIC_PAYLOAD_TYPES[pt]
        else:
            continue
        codecs.append(OfferedCodec(pt, name, clock_rate, channels, fmtp.get(pt, {})))

    return MediaSection(
        index=index,
        kind=kind,
        mid=mid,
        port=port,
        direction=direction,
        codecs=tuple(codecs),
        ice_ufrag=ufrag,
        ice_pwd=pwd,
        fingerprint=fingerprint,
        rtcp_mux=rtcp_mux,
        ssrcs=tuple(ssrcs),
        rtx_ssrcs=frozenset(rtx),
    )


def _rtpmap(index: int, value: str) -> tuple[int, tuple[str, int, int | None]]:
    pt_text, _, encoding = value.partition(" ")
    bits = encoding.split("/")
    try:
        pt = int(pt_text)
        clock_rate = int(bits[1])
        channels = int(bits[2]) if len(bits) > 2 else None
    except (ValueError, IndexError):
        raise InvalidOffer(f"m-line {index} has a malformed rtpmap: {value[:60]!r}") from None
    return pt, (bits[0], clock_rate, channels)


def _fmtp_parameters(text: str) -> dict[str, str]:
    params = {}
    for item in text.split(";"):
        key, sep, value = item.strip().partition("=")
        if key:
            params[key.lower()] = value if sep else ""
    return params


def parse_candidate(candidate: object) -> RTCIceCandidate | None:
    """A browser's trickled candidate (``RTCIceCandidateInit`` as a dict) for aiortc.

    ``None`` or an empty candidate string means end-of-candidates and returns ``None``.
    """
    if candidate is None:
        return None
    if not isinstance(candidate, dict):
        raise InvalidCandidate("an ICE candidate must be an object with a 'candidate' field")
    text = candidate.get("candidate")
    if not isinstance(text, str):
        raise InvalidCandidate("the ICE candidate has no 'candidate' string")
    text = text.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    if not text:
        return None

    sdp_mid = candidate.get("sdpMid")
    mline = candidate.get("sdpMLineIndex")
    if sdp_mid is not None and not isinstance(sdp_mid, str):
        raise InvalidCandidate("sdpMid must be a string")
    if mline is not None and (not isinstance(mline, int) or isinstance(mline, bool) or mline < 0):
        raise InvalidCandidate("sdpMLineIndex must be a non-negative integer")
    if sdp_mid is None and mline is None:
        raise InvalidCandidate("the ICE candidate needs sdpMid or sdpMLineIndex")

    bits = text.split()
    if len(bits) < 8 or bits[6] != "typ":
        raise InvalidCandidate(f"malformed ICE candidate: {text[:80]!r}")
    try:
        parsed = RTCIceCandidate(
            foundation=bits[0],
            component=int(bits[1]),
            protocol=bits[2].lower(),
            priority=int(bits[3]),
            ip=bits[4],
            port=int(bits[5]),
            type=bits[7],
            sdpMid=sdp_mid,
            sdpMLineIndex=mline,
        )
        for i in range(8, len(bits) - 1, 2):
            if bits[i] == "raddr":
                parsed.relatedAddress = bits[i + 1]
            elif bits[i] == "rport":
                parsed.relatedPort = int(bits[i + 1])
            elif bits[i] == "tcptype":
                parsed.tcpType = bits[i + 1]
    except ValueError:
        raise InvalidCandidate(f"malformed ICE candidate: {text[:80]!r}") from None
    if parsed.protocol not in ("udp", "tcp") or not 0 < parsed.port < 65536:
        raise InvalidCandidate(f"unusable ICE candidate: {text[:80]!r}")
    return parsed
