"""Just enough of the VP8 and H.264 bitstreams to read a keyframe's picture size.

The recorder never decodes media, but a Matroska video track has to declare its
width and height before the first block is written, and a change of picture size
starts a new segment. Both facts live in headers that are cheap to read: the VP8
keyframe header (RFC 6386 §9.1) and the H.264 sequence parameter set (ITU-T H.264
§7.3.2.1.1). Everything here is pure and runs in the writer thread, never on the
event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

H264_NAL_IDR = 5
H264_NAL_SPS = 7
H264_NAL_PPS = 8

# Profiles whose SPS carries chroma format, bit depth and scaling lists (§7.3.2.1.1).
_H264_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})

_VP8_START_CODE = b"\x9d\x01\x2a"


class BitstreamError(ValueError):
    """A header is too short or inconsistent to be read."""


@dataclass(frozen=True, slots=True)
class FrameSize:
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def vp8_is_keyframe(data: bytes) -> bool:
    # Bit 0 of the frame tag is 0 for a keyframe (RFC 6386 §9.1).
    return len(data) >= 3 and data[0] & 0x01 == 0


def vp8_keyframe_size(data: bytes) -> FrameSize | None:
    """Picture size of a VP8 keyframe, None for an inter-frame."""
    if not vp8_is_keyframe(data):
        return None
    if len(data) < 10 or data[3:6] != _VP8_START_CODE:
        raise BitstreamError("VP8 keyframe without a valid start code")
    # 14 bits of size, 2 bits of upscaling hint that the picture size ignores.
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    if width == 0 or height == 0:
        raise BitstreamError("VP8 keyframe with a zero dimension")
    return FrameSize(width, height)


def h264_nal_units(data: bytes) -> list[bytes]:
    """Split an Annex-B access unit (start-code delimited, as aiortc depayloads it).

    Uses bytes.find so a 100 kB keyframe costs microseconds: this runs in the
    writer thread, which shares the GIL with the event loop.
    """
    payload_starts: list[int] = []
    code_starts: list[int] = []
    position = data.find(b"\x00\x00\x01")
    while position != -1:
        # A 4-byte start code is a zero byte followed by the 3-byte one.
        code_starts.append(position - 1 if position > 0 and data[position - 1] == 0 else position)
        payload_starts.append(position + 3)
        position = data.find(b"\x00\x00\x01", position + 3)
    units: list[bytes] = []
    for k, begin in enumerate(payload_starts):
        if k + 1 < len(payload_starts):
            # Zero bytes before the next start code are trailing_zero_8bits, not payload.
            unit = data[begin : code_starts[k + 1]].rstrip(b"\x00")
        else:
            unit = data[begin:]
        if unit:
            units.append(unit)
    return units


def h264_length_prefixed_units(data: bytes, length_size: int = 4) -> list[bytes]:
    """Split an AVCC (length-prefixed) access unit, as Matroska stores H.264."""
    units: list[bytes] = []
    i = 0
    while i + length_size <= len(data):
        size = int.from_bytes(data[i : i + length_size], "big")
        i += length_size
        if size == 0 or i + size > len(data):
            raise BitstreamError("truncated length-prefixed NAL unit")
        units.append(data[i : i + size])
        i += size
    if i != len(data):
        raise BitstreamError("trailing bytes after the last NAL unit")
    return units


def h264_nal_type(unit: bytes) -> int:
    return unit[0] & 0x1F


def h264_starting_keyframe_size(data: bytes) -> FrameSize | None:
    """Picture size if this access unit can open a recording: IDR with SPS and PPS.

    A Matroska H.264 track needs its avcC (SPS + PPS) before the first block, and
    PyAV extracts it from the first packet only, so an IDR without in-band
    parameter sets cannot start a segment.
    """
    units = h264_nal_units(data)
    types = {h264_nal_type(u) for u in units}
    if not {H264_NAL_IDR, H264_NAL_SPS, H264_NAL_PPS} <= types:
        return None
    sps = next(u for u in units if h264_nal_type(u) == H264_NAL_SPS)
    return h264_sps_frame_size(sps)


def h264_sps_size_in(data: bytes) -> FrameSize | None:
    """Picture size from the first SPS in an Annex-B access unit, if it has one."""
    for unit in h264_nal_units(data):
        if h264_nal_type(unit) == H264_NAL_SPS:
            return h264_sps_frame_size(unit)
    return None


def starting_keyframe_size(codec: str, data: bytes) -> FrameSize | None:
    """Size of a keyframe that can open a video track, None if this packet cannot."""
    if codec == "vp8":
        return vp8_keyframe_size(data)
    if codec == "h264":
        return h264_starting_keyframe_size(data)
    raise BitstreamError(f"unsupported video codec {codec!r}")


def announced_size(codec: str, data: bytes) -> FrameSize | None:
    """Picture size announced by this packet (VP8 keyframe or any H.264 SPS), else None."""
    if codec == "vp8":
        return vp8_keyframe_size(data)
    if codec == "h264":
        return h264_sps_size_in(data)
    raise BitstreamError(f"unsupported video codec {codec!r}")


def _rbsp(unit: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 → 00 00)."""
    out = bytearray()
    zeros = 0
    for byte in unit:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def bit(self) -> int:
        byte_index = self._pos >> 3
        if byte_index >= len(self._data):
            raise BitstreamError("SPS ended early")
        value = (self._data[byte_index] >> (7 - (self._pos & 7))) & 1
        self._pos += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        leading_zeros = 0
        while self.bit() == 0:
            leading_zeros += 1
            if leading_zeros > 31:
                raise BitstreamError("exp-Golomb code too long")
        return (1 << leading_zeros) - 1 + self.bits(leading_zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


def _skip_scaling_list(reader: _BitReader, size: int) -> None:
    last_scale = 8
    next_scale = 8
    for _ in range(size):
        if next_scale != 0:
            next_scale = (last_scale + reader.se() + 256) % 256
        last_scale = next_scale if next_scale != 0 else last_scale


def h264_sps_frame_size(sps_unit: bytes) -> FrameSize:
    """Cropped picture size from an SPS NAL unit (header byte included)."""
    if len(sps_unit) < 4 or h264_nal_type(sps_unit) != H264_NAL_SPS:
        raise BitstreamError("not an SPS NAL unit")
    reader = _BitReader(_rbsp(sps_unit[1:]))
    profile_idc = reader.bits(8)
    reader.bits(16)  # constraint flags, level_idc
    reader.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    separate_colour_plane = 0
    if profile_idc in _H264_HIGH_PROFILES:
        chroma_format_idc = reader.ue()
        if chroma_format_idc == 3:
            separate_colour_plane = reader.bit()
        reader.ue()  # bit_depth_luma_minus8
        reader.ue()  # bit_depth_chroma_minus8
        reader.bit()  # qpprime_y_zero_transform_bypass_flag
        if reader.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if reader.bit():
                    _skip_scaling_list(reader, 16 if i < 6 else 64)
    reader.ue()  # log2_max_frame_num_minus4
    pic_order_cnt_type = reader.ue()
    if pic_order_cnt_type == 0:
        reader.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif pic_order_cnt_type == 1:
        reader.bit()  # delta_pic_order_always_zero_flag
        reader.se()  # offset_for_non_ref_pic
        reader.se()  # offset_for_top_to_bottom_field
        for _ in range(reader.ue()):  # num_ref_frames_in_pic_order_cnt_cycle
            reader.se()
    reader.ue()  # max_num_ref_frames
    reader.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = reader.ue() + 1
    height_map_units = reader.ue() + 1
    frame_mbs_only = reader.bit()
    if not frame_mbs_only:
        reader.bit()  # mb_adaptive_frame_field_flag
    reader.bit()  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_map_units * 16
    if reader.bit():  # frame_cropping_flag
        left, right, top, bottom = reader.ue(), reader.ue(), reader.ue(), reader.ue()
        chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
        if chroma_array_type == 0:
            crop_x, crop_y = 1, 2 - frame_mbs_only
        else:
            sub_width = 2 if chroma_format_idc in (1, 2) else 1
            sub_height = 2 if chroma_format_idc == 1 else 1
            crop_x, crop_y = sub_width, sub_height * (2 - frame_mbs_only)
        width -= (left + right) * crop_x
        height -= (top + bottom) * crop_y
    if width <= 0 or height <= 0:
        raise BitstreamError("SPS describes an empty picture")
    return FrameSize(width, height)
