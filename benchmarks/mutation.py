"""Mutation check of the learning rules and the control-law synthesiser, with mutmut's mutation engine.

mutmut (2.x) enumerates its mutants of ``neurocontrol/nets/rules.py`` and
``neurocontrol/controllers/laws.py`` (operators, numbers, comparisons,
keywords, strings, arguments); a seeded random sample of them is applied one
at a time to a *copy* of the repository (never to the working tree) and a fast
test subset runs against each mutant. A mutant is killed when the tests fail
(or error, or time out), survived when they pass. The record (every mutant:
file, line, mutated line, status) is written as JSON; docs/testing.md reports
the kill rate and the survivors.

    .venv/bin/pip install "mutmut==2.5.1"
    .venv/bin/python benchmarks/mutation.py --sample 100 --seed 0 --jobs 2 --json benchmarks/records/mutation.json

The copy's compiled numba kernels are cached once (the mutated files hold no
kernels), so a mutant costs one pytest start plus the subset. The subset runs
with ``-x`` and the fast reference file first, so a killed mutant usually
stops within seconds; a survivor runs the whole subset. ``--jobs N`` runs N
mutants at a time, each in its own copy (each copy compiles its kernels once).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import _git_commit, machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("neurocontrol/nets/rules.py", "neurocontrol/controllers/laws.py")
#: The fast reference tests first: with ``-x`` most killed mutants stop there.
TESTS = ("tests/test_rules_laws_reference.py", "tests/test_learning.py", "tests/test_synth.py")
IGNORE = shutil.ignore_patterns(".venv", ".git", "__pycache__", ".hypothesis", "*.pyc", "mutants")


def list_mutants(copy: Path, targets=TARGETS) -> list[tuple[str, object]]:
    """Every mutmut mutant of the target files, as (file, RelativeMutationID)."""
    import mutmut

    out = []
    for name in targets:
        src = (copy / name).read_text()
        ctx = mutmut.Context(source=src, filename=name, dict_synonyms=[])
        out += [(name, mid) for mid in mutmut.list_mutations(ctx)]
    return out


def apply(copy: Path, name: str, mid) -> str:
    """Write the mutant into the copy; return the mutated source."""
    import mutmut

    src = (ROOT / name).read_text()
    ctx = mutmut.Context(source=src, filename=name, mutation_id=mid, dict_synonyms=[])
    mutated, n = mutmut.mutate(ctx)
    assert n == 1, (name, mid)
    (copy / name).write_text(mutated)
    return mutated


def run_tests(copy: Path, tests, timeout: float) -> str:
    """``killed`` if the subset fails, errors or times out; ``survived`` if it passes."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *tests]
    try:
        p = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "killed (timeout)"
    return "survived" if p.returncode == 0 else "killed"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=180, help="mutants to run (a seeded random sample); 0: all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120.0, help="s per mutant")
    ap.add_argument("--tests", nargs="*", default=list(TESTS))
    ap.add_argument("--targets", nargs="*", default=list(TARGETS), help="files to mutate (default: the rules and laws)")
    ap.add_argument("--jobs", type=int, default=1, help="mutants run at a time, each in its own copy")
    ap.add_argument("--copy", help="work in this directory (made from the repository); default: a temp dir")
    ap.add_argument("--json", help="write the record here")
    ap.add_argument("--rerun", metavar="RECORD", help="run again only the survivors of this record (same mutant list)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"argument --jobs: must be >= 1, got {args.jobs}")

    work = Path(args.copy or tempfile.mkdtemp(prefix="nc_mutation_"))
    copies = [work / ("repo" if j == 0 else f"repo{j}") for j in range(args.jobs)]
    for copy in copies:
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(ROOT, copy, ignore=IGNORE)
    tests = [t for t in args.tests if (copies[0] / t).exists()]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        bases = list(pool.map(lambda c: run_tests(c, tests, args.timeout * 3), copies))
    if any(b != "survived" for b in bases):
        print(f"the test subset fails on the unmutated code ({bases}): fix that first", file=sys.stderr)
        return 2
    print(f"baseline: subset passes ({time.perf_counter() - t0:.1f} s, includes numba compilation)", flush=True)

    mutants = list_mutants(copies[0], args.targets)
    rng = random.Random(args.seed)
    chosen = sorted(rng.sample(range(len(mutants)), args.sample)) if 0 < args.sample < len(mutants) \
        else list(range(len(mutants)))
    previous = {}
    if args.rerun:
        previous = {r["index"]: r for r in json.loads(Path(args.rerun).read_text())["mutants"]}
        chosen = sorted(i for i, r in previous.items() if r["status"] == "survived")
    free = queue.Queue()
    for copy in copies:
        free.put(copy)
    lock = threading.Lock()
    done = []

    def one(i):
        name, mid = mutants[i]
        copy = free.get()
        try:
            apply(copy, name, mid)
            try:
                status = run_tests(copy, tests, args.timeout)
            finally:
                shutil.copyfile(ROOT / name, copy / name)
        finally:
            free.put(copy)
        row = {"index": i, "file": name, "line_number": mid.line_number + 1, "line": mid.line.strip(),
               "index_in_line": mid.index, "status": status}
        with lock:
            done.append(row)
            print(f"[{len(done)}/{len(chosen)}] {status:<17} {name}:{mid.line_number + 1}  {mid.line.strip()[:90]}",
                  flush=True)
        return row

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = sorted(pool.map(one, chosen), key=lambda r: r["index"])
    if previous:
        again = {r["index"]: r for r in rows}
        rows = [again.get(i, r) for i, r in sorted(previous.items())]
    killed = sum(r["status"].startswith("killed") for r in rows)
    wall = time.perf_counter() - t0
    summary = {"mutants_total": len(mutants), "run": len(rows), "killed": killed, "survived": len(rows) - killed,
               "kill_rate": killed / len(rows) if rows else None, "seed": args.seed, "tests": tests,
               "wall_s": round(wall, 1), "jobs": args.jobs,
               "per_file": {n: {"run": sum(r["file"] == n for r in rows),
                                "killed": sum(r["file"] == n and r["status"].startswith("killed") for r in rows)}
                            for n in args.targets}}
    print(json.dumps(summary, indent=1))
    if args.json:
        command = "python benchmarks/mutation.py " + " ".join(argv if argv is not None else sys.argv[1:])
        record = {"benchmark": "mutation", "command": command, "git_commit": _git_commit(),
                  "measured_at": time.strftime("%Y-%m-%d"), "machine": machine(), "summary": summary,
                  "mutants": rows}
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
