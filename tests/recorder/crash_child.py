"""Child process for the SIGKILL test: records paced packets until it is killed.

Usage: python crash_child.py PACKETS.pickle OUTPUT_DIR

Reads (kind, codec, data, pts, time_base, keyframe, media_time_s) tuples, feeds
them at real-time pace with real arrival times, and after each packet writes
"fed <kind> <count so far> <media_time_s>" to stdout so the parent knows how far it got.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
import time
from pathlib import Path
from typing import Any

from recorder.participant_recording import ParticipantRecording


async def main(packets: list[tuple[Any, ...]], directory: Path) -> None:
    recording = ParticipantRecording(directory, "guardian")
    recording.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    started = time.monotonic()
    counts = {"audio": 0, "video": 0}
    for kind, codec, data, pts, time_base, keyframe, media_time_s in packets:
        delay = started + media_time_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        recording.add_frame(kind, codec, data, pts, time_base, keyframe, time.time())
        counts[kind] += 1
        sys.stdout.write(f"fed {kind} {counts[kind]} {media_time_s:.3f}\n")
        sys.stdout.flush()
    await recording.finish()
    sys.stdout.write("finished\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(pickle.loads(Path(sys.argv[1]).read_bytes()), Path(sys.argv[2])))
