"""Summarise a py-spy raw (collapsed stacks) file: self time by function and by area.

    .venv/bin/python -m bench.profile_summary bench/results/profile.txt
"""

from __future__ import annotations

import collections
import sys

AREAS = [  # first match on the stack (innermost first) wins
    ("SRTP protect/unprotect (pylibsrtp)", ("pylibsrtp",)),
    ("RTP packet parse/serialize", ("rtp.py",)),
    ("VP8/H.264/Opus depayload + re-packetise", ("codecs/vpx.py", "codecs/h264.py", "codecs/opus.py")),
    ("jitter buffer", ("jitterbuffer.py",)),
    ("recorder (mux to file)", ("recorder/",)),
    ("shouzhen forwarding (media/)", ("media/",)),
    ("aiortc sender", ("rtcrtpsender.py",)),
    ("aiortc receiver + RTCP", ("rtcrtpreceiver.py", "rate.py")),
    ("DTLS/ICE transport (aiortc/aioice)", ("rtcdtlstransport.py", "aioice", "rtcicetransport.py")),
    ("asyncio event loop / selectors", ("asyncio/", "selectors.py")),
    ("threads (decoder workers, queues)", ("threading.py", "queue.py")),
]


def main() -> None:
    self_time: collections.Counter[str] = collections.Counter()
    area: collections.Counter[str] = collections.Counter()
    total = 0
    for line in open(sys.argv[1]):
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        self_time[frames[-1]] += n
        for name, needles in AREAS:
            if any(any(nd in f for nd in needles) for f in reversed(frames[-3:])):
                area[name] += n
                break
        else:
            area["other: " + frames[-1].split(" (")[0]] += n
    print(f"{total} samples")
    print("\nby area (innermost 3 frames):")
    for name, n in area.most_common(14):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("\nself time, top functions:")
    for name, n in self_time.most_common(15):
        print(f"  {100 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
