"""Summarise a py-spy raw (collapsed stacks) file: where the server's busy time goes.

    .venv/bin/python -m bench.profile_summary bench/results/profile.txt

Works on both kinds of profile ``python -m bench --profile-mode …`` records:

* ``--profile-native`` (C frames included): only the event-loop thread counts (stacks
  through ``Runner.run``), samples resting in ``epoll_wait`` are idle and left out, and
  C time is booked where it is spent (libsrtp, the socket calls, uvloop, the GC).
* the default (Python frames only): every sample counts.

Each sample goes to the first area that matches, reading its stack from the innermost
frame outwards, so a Python function's share is its own time plus the C it calls that
no C area claims.
"""

from __future__ import annotations

import collections
import sys

C_AREAS = [  # matched against any frame
    ("kernel: send (sendto/sendmsg)", ("sendmsg (libc", "sendto (libc", "__libc_send")),
    ("kernel: receive (recvfrom/recvmsg)", ("recvmsg (libc", "recvfrom (libc")),
    (  # libsrtp in C and the Python that calls it (pylibsrtp's wrapper, or RtpProtection)
        "SRTP protect/unprotect (libsrtp + its Python caller)",
        ("_binding.abi3.so", "pylibsrtp/", "RtpProtection."),
    ),
    ("garbage collector", ("gc_collect",)),
]
PY_AREAS = [  # matched against Python frames (file paths)
    ("aiortc REMB estimator (rate.py)", ("aiortc/rate.py",)),
    ("aiortc RTP/RTCP parse and build (rtp.py)", ("aiortc/rtp.py",)),
    ("aiortc depayload (codecs/)", ("aiortc/codecs/",)),
    ("aiortc receiver: stats, NACK, routing", ("rtcrtpreceiver.py",)),
    ("aiortc sender: RTCP loop", ("rtcrtpsender.py",)),
    ("aiortc DTLS transport", ("rtcdtlstransport.py",)),
    ("aiortc clock (datetime)", ("aiortc/clock.py",)),
    ("aioice (ICE, STUN, datagram hand-over)", ("aioice/",)),
    ("aiortc, other", ("aiortc/",)),
    ("shouzhen REMB estimator (media/uplink_estimate.py)", ("media/uplink_estimate.py",)),
    ("shouzhen forwarding (media/)", ("media/",)),
    ("shouzhen recorder (recorder/)", ("recorder/",)),
    (
        "shouzhen server, signalling, database",
        ("server/", "signaling/", "sqlalchemy/", "engineio/"),
    ),
    ("asyncio in Python (queues, tasks, futures)", ("asyncio/",)),
]
UVLOOP = ("(loop.c", "(core.c", "(udp.c", "(handle.c", "uv_", "uv__")
IDLE = ("epoll_wait", "epoll_pwait")


def classify(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in C_AREAS:
            if any(n in frame for n in needles):
                return name
        if ".py:" in frame:
            for name, needles in PY_AREAS:
                if any(n in frame for n in needles):
                    return name
            return "Python, other: " + frame.split("(")[-1].split(":")[0]
        if any(n in frame for n in UVLOOP):
            return "uvloop's C loop (callbacks, handles, timers)"
    return "C, other"


def main() -> None:
    areas: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    samples = idle = 0
    native = False
    for line in open(sys.argv[1]):
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        native = native or any("(libc.so" in f or ".c:" in f for f in frames)
        if native and not any("Runner.run" in f for f in frames):
            continue  # another thread (recorder writer, database, idle decoder threads)
        if frames[-1].startswith(IDLE):
            idle += n
            continue
        samples += n
        areas[classify(frames)] += n
        self_time[frames[-1]] += n
    kind = "event-loop thread, busy samples (native)" if native else "samples (Python frames)"
    print(f"{samples} {kind}; {idle} idle samples left out")
    print("\nby area (innermost match):")
    for name, n in areas.most_common():
        print(f"  {100 * n / samples:5.1f}%  {name}")
    print("\nself time, top frames:")
    for name, n in self_time.most_common(15):
        print(f"  {100 * n / samples:5.1f}%  {name}")


if __name__ == "__main__":
    main()
