"""Which codecs a consult carries.

Nothing is transcoded, so both legs of a consult must carry the same video codec
(and for H.264 the same profile and packetization mode): the server forwards the
RTP payloads the other browser's encoder and packetiser produced. VP8 is preferred (Chrome, Firefox,
Safari ≥ 12.1 / iOS ≥ 12.2); H.264 constrained baseline with packetization-mode 1
is the fallback for an offer without VP8. The first leg answered fixes the
consult's codec for the rest of the consult (the recorder writes one stream per
participant and track with one codec); a later leg must offer it or is refused.
Audio is always Opus.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import RTCRtpCodecCapability, RTCRtpSender

from media.errors import UnsupportedCodecs
from media.session_description import MediaSection, OfferedCodec

H264_CONSTRAINED_BASELINE = "constrained-baseline"
H264_BASELINE = "baseline"


@dataclass(frozen=True)
class VideoCodecChoice:
    """A video codec as aiortc offers it: ffmpeg name plus H.264 profile-level-id."""

    name: str
    profile_level_id: str | None = None

    @property
    def profile(self) -> str | None:
        return (
            h264_profile({"profile-level-id": self.profile_level_id})
            if self.profile_level_id
            else None
        )

    def label(self) -> str:
        return f"{self.name} ({self.profile})" if self.profile else self.name

    def matches(self, offered: OfferedCodec) -> bool:
        """The browser offers a codec aiortc would negotiate as this choice."""
        if offered.clock_rate != 90000:
            return False
        if self.name == "vp8":
            return offered.mime_subtype == "VP8"
        if self.name == "h264":
            params = offered.parameters
            return (
                offered.mime_subtype == "H264"
                and params.get("packetization-mode", "0") == "1"
                and h264_profile(params) == self.profile
            )
        return False

    def capabilities(self) -> list[RTCRtpCodecCapability]:
        """aiortc capabilities for ``setCodecPreferences``: this codec, then RTX for it."""
        chosen: list[RTCRtpCodecCapability] = []
        rtx: list[RTCRtpCodecCapability] = []
        for cap in RTCRtpSender.getCapabilities("video").codecs:
            mime = cap.mimeType.lower()
            if mime == "video/rtx":
                rtx.append(cap)
            elif mime == f"video/{self.name}" and (
                self.profile_level_id is None
                or str(cap.parameters.get("profile-level-id", "")).lower() == self.profile_level_id
            ):
                chosen.append(cap)
        if len(chosen) != 1:
            raise UnsupportedCodecs(f"aiortc has no single capability for {self.label()}")
        return chosen + rtx


VP8 = VideoCodecChoice("vp8")
H264_CB = VideoCodecChoice("h264", "42e01f")
H264_BASE = VideoCodecChoice("h264", "42001f")
VIDEO_PREFERENCE: tuple[VideoCodecChoice, ...] = (VP8, H264_CB, H264_BASE)


def h264_profile(params: dict[str, str]) -> str | None:
    """H.264 profile from profile-level-id (RFC 6184 §8.1, as libwebrtc and aiortc read it).

    An absent profile-level-id means constrained baseline level 3.1, as aiortc and
    older WebRTC endpoints assume.
    """
    plid = (params.get("profile-level-id") or "42e01f").lower()
    if len(plid) != 6:
        return None
    try:
        profile_idc = int(plid[0:2], 16)
        iop = int(plid[2:4], 16)
    except ValueError:
        return None
    if iop & 0x0F:
        return None
    if profile_idc == 0x42:
        return H264_CONSTRAINED_BASELINE if iop & 0x40 else H264_BASELINE
    if profile_idc == 0x4D and iop & 0x80:
        return H264_CONSTRAINED_BASELINE
    if profile_idc == 0x58 and iop & 0x80:
        return H264_CONSTRAINED_BASELINE if iop & 0x40 else H264_BASELINE
    return None


def _describe(section: MediaSection) -> str:
    names = sorted(set(section.codec_names()) - {"RTX", "RED", "ULPFEC", "FLEXFEC-03"})
    return ", ".join(names) or "no codecs"


def choose_video_codec(
    sections: list[MediaSection], fixed: VideoCodecChoice | None
) -> VideoCodecChoice | None:
    """The codec every video m-line of this offer will be answered with.

    Returns ``None`` for an offer without (active) video. Raises
    :class:`UnsupportedCodecs` if the consult's codec (or, before it is fixed, any
    codec we forward) is missing from a video m-line.
    """
    active = [s for s in sections if s.port != 0]
    if not active:
        return None
    candidates = (fixed,) if fixed is not None else VIDEO_PREFERENCE
    for choice in candidates:
        if all(any(choice.matches(c) for c in s.codecs) for s in active):
            return choice
    offered = "; ".join(_describe(s) for s in active)
    if fixed is not None:
        raise UnsupportedCodecs(
            f"this consult's video codec is {fixed.label()} (fixed by the first party); "
            f"the offer has only: {offered}"
        )
    raise UnsupportedCodecs(
        "the offer's video has no codec the server can forward without transcoding "
        f"(VP8, or H.264 constrained baseline with packetization-mode=1); it has: {offered}"
    )


def check_audio(sections: list[MediaSection]) -> None:
    for s in sections:
        if s.port != 0 and not any(
            c.mime_subtype == "OPUS" and c.clock_rate == 48000 for c in s.codecs
        ):
            raise UnsupportedCodecs(
                f"the offer's audio m-line {s.index} has no Opus; it has: {_describe(s)}"
            )


def audio_capabilities() -> list[RTCRtpCodecCapability]:
    caps = [
        c
        for c in RTCRtpSender.getCapabilities("audio").codecs
        if c.mimeType.lower() == "audio/opus"
    ]
    if not caps:
        raise UnsupportedCodecs("aiortc offers no Opus capability")
    return caps
