"""CPU per consult against N, one line per mode:  python -m bench.plot RESULTS.json [...]"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or [Path(__file__).parent / "results" / "vp8-1worker.json"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for path in paths:
        doc = json.loads(path.read_text())
        rows = [r for r in doc["rows"] if "error" not in r]
        for mode in dict.fromkeys(r["mode"] for r in rows):
            pts = sorted((r["n"], r["cpu_per_consult"], r["clean"]) for r in rows
                         if r["mode"] == mode)
            label = f"{mode} [{path.stem}]"
            _line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
            for n, cpu, clean in pts:
                if not clean:
                    ax.plot([n], [cpu], marker="x", color="red", markersize=10)
    ax.set_xlabel("concurrent recorded consults (N)")
    ax.set_ylabel("server CPU-s per second per consult")
    ax.set_yscale("log")
    ax.set_title("CPU per consult vs N (red x: loss > 1%, loop lag p99 > 50 ms or setup error)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    out = Path(__file__).parent / "cpu_per_consult.png"
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("written", out)


if __name__ == "__main__":
    main()
