"""The results tables in README.md and docs/ against the benchmark records they are made from.

A table must equal what ``docs/make_tables.py`` renders from its record, and a
record must have been measured on the scenario files as shipped (the
``Scenario.sha256`` stored in the record equals the file's today); otherwise
the figures in the docs are stale and must be re-measured.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import re
from pathlib import Path

import pytest
from project_scripts import load_script

from neurocontrol.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "benchmarks" / "records"


MT = load_script("docs/make_tables.py")
USED_RECORDS = sorted({r for _, records, _ in MT.TABLES.values() for r in records})
PAGES = sorted({page for page, _, _ in MT.TABLES.values()})


@pytest.mark.parametrize("name", sorted(MT.TABLES))
def test_every_table_has_its_markers_once(name):
    page = MT.TABLES[name][0]
    text = (ROOT / page).read_text()
    assert text.count(f"<!-- table:{name} -->") == 1
    assert text.count(f"<!-- /table:{name} -->") == 1


@pytest.mark.parametrize("page", PAGES)
def test_page_tables_equal_their_records(page):
    text = (ROOT / page).read_text()
    assert MT.render_page(page, text) == text, f"{page}: run `python docs/make_tables.py`"


@pytest.mark.parametrize("record", USED_RECORDS)
def test_record_is_not_stale(record):
    rec = json.loads((RECORDS / f"{record}.json").read_text())
    sources = rec.get("sources", {})
    assert rec["scenarios"] or sources, "a record names the shipped scenarios it ran, or the files defining its plants"
    for name, digest in rec["scenarios"].items():
        shipped = Scenario.from_toml(ROOT / "scenarios" / f"{name}.toml").sha256
        assert digest == shipped, (f"{record}.json was measured on another {name}.toml; re-run "
                                   f"`{rec['command']}` and `python docs/make_tables.py`")
    for path, digest in sources.items():
        assert digest == hashlib.sha256((ROOT / path).read_bytes()).hexdigest(), (
            f"{record}.json was measured with another {path}; re-run `{rec['command']}` and "
            "`python docs/make_tables.py`")


@pytest.mark.parametrize("record", USED_RECORDS)
def test_record_has_provenance(record):
    rec = json.loads((RECORDS / f"{record}.json").read_text())
    assert rec["command"].startswith("python benchmarks/")
    assert re.fullmatch(r"[0-9a-f]{40}(\+uncommitted)?", rec["git_commit"])
    assert {"cpu_count", "python", "numpy", "numba"} <= set(rec["machine"])


def test_check_mode_detects_an_edited_figure(tmp_path, monkeypatch):
    """The checker itself can fail: a table with one figure changed is reported."""
    page = PAGES[0]
    text = (ROOT / page).read_text()
    name = next(n for n, (p, _, _) in MT.TABLES.items() if p == page)
    begin = text.index(f"<!-- table:{name} -->")
    digit = re.compile(r"\d").search(text, begin + len(f"<!-- table:{name} -->") + 80)
    edited = text[:digit.start()] + str((int(digit.group()) + 1) % 10) + text[digit.end():]
    assert MT.render_page(page, edited) == text
    assert edited != text
    (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / page).write_text(edited)
    for other in PAGES:
        if other != page:
            (tmp_path / other).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / other).write_text((ROOT / other).read_text())
    monkeypatch.setattr(MT, "ROOT", tmp_path)
    assert MT.main(["--check"]) == 1


def test_a_stale_scenario_hash_is_detected():
    """A scenario that differs from the shipped one in a single value has another hash."""
    shipped = Scenario.from_toml(ROOT / "scenarios" / "helicopter_hover.toml")
    changed = shipped.set("run.duration", shipped.run.duration + 1.0)
    assert changed.sha256 != shipped.sha256


# --------------------------------------------------------------------------- per-plant tables (bench_plants.py)

def _bench_plants():
    return load_script("benchmarks/bench_plants.py")


def _kinds(bench, scenario) -> list:
    """The kinds the plant benchmark flies on ``scenario``: the published PI only where there is one."""
    return [k for k in bench.KINDS if k != "pid_published" or scenario in bench.PUBLISHED_PI]


def test_one_plant_table_per_shipped_plant_scenario_of_the_benchmark():
    bench = _bench_plants()
    rec = json.loads((RECORDS / "plants.json").read_text())
    assert sorted(MT.PLANT_TABLES.values()) == sorted(bench.PLANTS.values()) == sorted(rec["figures"])
    assert all(MT.TABLES[name][1] == ("plants",) for name in MT.PLANT_TABLES)
    for scenario, fig in rec["figures"].items():
        assert list(fig["rows"]) == _kinds(bench, scenario), scenario
        for kind, row in fig["rows"].items():
            assert 0 <= row["success"] <= row["n"] == rec["seeds"], (scenario, kind)
            assert row["success"] + row["stopped"] <= row["n"]
            assert row["error"] or row["stopped"] == 0, f"{scenario} {kind}: runs stopped without a reason"


def test_plant_table_rows_come_from_the_record_and_claim_no_l1():
    rec = json.loads((RECORDS / "plants.json").read_text())
    for name, scenario in MT.PLANT_TABLES.items():
        table = MT.render_table(name)
        rows = rec["figures"][scenario]["rows"]
        for kind, row in rows.items():
            line = next(ln for ln in table.splitlines() if ln.startswith(f"| `{kind}` |"))
            assert f"| {row['success']}/{row['n']} | {row['stopped']} |" in line
            if row["error"]:
                assert row["error"].split(":")[0].split(" (")[0] in line      # the error class is shown
        # MRAC rows come from the record only; L1 adaptive control is not built and the table says so
        mrac = [ln for ln in table.splitlines() if "mrac" in ln.lower()]
        assert mrac == ([next(ln for ln in table.splitlines() if ln.startswith("| `mrac` |"))] if "mrac" in rows
                        else [])
        l1 = [ln for ln in table.splitlines() if "L1" in ln]
        assert l1 == [next(ln for ln in table.splitlines() if ln.startswith("| L1 | not built |"))]


def test_plant_table_renders_a_refusal_and_missing_figures():
    row = {"n": 3, "success": 0, "stopped": 3, "iae_median": {}, "step_us_median": None,
           "error": "ScenarioError (ParameterError): no python-control model | see docs"}
    ok = {"n": 3, "success": 2, "stopped": 0, "iae_median": {"y1": 1.23456, "y2": None}, "step_us_median": 12.4}
    rec = {"benchmark": "plants", "command": "python benchmarks/bench_plants.py --seeds 3", "git_commit": "0" * 40,
           "measured_at": "2026-01-01", "wall_s": 1.0, "seeds": 3,
           "machine": {"cpu_count": 2, "load_average_at_end": None},
           "figures": {"x": {"plant": "a plant", "rows": {"lqr_i": {**ok, "error": None}, "pid_auto": row}}}}
    table = MT._plant_table("x", rec)
    assert "| `lqr_i` | 2/3 | 0 | 1.235 | - | 12 us |  |" in table
    assert "| `pid_auto` | 0/3 | 3 | - | - | - | ScenarioError (ParameterError): no python-control model / see docs |" \
        in table


@pytest.mark.parametrize("variant", ["change", "noise"])
def test_perturbed_plant_records_cover_every_plant_and_kind(variant):
    bench = _bench_plants()
    rec = json.loads((RECORDS / f"plants_{variant}.json").read_text())
    assert rec["benchmark"] == f"plants_{variant}" and f"--variant {variant}" in rec["command"]
    assert MT.TABLES[f"plants-{variant}"][1] == (f"plants_{variant}",)
    assert sorted(rec["figures"]) == sorted(bench.PLANTS.values())
    table = MT.render_table(f"plants-{variant}")
    for scenario, fig in rec["figures"].items():
        assert fig["perturbation"], scenario
        assert list(fig["rows"]) == _kinds(bench, scenario), scenario
        line = next(ln for ln in table.splitlines() if f"(`{scenario}`)" in ln)
        for kind, row in fig["rows"].items():
            assert 0 <= row["success"] <= row["n"] == rec["seeds"], (scenario, kind)
            assert row["success"] + row["stopped"] <= row["n"]
            assert row["error"] or row["stopped"] == 0, f"{scenario} {kind}: runs stopped without a reason"
            assert ("iae_after_change_median" in row) == (variant == "change")
            assert ("success_true" in row) == (variant == "noise")
            if variant == "noise":        # success on the measured / on the true outputs
                assert 0 <= row["success_true"] <= row["n"] and row["success_true"] + row["stopped"] <= row["n"]
                assert f"| {row['success']} / {row['success_true']} of {row['n']}" in line
            else:
                assert f"| {row['success']}/{row['n']}" in line


# --------------------------------------------------------------------------- the open issues' targets (README)

def _plant_row(success, iae, n=100, stopped=0, **extra):
    return {"n": n, "success": success, "stopped": stopped, "missed": list(range(n - success)),
            "iae_median": iae, "step_us_median": 10.0, "nonfinite_actions": 0, "error": None, **extra}


def _targets_records(neural_iae, lqr_iae, success=97, pi_iae=None, after=None):
    """Synthetic nominal / change / noise records of bench_plants.py for issue #15's table."""
    head = {"command": "python benchmarks/bench_plants.py --seeds 100", "git_commit": "0" * 40,
            "measured_at": "2026-01-01", "wall_s": 1.0, "seeds": 100, "first_seed": 0,
            "machine": {"cpu_count": 2, "load_average_at_end": None}}
    plants = list(MT._ISSUE15_PLANTS)
    nominal = {**head, "benchmark": "plants_100", "figures": {}}
    change = {**head, "benchmark": "plants_change_100", "figures": {}}
    noise = {**head, "benchmark": "plants_noise_100", "figures": {}}
    for sc in plants:
        rows = {"neural": _plant_row(success, dict(neural_iae)), "lqr_i": _plant_row(100, dict(lqr_iae))}
        if sc == "quadtank_pminus" and pi_iae is not None:
            rows["pid_published"] = _plant_row(100, dict(pi_iae))
        nominal["figures"][sc] = {"plant": sc, "rows": rows}
        a = after if after is not None else neural_iae
        change["figures"][sc] = {"plant": sc, "perturbation": {"factors": {"k": 1.3}, "time": 1.0},
                                 "rows": {"neural": _plant_row(success, {}, iae_after_change_median=dict(a)),
                                          "lqr_i": _plant_row(100, {}, iae_after_change_median=dict(lqr_iae))}}
        noise["figures"][sc] = {"plant": sc, "perturbation": {"sensor_noise_std": [0.1]},
                                "rows": {"neural": _plant_row(0, {}, success_true=96, iae_true_median={}),
                                         "lqr_i": _plant_row(0, {}, success_true=2, iae_true_median={})}}
    return nominal, change, noise


def test_plant_targets_say_met_only_within_every_bound():
    lines = lambda t: [ln for ln in t.splitlines() if ln.startswith("| ")][1:]      # noqa: E731
    met = MT._plants_targets(*_targets_records({"y1": 1.5, "y2": 0.2}, {"y1": 1.0, "y2": 1.0}, pi_iae={"y1": 1.5,
                                                                                                      "y2": 0.3}))
    rows = lines(met)
    assert len(rows) == 3 * len(MT._ISSUE15_PLANTS) + 1
    nominal = rows[:len(MT._ISSUE15_PLANTS)]
    assert all(r.endswith("| met |") for r in nominal), nominal          # 1.5x LQR-I is within 1.5x; 97 >= 95
    assert "y1 1.50x, y2 0.20x" in nominal[0] and "vs the published PI: y1 1.00x, y2 0.67x" in nominal[0]
    assert "missed seeds 0, 1, 2" in nominal[0]
    change = rows[len(MT._ISSUE15_PLANTS):2 * len(MT._ISSUE15_PLANTS)]
    assert all(r.endswith("| **not met** |") for r in change)          # y1 after the change is 1.5x LQR-I's
    noise = rows[2 * len(MT._ISSUE15_PLANTS):-1]
    assert all(r.endswith("| **not met** |") and "0/100 on the measured outputs, 96 on the true" in r for r in noise)
    assert rows[-1].endswith("| met |") and "0 non-finite inputs" in rows[-1]
    nonfinite = _targets_records({"y1": 1.0}, {"y1": 1.0})
    nonfinite[1]["figures"]["cstr_setpoint"]["rows"]["neural"]["nonfinite_actions"] = 1
    assert lines(MT._plants_targets(*nonfinite))[-1].endswith("| **not met** |")
    # one bound crossed each way: above 1.5x LQR-I, above the published PI, too few successes
    over = lines(MT._plants_targets(*_targets_records({"y1": 1.51, "y2": 0.2}, {"y1": 1.0, "y2": 1.0})))
    assert all(r.endswith("| **not met** |") for r in over[:len(MT._ISSUE15_PLANTS)])
    pi = lines(MT._plants_targets(*_targets_records({"y1": 1.0, "y2": 0.2}, {"y1": 1.0, "y2": 1.0},
                                                    pi_iae={"y1": 0.99, "y2": 1.0})))
    assert pi[0].endswith("| **not met** |") and pi[1].endswith("| met |")
    few = lines(MT._plants_targets(*_targets_records({"y1": 1.0}, {"y1": 1.0}, success=94,
                                                     after={"y1": 0.5})))
    assert all(r.endswith("| **not met** |") for r in few[:len(MT._ISSUE15_PLANTS)])
    assert all(r.endswith("| met |") for r in few[len(MT._ISSUE15_PLANTS):2 * len(MT._ISSUE15_PLANTS)])  # 94 >= 90


def test_neural_targets_table_reads_the_ablation_record():
    rec = json.loads((RECORDS / "ablation_100.json").read_text())
    table = MT.render_table("neural-targets")
    hover = rec["figures"]["results"]["hover"]
    ratio = hover["neural"]["iae_median"]["altitude"] / hover["lqr"]["iae_median"]["altitude"]
    line = next(ln for ln in table.splitlines() if ln.startswith("| hover:"))
    assert f"{MT._x(ratio)} |" in line
    assert line.endswith("| met |") == (ratio <= 1.0 and hover["neural"]["success_rate"] * len(rec["seeds"]) >= 99)
    step = hover["neural"]["step_us_median"] / hover["lqr"]["step_us_median"]
    line = next(ln for ln in table.splitlines() if ln.startswith("| control step"))
    assert f"{step:.1f}x" in line and line.endswith("| met |") == (step <= 2.0)


def test_targets_figure_is_drawn_from_the_records(tmp_path):
    module = load_script("docs/plot_targets.py")
    data = module.figures(*(json.loads((RECORDS / f"{n}.json").read_text())
                            for n in ("plants_100", "plants_change_100", "plants_noise_100")))
    nominal = json.loads((RECORDS / "plants_100.json").read_text())["figures"]
    assert list(data) == list(MT._ISSUE15_PLANTS)            # the plants of the README's table, in its order
    for sc, d in data.items():
        assert d["success"][0] == nominal[sc]["rows"]["neural"]["success"]
    out = module.main(["--out", str(tmp_path / "targets.png")])
    assert out.stat().st_size > 10_000
    assert (ROOT / "docs" / "img" / "plants_targets.png").exists()


def test_bench_plants_first_seed_and_the_seeds_that_missed(capsys):
    bench = _bench_plants()
    fig = bench.main(["--seeds", "2", "--first-seed", "5", "--plants", "cstr_setpoint", "--kinds", "lqr_i",
                      "--no-record"])
    row = fig["cstr_setpoint"]["rows"]["lqr_i"]
    assert row["n"] == 2 and row["nonfinite_actions"] == 0
    assert set(row["missed"]) <= {5, 6} and len(row["missed"]) == row["n"] - row["success"]
    out = capsys.readouterr().out
    assert "seeds 5-6" in out
    assert ("missed seeds" in out) == bool(row["missed"])
    with pytest.raises(SystemExit):
        bench.main(["--seeds", "0", "--no-record"])

# --------------------------------------------------------------------------- first-run compile notice (_compile.py)

def test_kernel_modules_are_the_files_with_jitted_functions():
    from neurocontrol import _compile

    found = {p.relative_to(ROOT).as_posix() for p in _compile.kernel_modules()}
    assert {"neurocontrol/nets/_kernels.py", "neurocontrol/controllers/_kernels.py"} <= found
    assert "neurocontrol/cli.py" not in found and "neurocontrol/_jit.py" not in found


def test_cache_is_cold_follows_the_index_files(tmp_path):
    import os

    from neurocontrol._compile import cache_is_cold

    src = tmp_path / "pkg" / "_kernels.py"
    src.parent.mkdir()
    src.write_text("@jit\ndef f(x):\n    return x\n")
    other = tmp_path / "pkg" / "_unused.py"
    other.write_text("@jit\ndef g(x):\n    return x\n")
    mods = [src, other]
    assert cache_is_cold(mods, cache_dir="")                       # fresh install: no index anywhere
    index = tmp_path / "pkg" / "__pycache__" / "_kernels.f-1.py311.nbi"
    index.parent.mkdir()
    index.write_bytes(b"")
    os.utime(src, (1_000_000, 1_000_000))
    assert not cache_is_cold(mods, cache_dir="")                   # compiled; the never-called module does not count
    os.utime(src, (index.stat().st_mtime + 10, index.stat().st_mtime + 10))
    assert cache_is_cold(mods, cache_dir="")                       # source edited after compiling: stale
    from numba.core.caching import _CacheLocator

    user = tmp_path / "cache" / _CacheLocator.get_suitable_cache_subpath(str(src))   # numba's own naming
    user.mkdir(parents=True)
    assert cache_is_cold(mods, cache_dir=str(tmp_path / "cache"))  # NUMBA_CACHE_DIR: its own, empty, folder
    (user / "_kernels.f-1.py311.nbi").write_bytes(b"")
    os.utime(src, (1_000_000, 1_000_000))
    assert not cache_is_cold(mods, cache_dir=str(tmp_path / "cache"))


def test_clear_stale_kernels_follows_every_kernel_source(tmp_path):
    from neurocontrol._compile import clear_stale_kernels

    pkg = tmp_path / "pkg"
    cache = pkg / "__pycache__"
    cache.mkdir(parents=True)
    callee, caller = pkg / "_callee.py", pkg / "_caller.py"
    callee.write_text("@jit\ndef f(x):\n    return x\n")
    caller.write_text("@jit\ndef g(x):\n    return f(x)\n")
    mods = [callee, caller]

    def cached():
        names = ("_callee.f-1.py311.nbi", "_callee.f-1.py311.1.nbc", "_caller.g-1.py311.nbi", "_caller.g-1.py311.1.nbc")
        for name in names:
            (cache / name).write_bytes(b"")
        return {p.name for p in cache.iterdir() if p.suffix in (".nbi", ".nbc")}

    assert len(cached()) == 4
    assert clear_stale_kernels(mods, cache_dir="", stamp_dir=cache) == 4     # no digest yet: cache of unknown sources
    assert (cache / "neurocontrol-kernels.sha256").is_file()
    assert len(cached()) == 4
    assert clear_stale_kernels(mods, cache_dir="", stamp_dir=cache) == 0     # same sources: kept
    assert len(list(cache.glob("*.nb*"))) == 4
    callee.write_text("@jit\ndef f(x):\n    return 2 * x\n")              # only the callee's file changes
    assert clear_stale_kernels(mods, cache_dir="", stamp_dir=cache) == 4     # the caller's cached code goes too
    assert not list(cache.glob("*.nb*"))
    from numba.core.caching import _CacheLocator

    user = tmp_path / "numba_cache" / _CacheLocator.get_suitable_cache_subpath(str(caller))   # NUMBA_CACHE_DIR's
    user.mkdir(parents=True)
    (user / "_caller.g-1.py311.nbi").write_bytes(b"")
    other = tmp_path / "numba_cache" / "pkg_0123abcd"             # another project's folder of the same name
    other.mkdir()
    (other / "_caller.g-1.py311.nbi").write_bytes(b"")
    assert clear_stale_kernels(mods, cache_dir=str(tmp_path / "numba_cache")) == 1
    assert (other / "_caller.g-1.py311.nbi").is_file()
    assert (tmp_path / "numba_cache" / "neurocontrol-kernels.sha256").is_file()
    assert clear_stale_kernels(mods, cache_dir=str(tmp_path / "numba_cache")) == 0


def test_a_changed_callee_reaches_its_cached_caller(tmp_path):
    """With real numba caching: after the callee's file changes, the caller runs the new callee."""
    import os
    import subprocess
    import sys
    import textwrap

    pkg = tmp_path / "kpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    callee = pkg / "callee.py"
    callee.write_text("import numba\n\n@numba.njit(cache=True)\ndef f():\n    return 1\n")
    (pkg / "caller.py").write_text("import numba\nfrom kpkg.callee import f\n\n"
                                   "@numba.njit(cache=True)\ndef g():\n    return f()\n")
    script = textwrap.dedent(f"""
        from neurocontrol._compile import clear_stale_kernels
        clear_stale_kernels([{str(callee)!r}, {str(pkg / "caller.py")!r}], cache_dir="", stamp_dir={str(pkg)!r})
        from kpkg.caller import g
        print(g())
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    env.pop("NUMBA_CACHE_DIR", None)

    def run():
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return int(out.stdout.split()[-1])

    assert run() == 1
    assert list((pkg / "__pycache__").glob("caller.g-*.nbi"))              # the caller's code is cached
    callee.write_text("import numba\n\n@numba.njit(cache=True)\ndef f():\n    return 2\n")
    os.utime(callee, (callee.stat().st_mtime + 5, callee.stat().st_mtime + 5))
    assert run() == 2                                                      # not the cached caller's old f


def test_clear_stale_kernels_leaves_a_read_only_cache_alone(tmp_path, monkeypatch):
    from pathlib import Path

    from neurocontrol._compile import clear_stale_kernels

    src = tmp_path / "_k.py"
    src.write_text("@jit\ndef f(x):\n    return x\n")

    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(Path, "write_text", refuse)
    assert clear_stale_kernels([src], cache_dir="", stamp_dir=tmp_path / "c") == 0


def test_compile_progress_reports_each_compiled_kernel():
    import io

    import numba

    from neurocontrol._compile import CompileProgress

    @numba.njit(cache=False)
    def _twice(x):
        return 2.0 * x

    quiet = io.StringIO()
    with CompileProgress(quiet, announce=False):
        pass
    assert quiet.getvalue() == ""                                  # nothing compiled, nothing said
    out = io.StringIO()
    with CompileProgress(out, announce=False) as progress:
        assert _twice(1.5) == 3.0
    text = out.getvalue()
    assert progress.count == 1
    assert "compiling numba kernels" in text                       # the notice comes with the first compile
    assert "compiled  1 kernels" in text and "_twice" in text
    assert "1 kernels compiled in" in text


def test_the_ilc_tables_name_the_transfer_task_the_benchmark_flies():
    bench = load_script("benchmarks/bench_ilc.py")
    assert tuple(MT.TRANSFER_LEVELS) == tuple(bench.TRANSFER["levels"])


def test_the_ilc_gust_note_pairs_each_trial_with_the_same_trial_without_ilc():
    rec = copy.deepcopy(MT.load_record("ilc_neural"))
    rob = rec["figures"]["robust"]
    law, none = rob["noise_gusts"]["altitude_rms_m"], rob["noise_gusts_no_ilc"]["altitude_rms_m"]
    n = len(law[0])
    for r, q in zip(law, none):                 # the law halves every trial of the run without it ...
        r[:] = [0.5 * v for v in q]
    law[0][19] = 2.0 * none[0][19]              # ... but one, which it doubles
    law[1][3] = 3.0 * none[1][3]                # trials 1-10 are not counted
    line = next(s for s in MT._ilc_ablation(rec).split("\n") if "trial by trial" in s)
    seeds = len(law)
    assert f"trials 11-{n}, network law over no ILC on the same draws" in line
    assert "largest per seed 2.00, " + ", ".join(["0.50"] * (seeds - 1)) + "," in line
    assert f"trials the law made worse: 1 of {seeds * (n - 10)}" in line


def test_the_ilc_gust_note_gives_the_trial_varying_part_and_counts_the_seeds_above_the_target():
    rec = copy.deepcopy(MT.load_record("ilc_neural"))
    none = rec["figures"]["robust"]["noise_gusts_no_ilc"]
    seeds = len(none["altitude_rms_m"])
    none["trial_varying_ratio"] = [2.0, 1.5] + [1.2] * (seeds - 3) + [None]
    line = next(s for s in MT._ilc_ablation(rec).split("\n") if "differs from trial to trial" in s)
    assert "best of 1-10 = 2.00, 1.50, " + ", ".join(["1.20"] * (seeds - 3)) + ", -;" in line
    assert f"above 1.5 on 1 of {seeds} seeds" in line
    del none["trial_varying_ratio"]           # a record without the figure has no such line
    assert "differs from trial to trial" not in MT._ilc_ablation(rec)


def test_ilc_gust_figure_is_drawn_from_the_records(tmp_path):
    module = load_script("docs/plot_ilc_gusts.py")
    for name in module.RECORDS:
        rec = json.loads((RECORDS / f"{name}.json").read_text())
        robust, data = rec["figures"]["robust"], module.figures(rec)
        # the bars are the ratios the benchmark recorded, the dashed line's are the trial-varying part's
        assert data["noise_gusts"]["ratio"] == pytest.approx(robust["noise_gusts"]["worst_11_on_over_best_1_10"])
        assert data["trial_varying"]["ratio"] == pytest.approx(robust["noise_gusts_no_ilc"]["trial_varying_ratio"])
        rows = robust["noise_gusts_frozen"]["altitude_rms_m"]
        assert data["noise_gusts_frozen"]["median_mm"][0] == pytest.approx(1e3 * sorted(r[0] for r in rows)[len(rows) // 2])
    out = module.main(["--out", str(tmp_path / "gusts.png")])
    assert out.stat().st_size > 10_000
    assert (ROOT / "docs" / "img" / "ilc_gusts.png").exists()


def test_the_share_verdict_looks_past_trial_10_when_the_reset_variant_cycles():
    rec = copy.deepcopy(MT.load_record("ilc_neural"))
    f = rec["figures"]
    law = [0.057] + [0.01 * 0.5 ** k for k in range(9)]              # the law with memory, trial 10 ~ 0.04 mm
    f["ablation"]["network"]["median_altitude_m"] = law
    for key in ("share_lost_keeping_last_update", "share_lost_signal_fresh"):
        f.pop(key, None)

    def share_line(reset):
        f["ablation"].setdefault("network_fresh", copy.deepcopy(f["ablation"]["network"]))
        f["ablation"]["network_fresh"]["median_altitude_m"] = reset
        f["share_lost_without_memory"] = 1.0 - (law[0] - reset[-1]) / (law[0] - law[-1])    # as bench_ilc.py
        return next(s for s in MT._ilc_ablation(rec).split("\n") if s.startswith("- share"))

    cycle = [0.057, 0.0078, 0.0547] * 3 + [0.057]         # one update every third trial: trial 10 has none
    line = share_line(cycle)
    assert line.startswith("- share of the improvement that needs the networks' trial memory (every network as new "
                           "at the start of every trial): 100.0 %")
    assert "met on trial 10's figure only" in line and "its trial 2 keeps 86." in line and line.endswith("not met)")
    line = share_line([0.057] * 10)                        # nothing carries without memory: met, plainly
    assert line.endswith("target >= 80 %: met)")
    line = share_line([0.057] + [0.05] * 9)                # a little carries: its best trial keeps 12 %: still met
    assert line.endswith("target >= 80 %: met)")


def test_the_ilc_table_gives_each_share_with_the_variant_it_comes_from():
    rec = copy.deepcopy(MT.load_record("ilc_neural"))
    f = rec["figures"]
    law = [0.05, 0.01, 0.005, 0.004, 0.003, 0.002, 0.002, 0.002, 0.002, 0.001]
    f["ablation"]["network"]["median_altitude_m"] = law
    rows = {"network_fresh": [0.05] * 10, "network_reset": [0.05, 0.01] * 5, "network_signal_fresh": [0.05] + [0.002] * 9}
    for name, row in rows.items():
        f["ablation"][name] = {**copy.deepcopy(f["ablation"]["network"]), "median_altitude_m": row}
    f["share_lost_without_memory"], f["share_lost_keeping_last_update"], f["share_lost_signal_fresh"] = 1.0, 0.2, 0.02
    text = MT._ilc_ablation(rec)
    assert "every network as new at the start of every trial): 100.0 % (the variant keeps 0.0 % of it; target >= 80 " \
           "%: met)" in text
    assert "(one trial's memory): 20.0 % (the variant keeps 80.0 % of it)" in text        # a comparison, not judged
    assert "(the signal, not a network, carries): 2.0 % (the variant keeps 98.0 % of it)" in text
    f["share_lost_keeping_last_update"] = 0.9                   # its last trial reads 90 %, its best trial far less
    text = MT._ilc_ablation(rec)
    assert "(one trial's memory): 90.0 % (the variant keeps 10.0 % of it; its trials go 50, 10, 50, 10 ... mm, and " \
           "its trial 2 keeps 81.6 % of the improvement, a share of 18.4 %)" in text
    assert "| same, every network as new at the start of every trial |" in text


def test_the_ilc_targets_table_judges_each_row_from_both_records():
    recs = [copy.deepcopy(MT.load_record(n)) for n in ("ilc", "ilc_neural")]

    def table():
        return {line.split(" | ")[0][2:]: line for line in MT._ilc_targets(*recs).split("\n") if line.startswith("| ")}

    for rec in recs:
        f = rec["figures"]
        f["share_lost_without_memory"], f["share_lost_keeping_last_update"], f["share_lost_signal_fresh"] = 1.0, 0.3, 0.05
        f["robust"]["noise_gusts"]["worst_11_on_over_best_1_10"] = [1.2] * len(rec["robust_seeds"])
        f["robust"]["drag_change_before_6"]["trials_to_stay_within_2x_trial5"] = [1] * len(rec["robust_seeds"])
    rows = table()
    trial = next(r for k, r in rows.items() if k.startswith("trial-"))
    assert trial.endswith("| met |")
    assert next(r for k, r in rows.items() if k.startswith("share")).endswith("| 100.0 % | 100.0 % | met |")
    assert next(r for k, r in rows.items() if "one trial's memory" in k).endswith(" | |")
    for rec in recs:                                        # a cycle's best trial is given beside the last one's
        law = rec["figures"]["ablation"]["network"]["median_altitude_m"]
        rec["figures"]["ablation"]["network_reset"]["median_altitude_m"] = [law[0], 0.5 * law[0]] * 5
        rec["figures"]["share_lost_keeping_last_update"] = 0.99
    row = next(r for k, r in table().items() if "one trial's memory" in k)
    assert row.count("99.0 % (") == 2 and row.count("% by its trial 2)") == 2 and row.endswith(" | |")
    assert next(r for k, r in rows.items() if "per-trial random gust" in k).endswith("| met |")
    # each row fails on either record
    lqr = recs[1]["figures"]["ablation"]["p_lqr"]["median_altitude_m"][-1]
    recs[1]["figures"]["ablation"]["network"]["median_altitude_m"][-1] = 1.01 * lqr
    recs[0]["figures"]["share_lost_without_memory"] = 0.79
    recs[1]["figures"]["robust"]["noise_gusts"]["worst_11_on_over_best_1_10"][2] = 1.51
    recs[0]["figures"]["robust"]["drag_change_before_6"]["trials_to_stay_within_2x_trial5"][0] = None
    recs[1]["figures"]["ablation"]["network"]["trials_to_10_percent"] = 4
    rows = table()
    for key in ("trial-", "trials to reach", "share", "50 trials", "drag"):
        assert next(r for k, r in rows.items() if k.startswith(key)).endswith("| **not met** |"), key


# --------------------------------------------------------------------------- the control step's cost, by kernel

def test_controller_benchmark_breakdown_times_each_kernel_and_puts_them_back():
    from neurocontrol.controllers.neural import NeuralController

    bench = load_script("benchmarks/bench_controller.py")
    originals = {(m, n): getattr(importlib.import_module(m), n) for m, n in bench.STEP_KERNELS}
    own = dict(vars(NeuralController))
    per_kernel, step_us, steps = bench.breakdown(seed=0)
    assert steps == 3000                                            # the 30 s hover at 0.01 s
    assert set(per_kernel) == {n for _, n in bench.STEP_KERNELS}
    assert all(v > 0.0 for v in per_kernel.values())                # every kernel runs within the steps
    assert sum(per_kernel.values()) < step_us                       # the kernels are part of the step
    for (m, n), fn in originals.items():                            # the timers are gone afterwards
        assert getattr(importlib.import_module(m), n) is fn
    assert NeuralController.step.__name__ == "step"
    assert dict(vars(NeuralController)) == own          # the class as it was: an inherited step is not copied in


@pytest.mark.parametrize("scenario", ["quadtank_pplus", "pvtol_steps"])
def test_neural_no_model_flies_what_an_env_without_a_model_gets(scenario, monkeypatch):
    # the pseudo-kind's `plant_model = false` against the neural defaults built with the model taken away
    import dataclasses

    import neurocontrol.controllers.generic as generic
    import neurocontrol.controllers.neural as neural

    bench = _bench_plants()
    sc = Scenario.from_toml(ROOT / "scenarios" / f"{scenario}.toml")
    with_model = bench.variant(sc, "neural").build(0).controller
    no_model = bench.variant(sc, "neural_no_model").build(0).controller
    assert (with_model.warmup_controller is not None) or (with_model.long_run_note is not None)

    def no_trim(*args, **kwargs):
        raise ValueError("no python-control model")

    monkeypatch.setattr(neural, "model_trim", no_trim)
    monkeypatch.setattr(generic, "model_trim", lambda *args, **kwargs: None)
    hidden = bench.variant(sc, "neural").build(0).controller
    assert no_model.warmup_controller is None and hidden.warmup_controller is None
    assert no_model.long_run_note is None and hidden.long_run_note is None
    assert dataclasses.replace(no_model.config, plant_model=None) == hidden.config
    assert (no_model._stabiliser is not None) == (hidden._stabiliser is not None) == (scenario == "pvtol_steps")


def test_plant_targets_give_lqr_i_told_the_noise_and_the_noise_filter_tables_every_count():
    nominal, change, noise = _targets_records({"y1": 1.0}, {"y1": 1.0})
    plants = list(MT._ISSUE15_PLANTS)

    def record(name, kinds, **extra):
        return {**noise, "benchmark": name, "figures": {
            sc: {"plant": sc, "rows": {k: _plant_row(0, {"y1": 2.0 + j}, stopped=j, success_true=10 * j + i, **extra)
                                       for j, k in enumerate(kinds)}} for i, sc in enumerate(plants)}}

    observer = record("plants_noise_observer_100", ["lqr_i_observer"], iae_true_median={"y1": 2.0})
    rows = [ln for ln in MT._plants_targets(nominal, change, noise, observer).splitlines() if "sensor noise" in ln]
    assert [("LQR-I 0 and 2 (%d on the true ones with its Kalman filter told the noise)" % i) in r
            for i, r in enumerate(rows)] == [True] * len(plants)
    assert all(r.endswith("| **not met** |") for r in rows)          # the baseline's count never meets the target
    filtered = record("plants_noise_filtered_100", ["neural_filtered", "pid_auto_filtered"])
    estimate = record("plants_noise_filtered_estimate_100", ["pid_auto_filtered_estimate", "neural_filtered_estimate"])
    pid = record("plants_noise_pid_100", ["pid_auto"])
    pid["figures"][plants[2]]["rows"]["pid_auto"]["error"] = "ScenarioError (ParameterError): no PI"
    table = [ln for ln in MT._noise_filters(noise, observer, filtered, pid, estimate).splitlines()
             if ln.startswith("| ")][1:]
    assert len(table) == len(plants)
    # neural 96; filtered told 0 + i, estimated 10 + i (1 stopped); pid 0 + i; told 10 + i (1 stopped), estimated
    # 0 + i; LQR-I 2; told 0 + i
    assert table[1] == f"| {plants[1]} | 96 | 1 | 11 (1 stopped) | 1 | 11 (1 stopped) | 1 | 2 | 1 |"
    assert "| refused |" in table[2]
    nom = {**nominal, "figures": {sc: {"plant": sc, "rows": {
        "neural": _plant_row(20, {"y1": 1.0}), "pid_auto": _plant_row(20, {"y1": 3.0})}} for sc in plants}}
    obs_nom = {**nominal, "figures": {sc: {"plant": sc, "rows": {
        "lqr_i": _plant_row(20, {"y1": 5.0}), "lqr_i_observer": _plant_row(19, {"y1": 6.0}, stopped=1)}}
        for sc in plants}}
    filt_nom = {**nominal, "figures": {sc: {"plant": sc, "rows": {
        "neural_filtered": _plant_row(0, {"y1": 2.0}), "pid_auto_filtered": _plant_row(20, {"y1": 4.0})}}
        for sc in plants}}
    est_nom = {**nominal, "figures": {sc: {"plant": sc, "rows": {
        "neural_filtered_estimate": _plant_row(18, {"y1": 7.0}), "pid_auto_filtered_estimate": _plant_row(
            0, {}, error="ScenarioError (ParameterError): no PI")}} for sc in plants}}
    lines = [ln for ln in MT._filters_nominal(nom, obs_nom, filt_nom, est_nom).splitlines() if ln.startswith("| ")][1:]
    assert lines[:3] == [f"| {plants[0]} | neural | 20/100, y1 1 | 0/100, y1 2 | 18/100, y1 7 |",
                         f"| {plants[0]} | pid_auto | 20/100, y1 3 | 20/100, y1 4 | refused |",
                         f"| {plants[0]} | lqr_i | 20/100, y1 5 | 19/100 (1 stopped), y1 6 | - |"]
