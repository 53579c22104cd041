"""Bad input at scale: mutated shipped scenario files and CLI arguments, through the real command line.

Hypothesis picks a shipped scenario and mutates its text (a deleted key line, a
value replaced by a wrong type, NaN, inf, a huge, zero or negative number, a
truncated line, a duplicated key line) and sometimes the command-line
arguments. Every mutant runs with ``run.duration`` overridden to 0.3 s and
must either

* run (exit status 0) and print one JSON object whose every number is finite
  or null, and write metrics.json with the same property; or
* exit with status 2 and exactly one line on stderr, ``neurocontrol: error:
  ...`` naming the offending key or argument, no traceback;

within a 60 s alarm (no hang). Draws are random (not derandomised); a failure
prints its reproduction blob and lands in Hypothesis' database.

The property counts what it saw: every call of its body (Hypothesis' own
replays and shrinking included) and every distinct mutant, split into ran /
rejected with a named error / failed. At the end of the module the counts are
written to ``fuzz_counts.json`` in pytest's base temporary folder (and to the
path in ``NC_FUZZ_RECORD`` if set) and printed (seen with ``-s``). The number
of examples is 40 (CI); ``NC_FUZZ_EXAMPLES=200`` runs more:

    NC_FUZZ_EXAMPLES=200 NC_FUZZ_RECORD=/tmp/fuzz_counts.json .venv/bin/python -m pytest -s tests/test_fuzz_scenarios.py
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import json
import math
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocontrol.cli import main
from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.scenario import Scenario
from plants.helicopter.baselines import MAX_GAIN, PIDController, PIDGains

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p for p in (ROOT / "scenarios").glob("*.toml")
                   if p.stem not in {"ilc_staircase", "neural_hover"})     # trials / 5 s per run: too slow here
TEXTS = {p.stem: p.read_text() for p in SCENARIOS}
KEY_LINE = re.compile(r"^\s*([A-Za-z_][\w]*)\s*=\s*(.+?)\s*(#.*)?$")
BAD_VALUES = ["nan", "inf", "-inf", "1e308", "-1e308", "0", "-1", "-0.5", "1e20", '"x"', "true", "[]", "{}",
              "[nan, 1.0]", "[1.0]", "[[1.0]]", '{kind = "nope"}', "1.5", "3", '""']
#: Examples per run: 40 by default (CI); more with the environment variable NC_FUZZ_EXAMPLES.
MAX_EXAMPLES = int(os.environ.get("NC_FUZZ_EXAMPLES", "40"))
#: Calls of the property's body by outcome (replays and shrinking included).
COUNTS = {"tried": 0, "ran": 0, "rejected": 0, "failed": 0}
#: Distinct mutants (scenario, operation, key, text, extra arguments) -> their outcome.
OUTCOMES: dict[str, dict] = {}


def numbers(obj):
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, (int, float)):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from numbers(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from numbers(v)


@st.composite
def mutants(draw):
    name = draw(st.sampled_from(sorted(TEXTS)))
    lines = TEXTS[name].splitlines()
    keyed = [i for i, s in enumerate(lines) if KEY_LINE.match(s) and not s.lstrip().startswith("#")]
    i = draw(st.sampled_from(keyed))
    op = draw(st.sampled_from(["delete", "value", "truncate", "duplicate", "table"]))
    key = KEY_LINE.match(lines[i]).group(1)
    if op == "delete":
        lines[i] = ""
    elif op == "value":
        value = draw(st.sampled_from(BAD_VALUES))
        lines[i] = f"{key} = {value}"
    elif op == "truncate":
        cut = draw(st.integers(1, max(1, len(lines[i]) - 1)))
        lines[i] = lines[i][:cut]
    elif op == "duplicate":
        lines.insert(i + 1, lines[i])
    else:                                   # a table header deleted or duplicated
        heads = [j for j, s in enumerate(lines) if s.startswith("[")]
        j = draw(st.sampled_from(heads))
        if draw(st.booleans()):
            lines[j] = ""
        else:
            lines.insert(j + 1, lines[j])
    argv_extra = draw(st.sampled_from([[], ["--seed", "3"], ["--set", "run.seed=2"],
                                       ["--set", "plant.dt=0"], ["--set", "nokey=1"], ["--set", "run.duration"],
                                       ["--seed", "1e3"], ["--set", "controller.kind=\"nope\""]]))
    return name, op, key, "\n".join(lines) + "\n", argv_extra


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def _summary() -> dict:
    by = collections.Counter(o["outcome"] for o in OUTCOMES.values())
    by_op = collections.defaultdict(collections.Counter)
    for o in OUTCOMES.values():
        by_op[o["op"]][o["outcome"]] += 1
    return {"max_examples": MAX_EXAMPLES, "calls": dict(COUNTS),
            "distinct": {"tried": len(OUTCOMES), "ran": by["ran"], "rejected": by["rejected"],
                         "failed": by["failed"]},
            "distinct_by_operation": {op: dict(c) for op, c in sorted(by_op.items())},
            "scenarios": sorted({o["scenario"] for o in OUTCOMES.values()}),
            "failures": [o for o in OUTCOMES.values() if o["outcome"] == "failed"]}


@pytest.fixture(scope="module", autouse=True)
def _record_counts(tmp_path_factory):
    """Write and print the counts once the module's tests are done."""
    yield
    text = json.dumps(_summary(), indent=1)
    (tmp_path_factory.getbasetemp() / "fuzz_counts.json").write_text(text + "\n")
    if os.environ.get("NC_FUZZ_RECORD"):
        Path(os.environ["NC_FUZZ_RECORD"]).write_text(text + "\n")
    print("\nfuzz counts:", text)


@settings(max_examples=MAX_EXAMPLES, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(m=mutants())
def test_a_mutated_scenario_runs_or_is_rejected_by_name(tmp_path_factory, m):
    name, op, key, text, argv_extra = m
    ident = hashlib.sha256(json.dumps([name, op, key, text, argv_extra]).encode()).hexdigest()
    COUNTS["tried"] += 1
    try:
        outcome = _check_mutant(tmp_path_factory, name, text, argv_extra)
    except Exception as exc:
        COUNTS["failed"] += 1
        OUTCOMES[ident] = {"scenario": name, "op": op, "key": key, "argv_extra": argv_extra, "outcome": "failed",
                           "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        raise
    COUNTS[outcome] += 1
    OUTCOMES[ident] = {"scenario": name, "op": op, "key": key, "argv_extra": argv_extra, "outcome": outcome}


def _check_mutant(tmp_path_factory, name, text, argv_extra) -> str:
    """Run one mutant through the command line and check the contract; return ``ran`` or ``rejected``."""
    d = tmp_path_factory.mktemp("fuzz")
    path = d / f"{name}.toml"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    argv = ["run", str(path), "--set", "run.duration=0.3", "--json", "--out", str(d / "run"), *argv_extra]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as exc:          # argparse errors
                rc = exc.code
    except Hang:
        raise AssertionError(f"hang (> 60 s): {argv}") from None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    e = err.getvalue()
    assert "Traceback" not in e, e
    assert rc in (0, 2), (rc, e)
    if rc == 0:
        record = json.loads(out.getvalue())
        assert all(math.isfinite(x) for x in numbers(record)), record
        metrics = json.loads((d / "run" / "metrics.json").read_text())
        assert all(math.isfinite(x) for x in numbers(metrics))
        return "ran"
    lines = e.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurocontrol: error:"), e
    assert re.search(r"`[\w.\[\]<>' -]+`|argument --\w+|line \d+|--set|scenario|TOML", lines[0]), lines[0]
    return "rejected"


def test_a_negative_seed_is_rejected_naming_the_argument(capsys):
    assert main(["run", str(ROOT / "scenarios" / "hover_pid.toml"), "--seed", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--seed" in err[0], err


def _with_line(name, table, key, value):
    """The shipped scenario ``name`` with ``key`` of ``table`` set to ``value`` (the property's "value" mutant)."""
    lines = TEXTS[name].splitlines()
    current = ""
    for i, s in enumerate(lines):
        if s.startswith("["):
            current = s.split("#")[0].strip()
        m = KEY_LINE.match(s)
        if current == table and m and m.group(1) == key and not s.lstrip().startswith("#"):
            lines[i] = f"{key} = {value}"
            return "\n".join(lines) + "\n"
    raise LookupError((name, table, key))


# found by the property test: huge set-points, amplitudes and frequencies overflowed until simulate checked the
# sampled reference against the plant's declared ranges; a huge tolerance overflowed the plot's band until it was
# drawn clipped
@pytest.mark.parametrize("name, table, key", [
    ("altitude_sine", "[reference.altitude]", "amplitude"),
    ("altitude_sine", "[reference.altitude]", "frequency_hz"),
    ("altitude_sine", "[reference]", "rotor_speed"),
    ("fault_actuator_loss", "[reference]", "altitude"),
])
def test_a_huge_finite_value_is_rejected_by_name(tmp_path_factory, name, table, key):
    assert _check_mutant(tmp_path_factory, name, _with_line(name, table, key, "1e308"), []) == "rejected"


# found by the property test: a PID gain of 1e308 overflowed `kd_pitch * collective_rate` in the helicopter PID
# (a RuntimeWarning deep in numpy, then a non-finite action); a trim input of 1e308 per input overflowed the sum
# that checks the action. The gains (and the servo gain) are now at most 1e9 and the trim input within the limits.
@pytest.mark.parametrize("name, table, key, value", [
    ("reference_all_keys", "[controller]", "kd_pitch", "1e308"),
    ("reference_all_keys", "[controller]", "kp_pitch", "1e20"),
    ("helicopter_hover", "[controller.warmup_pid]", "servo_gain", "1e308"),
    ("helicopter_hover", "[controller.warmup_pid]", "trim_input", "[1e308, 1e308]"),
])
def test_a_huge_pid_setting_is_rejected_by_name(tmp_path_factory, name, table, key, value):
    assert _check_mutant(tmp_path_factory, name, _with_line(name, table, key, value), []) == "rejected"


# found by the property test: a drag coefficient of 1e308 overflowed the linearisation (a RuntimeWarning deep in
# numpy); a negative thrust constant was refused by the trim with a message naming no key. The coefficients are now
# at most 1e6 in magnitude, and the trim's message names them.
@pytest.mark.parametrize("key, value", [("a6", "1e308"), ("a1", "-1e308"), ("a1", "-1.0")])
def test_a_huge_or_untrimmable_helicopter_coefficient_is_rejected_by_name(tmp_path_factory, key, value):
    text = _with_line("reference_all_keys", "[plant.params]", key, value)
    assert _check_mutant(tmp_path_factory, "reference_all_keys", text, []) == "rejected"


# found by the property test: malformed tuning seeds were refused without naming `tune.seeds`
def test_malformed_tuning_seeds_are_rejected_by_name(tmp_path_factory):
    assert _check_mutant(tmp_path_factory, "tune_hover", _with_line("tune_hover", "[tune]", "seeds", '"x"'),
                         []) == "rejected"


def test_pid_gain_bound():
    assert PIDGains(kd_pitch=MAX_GAIN).kd_pitch == 1e9          # the bound itself is a gain
    with pytest.raises(ParameterError, match=r"`kd_pitch` must be at most 1e\+09, got 1e\+308"):
        PIDGains(kd_pitch=1e308)
    with pytest.raises(ParameterError, match=r"`servo_gain` must be at most 1e\+09"):
        PIDController(trim_input=[170.0, -96.0], trim_collective=0.12, servo_gain=2e9)
    with pytest.raises(ParameterError, match=r"`trim_input` must lie within the input limits"):
        PIDController(trim_input=[170.0, 1e308], trim_collective=0.12, servo_gain=2745.0)
    # the largest gains keep the arithmetic finite at the extremes of the sensor ranges: the action is the limit
    ctrl = PIDController.from_plant(gains=PIDGains(**{k: MAX_GAIN for k in PIDGains.__dataclass_fields__}))
    obs = np.array([360.0, -0.5, -22.8, 0.3588, -38.08])      # the helicopter's observation_bounds corners
    ctrl.reset(obs, [140.0, 1.0])
    with np.errstate(all="raise"):
        for _ in range(3):
            u = ctrl.step(obs, [140.0, 1.0])
    np.testing.assert_array_equal(u, [0.0, 600.0])


def test_a_huge_tolerance_runs_cleanly(tmp_path_factory):
    """A tolerance of 1e308 is a legitimate (if useless) success band: the run completes, nothing overflows."""
    mutant = _with_line("altitude_sine", "[run.tolerance]", "rotor_speed", "1e308")
    assert _check_mutant(tmp_path_factory, "altitude_sine", mutant, []) == "ran"


@pytest.mark.parametrize("name, table, value", [
    ("altitude_sine", "[reference.altitude]", "[]"),
    ("altitude_sine", "[reference.altitude]", "{}"),
    ("altitude_staircase", "[reference.altitude]", "[1.0]"),
])
def test_a_list_kind_is_rejected_by_name(tmp_path_factory, name, table, value):
    assert _check_mutant(tmp_path_factory, name, _with_line(name, table, "kind", value), []) == "rejected"


@pytest.mark.parametrize("name, high, unit", [("quadtank_pminus", 10.0, "cm"), ("cstr_setpoint", 90.0, "K"),
                                              ("pvtol_steps", 20.0, "m"), ("twin_rotor_steps", 0.5, "rad")])
def test_an_initial_spread_beyond_the_declared_half_range_is_named(name, high, unit):
    # a spread of 1e308 once overflowed numpy's uniform draw (found by the mutation test above)
    sc = Scenario.from_toml(f"scenarios/{name}.toml")
    assert sc.set("plant.initial_spread", str(high)).build(0).env is not None
    for bad in (high * 1.01, 1e308):
        with pytest.raises(ScenarioError, match=rf"initial_spread` must be a finite number >= 0 and <= {high:g} {unit}"):
            sc.set("plant.initial_spread", repr(bad)).build(0)
