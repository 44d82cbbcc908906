"""Two commits side by side, at the same moments: what a change to the media path bought.

    .venv/bin/python -m bench.ab BEFORE AFTER [--n 3] [--pairs 4] [--seconds 20]
    .venv/bin/python -m bench.ab HEAD HEAD --after-mode janus    # shouzhen against Janus

Each commit is checked out in a worktree (sharing this checkout's ``.venv`` and
``bench/.media``). A pair runs the two harnesses *at once*: both servers on CPU 0,
both generators on CPU 1, the same load, so a slower or faster minute of this shared
VM touches both alike. Runs one after the other could not see a 5 % step here: the
VM's speed drifts by more than that between minutes. Within a pair it cancels; the
ratio AFTER/BEFORE of CPU-s/s per consult is the measure (an A/A pair of one commit
read 0.995 and 1.006). Both servers share one core, so the absolute figures are a
little above a run alone; compare the ratios. ``--after-mode janus`` pairs a commit with
Janus the same way: the one drift-free reading of "CPU per consult within 2× of Janus".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worktree(rev: str, parent: Path) -> Path:
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    path = parent / sha
    if not path.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-f", "--detach", "-q", str(path), sha],
            check=True,
        )
        (path / ".venv").symlink_to(ROOT / ".venv")
        # A fresh checkout has no clip cache yet: a link to nothing would fail both harnesses.
        (ROOT / "bench" / ".media").mkdir(exist_ok=True)
        (path / "bench" / ".media").symlink_to(ROOT / "bench" / ".media")
    return path


def run_pair(
    sides: list[tuple[Path, str]], args: argparse.Namespace, out: Path, i: int
) -> list[dict]:
    procs = []
    for k, (tree, mode) in enumerate(sides):
        result = out / f"pair{i}-{k}.json"
        command = [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "bench",
            "--n",
            str(args.n),
            "--modes",
            mode,
            "--seconds",
            str(args.seconds),
            "--warmup",
            "6",
            "--out",
            str(result),
        ]
        log = open(out / f"pair{i}-{k}.log", "w")
        procs.append((subprocess.Popen(command, cwd=tree, stdout=log, stderr=log), result))
    rows = []
    for proc, result in procs:
        proc.wait()
        row = json.loads(result.read_text())["rows"][0]
        if "error" in row:
            raise SystemExit(f"a harness failed ({row['error']}): see {result.with_suffix('.log')}")
        rows.append(row)
    return rows


def measure(sides: list[tuple[Path, str]], args: argparse.Namespace, out: Path) -> list[dict]:
    pairs = []
    for i in range(args.pairs):
        # Alternate which harness starts first.
        order = sides if i % 2 == 0 else sides[::-1]
        rows = run_pair(order, args, out, i)
        before, after = rows if i % 2 == 0 else rows[::-1]
        ratio = after["cpu_per_consult"] / before["cpu_per_consult"]
        pairs.append({"before": before, "after": after, "ratio": ratio})
        print(
            f"pair {i + 1}: {before['cpu_per_consult']:.4f} → {after['cpu_per_consult']:.4f}"
            f" CPU-s/s per consult, ratio {ratio:.3f}; loss {before['video_loss']:.2%} / "
            f"{after['video_loss']:.2%}; video delay p95 {before['video_delay_p95_ms']} / "
            f"{after['video_delay_p95_ms']} ms; join → first frame p95 "
            f"{before['join_first_frame_p95_s']} / {after['join_first_frame_p95_s']} s",
            flush=True,
        )
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--n", type=int, default=3, help="consults per server")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--before-mode", default="passthrough")
    parser.add_argument("--after-mode", default="passthrough", help="janus: compare with Janus")
    parser.add_argument("--out", type=Path, default=None, help="JSON with every pair")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    parent = Path(os.environ.get("BENCH_WORKTREES", tempfile.gettempdir())) / "shouzhen-ab"
    parent.mkdir(exist_ok=True)
    sides = [
        (worktree(args.before, parent), args.before_mode),
        (worktree(args.after, parent), args.after_mode),
    ]
    try:
        pairs = measure(sides, args, out)
    finally:
        # The checkout is left with no worktrees registered (they cost a checkout next time).
        for tree in {tree for tree, _ in sides}:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )
    ratios = [p["ratio"] for p in pairs]
    spread = (min(ratios), max(ratios))
    print(
        f"{args.before} ({args.before_mode}) → {args.after} ({args.after_mode}), N={args.n}, "
        f"{len(pairs)} simultaneous pairs: "
        f"ratio {statistics.mean(ratios):.3f} (range {spread[0]:.3f}–{spread[1]:.3f})"
    )
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "before": args.before,
                    "after": args.after,
                    "n": args.n,
                    "pairs": pairs,
                    "before_mode": args.before_mode,
                    "after_mode": args.after_mode,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
