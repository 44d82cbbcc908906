"""Typed errors of the media layer.

The signaling layer maps these to messages for the browser; nothing from aiortc
escapes raw, so a caller only ever has to catch :class:`MediaError`.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base class of every error the media layer raises on purpose."""


class InvalidOffer(MediaError):
    """The SDP offer cannot be parsed or is missing something WebRTC requires."""


class UnsupportedCodecs(MediaError):
    """The offer has no codec this consult can forward without transcoding."""


class NoPeerYet(MediaError):
    """The role has no peer connection: an offer must come first."""


class InvalidCandidate(MediaError):
    """A trickled ICE candidate cannot be parsed or applied."""


class ForwardingHookBroken(MediaError):
    """aiortc's internals moved: the encoded-frame forwarding hook cannot work.

    Raised at start-up (``media.consult_media.verify_media_runtime``) rather than failing
    mid-consult: with the hook missing, aiortc would silently decode and
    re-encode every frame.
    """
