"""A consult's media on this node: encoded frames received from each party's browser and
forwarded to the others, never decoded or re-encoded on the way.

* :mod:`media.consult_media` — :class:`~media.consult_media.ConsultMedia`, the media port
  the signaling layer drives (offers, ICE, keyframes, stats), and
  :func:`~media.consult_media.verify_media_runtime`, the start-up check.
* :mod:`media.inbound` — a party's stream of one kind across its reconnects (the sink and
  the downstream legs hang off it); :mod:`media.forwarding_strategies` — the downstream
  legs, one class per way of forwarding.
* :mod:`media.rtp` — pure RTP logic; :mod:`media.aiortc_bridge` — the only code that
  touches aiortc's, aioice's or pylibsrtp's private names.
* Codecs and SDP (:mod:`media.codec_policy`, :mod:`media.session_description`,
  :mod:`media.bitstream`), frames and timing (:mod:`media.encoded_frame`,
  :mod:`media.timeline`), stills decoded off the hot path (:mod:`media.still_capture`).

The words of this code, and mediasoup's for the same things:

=========================  ==================================================================
here                       mediasoup
=========================  ==================================================================
``ConsultMedia``           Router: one consult's media on this node
``Peer``                   WebRtcTransport: one RTCPeerConnection of a party (ICE, DTLS,
                           SRTP; one transport for all m-lines with BUNDLE)
``InboundStream``          Producer: a party's audio or video, kept across its reconnects
receive lane               the Producer's RtpStreamRecv: receive statistics, NACK generator,
(``ReceiveLane``)          and the REMB estimate (mediasoup keeps it on the transport)
hand-off                   none: mediasoup forwards packets; here a whole frame leaves the
(``FrameHandOff``)         receiver in the call that completed it
forwarder, downstream      Consumer (``PassthroughForwarder`` ≈ SimpleConsumer;
leg (``Forwarder``)        ``TranscodingRelay``, the benchmark baseline, has no counterpart)
RTP leg (``RtpLeg``)       the Consumer's RtpStreamSend: its own SSRC, sequence numbers and
                           timestamps, retransmission buffer, Sender Reports
sink (``FrameSink``)       a Consumer on a DirectTransport that feeds a recorder
=========================  ==================================================================
"""
