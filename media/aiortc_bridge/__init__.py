"""The aiortc bridge: the only code that touches private names of aiortc, aioice or pylibsrtp.

aiortc 1.16 has no public API to receive encoded frames, to send RTP packets one has, or
to see RTCP feedback on a sender. The bridge adds exactly that, and runs the steps of
aiortc's per-packet path, where they cost the most CPU, in fewer calls.
``tests/media/test_private_names.py`` fails if a private name of those three packages
appears anywhere else (server/, signaling/, media/, recorder/, bench/).

By concern:

* :mod:`~media.aiortc_bridge.guard` — :class:`~media.aiortc_bridge.guard.Requirement`, and
  the check that every requirement of the modules below still holds on the installed
  packages (:func:`~media.aiortc_bridge.guard.verify_aiortc`, once per process; the server
  calls it at start-up through :func:`media.consult_media.verify_media_runtime`).
* :mod:`~media.aiortc_bridge.receive` — a prepared receiver: the frame hand-off (encoded
  frames to a listener in the call that completed them, no decoder thread), the forwarding
  jitter buffers swapped in, PLI/REMB upstream
  (:class:`~media.aiortc_bridge.receive.ReceiverHooks`).
* :mod:`~media.aiortc_bridge.receive_lane` — received RTP in one plain call (``RtpInput``
  on the transport, ``ReceiveLane`` per receiver) doing what aiortc's packet handler does.
* :mod:`~media.aiortc_bridge.receiver_bookkeeping` — aiortc's receiver statistics and NACK
  generator with fewer calls per packet.
* :mod:`~media.aiortc_bridge.srtp` — SRTP in the call that received it (``DirectSrtp``),
  libsrtp on a session's own context (``RtpProtection``).
* :mod:`~media.aiortc_bridge.send` — the RTP leg (``RtpLeg``): a downstream leg's packets
  written and sent by the bridge (``DirectSend``), NACKs answered, Sender Reports kept in
  step; PLI/REMB seen on a sender (``hook_sender``).
* :mod:`~media.aiortc_bridge.run_now` — aiortc's handler coroutines run in the calling
  frame.
* :mod:`~media.aiortc_bridge.client_side` — what the benchmark's load client (an aiortc
  peer standing in for a browser) reaches for; the server never uses it.

The pure RTP logic the bridge plugs in (packet reader and writer, jitter buffers, sequence
arithmetic, the uplink estimate) lives in :mod:`media.rtp`.
"""
