"""The forwarding path adds no audio jitter-buffer delay (aiortc's default adds ~80 ms)."""

from __future__ import annotations

import statistics


async def server_audio_delay(
    make_consult, make_client, connected, wait, low_latency: bool
) -> float:
    """Median time from the physician's microphone frame to the server's sink, in ms."""
    consult = make_consult(consult_id=f"c-latency-{low_latency}", low_latency_audio=low_latency)
    physician = make_client("physician")
    await connected(consult, {"physician": physician})
    await wait(lambda: len(consult.sink.of("physician", "audio")) >= 60, 10, "60 audio packets")
    delays = []
    for packet in consult.sink.of("physician", "audio")[:60]:
        sent = physician.audio.sent_at.get(packet.pts)  # both timelines start at the first frame
        if sent is not None:
            delays.append(consult.sink.arrival[("physician", "audio", packet.pts)] - sent)
    await consult.media.close()
    assert len(delays) >= 50
    return statistics.median(delays) * 1000


async def test_forwarded_audio_skips_aiortcs_prefetch(make_consult, make_client, connected, wait):
    forwarded = await server_audio_delay(make_consult, make_client, connected, wait, True)
    aiortc_default = await server_audio_delay(make_consult, make_client, connected, wait, False)
    print(f"mic→server audio: forwarding buffer {forwarded:.1f} ms, aiortc {aiortc_default:.1f} ms")
    assert forwarded < 30, forwarded
    assert aiortc_default - forwarded > 50, (forwarded, aiortc_default)
