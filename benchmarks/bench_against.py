"""Control-step speed of this tree against an earlier revision, measured in one run.

Checks out REV into a temporary git worktree, then runs each tree's own
``benchmarks/bench_controller.py`` in alternation (``--pairs`` times), each in a
fresh interpreter with that tree first on ``sys.path``, and prints the median
adaptive and LQR control steps of both and their ratios. Alternating the runs
lets a busy machine slow both trees alike.

Run from the repository root::

    python benchmarks/bench_against.py 6ce1686 [--pairs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_ROW = re.compile(r"^(adaptive|lqr)\s+([0-9.]+)", re.M)


def _bench(tree: Path) -> dict[str, float]:
    """Run ``tree``'s controller benchmark once; return its median step (us) per controller."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, str(tree / "benchmarks" / "bench_controller.py")], cwd=tree, env=env,
                         capture_output=True, text=True, check=True).stdout
    found = {k: float(v) for k, v in _ROW.findall(out)}
    if set(found) != {"adaptive", "lqr"}:
        raise RuntimeError(f"could not read the benchmark's table from:\n{out}")
    return found


def main(argv=None) -> dict:
    """Measure and print; return the medians and ratios.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev", help="the earlier revision, e.g. a commit hash")
    ap.add_argument("--pairs", type=int, default=3, help="alternating runs of each tree (default 3)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old), args.rev], cwd=ROOT, check=True)
        try:
            runs = {"old": [], "new": []}
            for k in range(args.pairs):
                for name, tree in (("old", old), ("new", ROOT)) if k % 2 == 0 else (("new", ROOT), ("old", old)):
                    runs[name].append(_bench(tree))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    med = {name: {c: statistics.median(r[c] for r in rs) for c in ("adaptive", "lqr")} for name, rs in runs.items()}
    print(f"median control step over {args.pairs} alternating runs (us)")
    print(f"{'':10s}{args.rev[:10]:>12s}{'this tree':>12s}{'new/old':>10s}")
    for c in ("adaptive", "lqr"):
        print(f"{c:10s}{med['old'][c]:12.1f}{med['new'][c]:12.1f}{med['new'][c] / med['old'][c]:10.2f}")
    for name in ("old", "new"):
        print(f"adaptive/LQR ({name}): {med[name]['adaptive'] / med[name]['lqr']:.2f}")
    return med


if __name__ == "__main__":
    main()
