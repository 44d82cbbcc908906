"""Pure RTP logic: what the forwarding path does with packets, apart from aiortc's objects.

* :mod:`media.rtp.reader` — a received packet's fixed header, extensions on demand,
  RTX unwrapping, the VP8 payload descriptor.
* :mod:`media.rtp.writer` — a downstream leg's packets: header, extensions, RTX payloads,
  the layout a sender's answer fixed; the NTP and abs-send-time clocks.
* :mod:`media.rtp.sequence` — 16-bit sequence-number arithmetic.
* :mod:`media.rtp.jitter_buffers` — the forwarding receivers' audio and video buffers
  (a frame leaves as soon as it is whole; an unrepaired hole is skipped).
* :mod:`media.rtp.uplink_estimate` — aiortc's receive-side bandwidth estimator, cheaper
  per packet, same results.

Nothing here touches a private name of aiortc, aioice or pylibsrtp
(``tests/media/test_private_names.py`` holds it to that), so all of it can be read and
unit-tested on its own; :mod:`media.aiortc_bridge` plugs it into aiortc's receivers and
senders.
"""
