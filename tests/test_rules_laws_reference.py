"""What each line of the learning rules and the synthesiser laws means, pinned against plain references.

Every argument check is tested on both sides of each bound with its full
message; documented defaults are read from the docstrings; counters are
checked after known sequences of updates; optimiser steps, the 2-D step, the
one-step RTRL rule, the one-step law and the predictive law are compared with
plain numpy reimplementations written here (no kernel of the package is
called on a reference path).
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

from neurocontrol.controllers.laws import LawContext, OneStepLaw, PredictiveLaw, default_blocks
from neurocontrol.exceptions import DivergenceError, ParameterError
from neurocontrol.nets.rtrl import ExactRTRL
from neurocontrol.nets.rtrn import RTRNConfig, init_weights
from neurocontrol.nets.rules import (
    AbstractLearningRule,
    Adam,
    DeadZone,
    GradientStep,
    Guarded,
    NormalizedStep,
    RecursiveLeastSquares,
    RTRLGradient,
    SigmaModification,
    TwoDRule,
    WeightNormProjection,
)

TINY = 1e-12


def full(message: str) -> str:
    """A ``match`` pattern for exactly this message (``re.search`` with anchors)."""
    return "^" + re.escape(message) + "$"


# --------------------------------------------------------------------------- argument checks, both sides of each bound

# (factory taking the value, argument name, rejected value, expected message, accepted value next to the bound)
BOUNDS = [
    (lambda v: TwoDRule(alpha=v), "alpha", 0, "`alpha` must be a finite number > 0 and < 2, got 0.", TINY),
    (lambda v: TwoDRule(alpha=v), "alpha", 2, "`alpha` must be a finite number > 0 and < 2, got 2.", 2 - 1e-9),
    (lambda v: TwoDRule(delta=v), "delta", -TINY, "`delta` must be a finite number >= 0, got -1e-12.", 0.0),
    (lambda v: TwoDRule(tol=v), "tol", -TINY, "`tol` must be a finite number >= 0, got -1e-12.", 0.0),
    (lambda v: TwoDRule(k_max=v), "k_max", 0, "`k_max` must be an integer >= 1, got 0.", 1),
    (lambda v: GradientStep(lr=v), "lr", 0.0, "`lr` must be a finite number > 0, got 0.0.", TINY),
    (lambda v: NormalizedStep(lr=v), "lr", 0.0, "`lr` must be a finite number > 0 and < 2, got 0.0.", TINY),
    (lambda v: NormalizedStep(lr=v), "lr", 2.0, "`lr` must be a finite number > 0 and < 2, got 2.0.", 2 - 1e-9),
    (lambda v: NormalizedStep(eps=v), "eps", 0.0, "`eps` must be a finite number > 0, got 0.0.", TINY),
    (lambda v: Adam(lr=v), "lr", 0.0, "`lr` must be a finite number > 0, got 0.0.", TINY),
    (lambda v: Adam(beta1=v), "beta1", -TINY, "`beta1` must be a finite number >= 0 and < 1, got -1e-12.", 0.0),
    (lambda v: Adam(beta1=v), "beta1", 1.0, "`beta1` must be a finite number >= 0 and < 1, got 1.0.", 1 - 1e-9),
    (lambda v: Adam(beta2=v), "beta2", -TINY, "`beta2` must be a finite number >= 0 and < 1, got -1e-12.", 0.0),
    (lambda v: Adam(beta2=v), "beta2", 1.0, "`beta2` must be a finite number >= 0 and < 1, got 1.0.", 1 - 1e-9),
    (lambda v: Adam(eps=v), "eps", 0.0, "`eps` must be a finite number > 0, got 0.0.", TINY),
    (lambda v: Adam(max_step=v), "max_step", 0.0, "`max_step` must be a finite number > 0, got 0.0.", TINY),
    (lambda v: RTRLGradient(horizon=v), "horizon", 0, "`horizon` must be an integer >= 1, got 0.", 1),
    (lambda v: RecursiveLeastSquares(forgetting=v), "forgetting", 0.0,
     "`forgetting` must be a finite number > 0 and <= 1, got 0.0.", TINY),
    (lambda v: RecursiveLeastSquares(forgetting=v), "forgetting", 1 + 1e-9,
     "`forgetting` must be a finite number > 0 and <= 1, got 1.000000001.", 1.0),
    (lambda v: RecursiveLeastSquares(directional_forgetting=v), "directional_forgetting", 0.0,
     "`directional_forgetting` must be a finite number > 0 and <= 1, got 0.0.", TINY),
    (lambda v: RecursiveLeastSquares(directional_forgetting=v), "directional_forgetting", 1 + 1e-9,
     "`directional_forgetting` must be a finite number > 0 and <= 1, got 1.000000001.", 1.0),
    (lambda v: RecursiveLeastSquares(initial_covariance=v), "initial_covariance", 0.0,
     "`initial_covariance` must be a finite number > 0, got 0.0.", TINY),
    (lambda v: RecursiveLeastSquares(max_trace=v), "max_trace", 0.0,
     "`max_trace` must be a finite number > 0, got 0.0.", TINY),
    (lambda v: WeightNormProjection(radius=v), "radius", 0.0, "`radius` must be a finite number > 0, got 0.0.", TINY),
    (lambda v: SigmaModification(rate=v), "rate", -TINY, "`rate` must be a finite number >= 0 and < 1, got -1e-12.",
     0.0),
    (lambda v: SigmaModification(rate=v), "rate", 1.0, "`rate` must be a finite number >= 0 and < 1, got 1.0.",
     1 - 1e-9),
    (lambda v: DeadZone(threshold=v), "threshold", -TINY, "`threshold` must be a finite number >= 0, got -1e-12.",
     0.0),
    (lambda v: Guarded(TwoDRule(), max_weight_norm=v), "max_weight_norm", 0.0,
     "`max_weight_norm` must be a number > 0, got 0.0.", TINY),
    (lambda v: OneStepLaw(damping=v), "damping", -TINY, "`damping` must be a finite number >= 0, got -1e-12.", 0.0),
    (lambda v: PredictiveLaw(horizon=v), "horizon", 0, "`horizon` must be an integer >= 1, got 0.", 1),
    (lambda v: PredictiveLaw(stride=v), "stride", 0, "`stride` must be an integer >= 1, got 0.", 1),
    (lambda v: PredictiveLaw(move_penalty=v), "move_penalty", -TINY,
     "`move_penalty` must be a finite number >= 0, got -1e-12.", 0.0),
]


@pytest.mark.parametrize("factory, name, bad, message, good", BOUNDS,
                         ids=[f"{b[1]}-{i}" for i, b in enumerate(BOUNDS)])
def test_each_bound_rejects_outside_and_accepts_inside(factory, name, bad, message, good):
    with pytest.raises(ParameterError, match=full(message)):
        factory(bad)
    obj = factory(good)
    got = getattr(obj, name)
    assert got == good and type(got) is type(good), (name, got)


# an int where a float is expected: stored as a float (the validated value is what is kept)
COERCED = [
    (lambda: TwoDRule(alpha=1), "alpha"),
    (lambda: GradientStep(lr=1), "lr"),
    (lambda: NormalizedStep(lr=1), "lr"),
    (lambda: NormalizedStep(eps=1), "eps"),
    (lambda: Adam(lr=1), "lr"),
    (lambda: Adam(beta1=0), "beta1"),
    (lambda: Adam(beta2=0), "beta2"),
    (lambda: Adam(eps=1), "eps"),
    (lambda: Adam(max_step=1), "max_step"),
    (lambda: RecursiveLeastSquares(forgetting=1), "forgetting"),
    (lambda: RecursiveLeastSquares(initial_covariance=1), "initial_covariance"),
    (lambda: RecursiveLeastSquares(max_trace=3), "max_trace"),
    (lambda: WeightNormProjection(radius=1), "radius"),
    (lambda: SigmaModification(rate=0), "rate"),
    (lambda: DeadZone(threshold=0), "threshold"),
    (lambda: Guarded(TwoDRule(), max_weight_norm=10), "max_weight_norm"),
    (lambda: OneStepLaw(damping=0), "damping"),
    (lambda: PredictiveLaw(move_penalty=0), "move_penalty"),
]


@pytest.mark.parametrize("factory, name", COERCED, ids=[f"{c[1]}-{i}" for i, c in enumerate(COERCED)])
def test_validated_reals_are_stored_as_float(factory, name):
    assert type(getattr(factory(), name)) is float


def test_rls_max_trace_none_is_kept_and_predictive_integers_are_ints():
    assert RecursiveLeastSquares(max_trace=None).max_trace is None
    law = PredictiveLaw(horizon=np.int64(20), stride=2)
    assert type(law.horizon) is int and law.horizon == 20


def test_default_blocks_values_and_bound():
    # by hand: starts at 0, 10 %, 30 %, 60 % of the horizon, rounded down, duplicates dropped
    assert default_blocks(1) == (0,)
    assert default_blocks(2) == (0, 1)
    assert default_blocks(3) == (0, 1)
    assert default_blocks(5) == (0, 1, 3)
    assert default_blocks(10) == (0, 1, 3, 6)
    assert default_blocks(100) == (0, 10, 30, 60)
    assert default_blocks(101) == (0, 10, 30, 60)
    with pytest.raises(ParameterError, match=full("`horizon` must be an integer >= 1, got 0.")):
        default_blocks(0)


@pytest.mark.parametrize("kwargs", [dict(blocks=(0, 3, 2)), dict(blocks=(0, 5, 5)), dict(blocks=(1, 5)),
                                    dict(blocks=()), dict(horizon=10, blocks=(0, 10))])
def test_predictive_blocks_must_start_at_zero_and_increase_below_the_horizon(kwargs):
    h = kwargs.get("horizon", 100)
    derived = {10: "(0, 1, 3, 6)", 100: "(0, 10, 30, 60)"}[h]
    message = (f"`blocks` must start at 0, increase strictly and stay below horizon={h}, got {kwargs['blocks']!r}; "
               f"leave `blocks` unset to let it follow `horizon` ({derived} for horizon={h}).")
    with pytest.raises(ParameterError, match=full(message)):
        PredictiveLaw(**kwargs)


def test_predictive_blocks_accepted_next_to_the_limits():
    assert PredictiveLaw(horizon=10, blocks=(0, 9)).blocks == (0, 9)
    assert PredictiveLaw(horizon=10, blocks=(0, 1, 2)).blocks == (0, 1, 2)
    assert PredictiveLaw(horizon=1, blocks=(0,)).blocks == (0,)


def test_predictive_output_weights_bounds():
    msg = "`output_weights` must be non-negative with at least one positive entry, got {}."
    with pytest.raises(ParameterError, match=full(msg.format((0.0, 0.0)))):
        PredictiveLaw(output_weights=(0.0, 0.0))
    with pytest.raises(ParameterError, match=full(msg.format((1.0, -1e-12)))):
        PredictiveLaw(output_weights=(1.0, -1e-12))
    # zero entries and small positive ones are fine
    assert PredictiveLaw(output_weights=(0.5, 0.0)).output_weights == (0.5, 0.0)
    assert PredictiveLaw(output_weights=(1e-9,)).output_weights == (1e-9,)


def test_predictive_derived_blocks_are_marked_and_explicit_ones_are_not():
    # scenario/encode.py leaves a derived key out of the written file
    assert PredictiveLaw().__derived_fields__ == frozenset({"blocks"})
    assert PredictiveLaw(blocks=(0, 10)).__derived_fields__ == frozenset()


def test_guarded_rejects_non_rules_and_non_guards_with_their_messages():
    with pytest.raises(ParameterError, match=full("`rule` must be an AbstractLearningRule, got str.")):
        Guarded("rule")
    with pytest.raises(ParameterError, match=full("`guards` must hold AbstractGuard objects (e.g. "
                                                  "DeadZone(threshold=0.01)), got float.")):
        Guarded(TwoDRule(), [0.1])
    assert Guarded(TwoDRule(), max_weight_norm=math.inf).max_weight_norm == math.inf
    assert Guarded(TwoDRule(), [DeadZone(threshold=0.1)]).guards == (DeadZone(threshold=0.1),)   # a tuple


def test_rtrl_gradient_rejects_non_optimizers_and_non_sensitivities():
    with pytest.raises(ParameterError, match=full("`optimizer` must be an AbstractOptimizer such as "
                                                  "NormalizedStep(), got str.")):
        RTRLGradient(optimizer="adam")
    with pytest.raises(ParameterError, match=full("`sensitivity` must be an AbstractSensitivity such as "
                                                  "ExactRTRL(), got str.")):
        RTRLGradient(sensitivity="snap")


def test_update_rejects_a_foreign_state_with_its_message():
    cfg = RTRNConfig(n_outputs=1, n_inputs=1)
    W = init_weights(cfg, 0)
    with pytest.raises(ParameterError, match=full("`state` must come from TwoDRule.init_state(), got dict.")):
        TwoDRule().update(W, [0.1, 0.2, 1.0], [0.3], {})


# --------------------------------------------------------------------------- documented defaults

# (class, field, literal in the docstring's "default ..." text, value)
DEFAULTS = [
    (TwoDRule, "alpha", "1.0", 1.0), (TwoDRule, "delta", "0.1", 0.1), (TwoDRule, "tol", "1e-8", 1e-8),
    (TwoDRule, "k_max", "20", 20),
    (NormalizedStep, "lr", "0.5", 0.5), (NormalizedStep, "eps", "1e-3", 1e-3),
    (Adam, "lr", "1e-3", 1e-3), (Adam, "eps", "1e-8", 1e-8), (Adam, "max_step", "None", None),
    (RTRLGradient, "horizon", "1", 1),
    (RecursiveLeastSquares, "forgetting", "1.0", 1.0), (RecursiveLeastSquares, "initial_covariance", "1e4", 1e4),
    (RecursiveLeastSquares, "max_trace", "None", None),
    (RecursiveLeastSquares, "directional_forgetting", "1.0", 1.0),
    (OneStepLaw, "damping", "1e-3", 1e-3),
    (PredictiveLaw, "horizon", "100", 100), (PredictiveLaw, "stride", "4", 4),
    (PredictiveLaw, "move_penalty", "15.0", 15.0),
]


@pytest.mark.parametrize("cls, name, literal, value", DEFAULTS, ids=[f"{d[0].__name__}.{d[1]}" for d in DEFAULTS])
def test_documented_default(cls, name, literal, value):
    doc = cls.__doc__
    assert re.search(rf"^\s*{name} : [^\n]*default {re.escape(literal)}$", doc, re.M), (cls, name)
    got = getattr(cls(), name)
    assert got == value and type(got) is type(value)


def test_documented_defaults_with_other_forms():
    assert re.search(r"^\s*beta1, beta2 : float in \[0, 1\), defaults 0\.9, 0\.999$", Adam.__doc__, re.M)
    a = Adam()
    assert (a.beta1, a.beta2) == (0.9, 0.999)
    assert re.search(r"^\s*max_weight_norm : float > 0, default 1e6$", Guarded.__doc__, re.M)
    assert re.search(r"^\s*raise_on_divergence : bool, default False$", Guarded.__doc__, re.M)
    assert re.search(r"^\s*guards : sequence of AbstractGuard, default \(\)$", Guarded.__doc__, re.M)
    g = Guarded(TwoDRule())
    assert g.max_weight_norm == 1e6 and g.raise_on_divergence is False and g.guards == ()
    assert re.search(r"^\s*toward_initial : bool, default True$", SigmaModification.__doc__, re.M)
    assert SigmaModification(rate=0.1).toward_initial is True
    assert re.search(r"^\s*output_weights : tuple of float, default \(1, 30, 1, 0, 0\)$", PredictiveLaw.__doc__, re.M)
    assert PredictiveLaw().output_weights == (1.0, 30.0, 1.0, 0.0, 0.0)
    assert PredictiveLaw().blocks == (0, 10, 30, 60)
    r = RTRLGradient()
    assert type(r.optimizer) is NormalizedStep and r.optimizer == NormalizedStep()
    assert type(r.sensitivity) is ExactRTRL


FROZEN_KW = [TwoDRule, GradientStep, NormalizedStep, Adam, RTRLGradient, RecursiveLeastSquares, OneStepLaw,
             PredictiveLaw]


@pytest.mark.parametrize("cls", FROZEN_KW, ids=lambda c: c.__name__)
def test_parameter_classes_are_frozen_and_keyword_only(cls):
    obj = cls()
    field = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, field, getattr(obj, field))
    with pytest.raises(TypeError, match="positional"):
        cls(getattr(obj, field))


@pytest.mark.parametrize("factory, arg", [(WeightNormProjection, 1.0), (SigmaModification, 0.1), (DeadZone, 0.1)],
                         ids=["projection", "sigma", "deadzone"])
def test_guards_are_frozen_and_keyword_only(factory, arg):
    name = dataclasses.fields(factory)[0].name
    obj = factory(**{name: arg})
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, name, arg)
    with pytest.raises(TypeError, match="positional"):
        factory(arg)


def test_guarded_is_frozen_but_takes_rule_and_guards_positionally():
    g = Guarded(TwoDRule(), [DeadZone(threshold=0.1)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.max_weight_norm = 1.0


# --------------------------------------------------------------------------- counters and flags after known sequences

Z2 = np.array([0.1, -0.2, 0.5, 1.0])     # 2 outputs, 1 input, bias


def test_update_info_flags_are_false_booleans_after_a_plain_update():
    cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    for rule in (TwoDRule(), RTRLGradient(), RecursiveLeastSquares(), Guarded(TwoDRule())):
        W = init_weights(cfg, 0)
        info = rule.update(W, Z2, [0.3, 0.2], rule.init_state(cfg, W))
        assert info.skipped is False and info.rolled_back is False, rule


@pytest.mark.parametrize("rule", [TwoDRule(), RTRLGradient(), RTRLGradient(horizon=3), RecursiveLeastSquares()],
                         ids=["2d", "rtrl", "rtrl-window", "rls"])
def test_n_updates_counts_every_call(rule):
    cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    W = init_weights(cfg, 0)
    st_ = rule.init_state(cfg, W)
    assert st_.n_updates == 0
    for k in range(1, 6):
        rule.update(W, Z2 * (1 + 0.1 * k), [0.3, 0.2 - 0.05 * k], st_)
        assert st_.n_updates == k


def test_single_step_rules_report_one_iteration():
    cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    for rule in (RTRLGradient(), RTRLGradient(horizon=3), RecursiveLeastSquares()):
        W = init_weights(cfg, 0)
        st_ = rule.init_state(cfg, W)
        assert [rule.update(W, Z2, [0.3, 0.2], st_).iterations for _ in range(3)] == [1, 1, 1]


def test_guarded_counters_over_skips_updates_and_rollbacks():
    cfg = RTRNConfig(n_outputs=1, n_inputs=1)
    W = np.zeros((1, 3))
    rule = Guarded(TwoDRule(k_max=1), [DeadZone(threshold=0.1)])
    st_ = rule.init_state(cfg, W)
    assert (st_.n_updates, st_.n_skipped, st_.n_rollbacks, st_.inner.n_updates) == (0, 0, 0, 0)
    # by hand (alpha 1, delta 0.1, one iteration: s += e / (1 - tanh(s)^2 + 0.1)): errors before each update
    # 0.05 (skip), 0.5 (update to s = 0.4545), 0.074 (skip), 0.436 (update to s = -0.0197), 0.0197 (skip)
    targets = [0.05, 0.5, 0.5, -0.01, 0.0]
    flags = []
    for d in targets:
        err = abs(d - math.tanh(float(W[0] @ np.array([0.0, 0.5, 1.0]))))
        info = rule.update(W, [0.0, 0.5, 1.0], [d], st_)
        flags.append(info.skipped)
        assert info.skipped == (err < 0.1) and info.rolled_back is False
    assert flags == [True, False, True, False, True]
    assert (st_.n_updates, st_.n_skipped, st_.n_rollbacks, st_.inner.n_updates) == (5, 3, 0, 2)


def test_rollbacks_are_counted_and_restart_the_inner_state():
    cfg = RTRNConfig(n_outputs=2, n_inputs=2)
    W = init_weights(cfg, 0)
    W0 = W.copy()
    rule = Guarded(RTRLGradient(optimizer=GradientStep(lr=1e12)), max_weight_norm=1e3)
    st_ = rule.init_state(cfg, W)
    for k in range(1, 4):
        info = rule.update(W, [0.1, 0.2, 0.3, -0.3, 1.0], [0.5, -0.5], st_)
        assert info.rolled_back is True and info.iterations == 1 and info.skipped is False
        assert st_.n_rollbacks == k and st_.n_updates == k
        assert st_.inner.n_updates == 0          # a fresh inner state after each rollback
    np.testing.assert_array_equal(W, W0)


class _NaNOnSecondCall(AbstractLearningRule):
    def __init__(self):
        self.calls = 0

    def _update_impl(self, W, z, target, error, state):
        self.calls += 1
        W *= np.nan if self.calls == 2 else 0.5
        return 1


def test_divergence_error_names_the_update_and_the_fix():
    cfg = RTRNConfig(n_outputs=1, n_inputs=1)
    W = init_weights(cfg, 0)
    rule = Guarded(_NaNOnSecondCall(), raise_on_divergence=True)
    st_ = rule.init_state(cfg, W)
    rule.update(W, [0.1, 0.2, 1.0], [0.3], st_)
    good = W.copy()
    msg = ("learning diverged at update 2 (||W||_F = nan > max_weight_norm = 1e+06 or non-finite); the previous "
           "weights were restored. Reduce the learning rate / alpha, increase delta, or add WeightNormProjection.")
    with pytest.raises(DivergenceError, match=full(msg)):
        rule.update(W, [0.1, 0.2, 1.0], [0.3], st_)
    np.testing.assert_array_equal(W, good)
    assert st_.n_rollbacks == 1


def test_windowed_rule_keeps_the_last_horizon_transitions_in_order():
    cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    H = 3
    rule = RTRLGradient(optimizer=GradientStep(lr=1e-3), horizon=H)
    W = init_weights(cfg, 0)
    st_ = rule.init_state(cfg, W)
    rng = np.random.default_rng(5)
    Z, D = [], []
    for t in range(7):
        z = np.concatenate([rng.uniform(-0.5, 0.5, 3), [1.0]])
        d = rng.uniform(-0.5, 0.5, 2)
        Z.append(z)
        D.append(d)
        rule.update(W, z, d, st_)
        n = min(t + 1, H)
        assert st_.count == n
        np.testing.assert_array_equal(st_.window_z[:n], np.array(Z[-n:]))
        np.testing.assert_array_equal(st_.window_d[:n], np.array(D[-n:]))


def test_rls_state_starts_from_the_prior():
    cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    W = init_weights(cfg, 0)
    st_ = RecursiveLeastSquares(initial_covariance=250.0).init_state(cfg, W)
    np.testing.assert_array_equal(st_.covariance, 250.0 * np.eye(4))
    assert st_.max_trace == 4 * 250.0 and st_.n_bounded == 0
    assert RecursiveLeastSquares(max_trace=7.0).init_state(cfg, W).max_trace == 7.0


def test_rls_update_is_the_textbook_one_and_counts_bounding():
    cfg = RTRNConfig(n_outputs=1, n_inputs=1)
    W = np.array([[0.2, -0.1, 0.05]])
    lam, p0 = 0.9, 10.0
    rule = RecursiveLeastSquares(forgetting=lam, initial_covariance=p0, max_trace=1e9)
    st_ = rule.init_state(cfg, W)
    Wr, P = W.copy(), p0 * np.eye(3)
    rng = np.random.default_rng(2)
    for _ in range(4):
        z = np.concatenate([rng.uniform(-0.5, 0.5, 2), [1.0]])
        d = rng.uniform(-0.5, 0.5, 1)
        rule.update(W, z, d, st_)
        k = P @ z / (lam + z @ P @ z)
        Wr[0] += k * (np.arctanh(d[0]) - Wr[0] @ z)
        P = (P - np.outer(k, z @ P)) / lam
        np.testing.assert_allclose(W, Wr, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(st_.covariance, P, rtol=1e-10, atol=1e-12)
    assert st_.n_bounded == 0
    # a tight trace bound is hit at every update with forgetting < 1
    rule = RecursiveLeastSquares(forgetting=0.5, initial_covariance=1.0, max_trace=3.0)
    st_ = rule.init_state(cfg, W)
    for k in range(1, 4):
        rule.update(W, [0.0, 0.0, 1.0], [0.1], st_)
        assert st_.n_bounded == k


# --------------------------------------------------------------------------- the 2-D rule and optimisers against numpy

def test_two_d_zero_regressor_is_skipped_without_a_change():
    cfg = RTRNConfig(n_outputs=1, n_inputs=1, bias=False)
    W = np.array([[0.3, -0.2]])
    rule = TwoDRule()
    info = rule.update(W, [0.0, 0.0], [0.4], rule.init_state(cfg, W))
    assert info.skipped is True and info.iterations == 0
    np.testing.assert_array_equal(W, [[0.3, -0.2]])


@pytest.mark.parametrize("alpha, delta", [(1.0, 0.1), (0.4, 0.0), (1.7, 0.5)])
def test_one_two_d_iteration_is_the_documented_step(alpha, delta):
    cfg = RTRNConfig(n_outputs=2, n_inputs=1, n_hidden=1)
    W = init_weights(cfg, 3)
    z = np.array([0.2, -0.3, 0.1, 0.6, 1.0])
    d = np.array([0.4, -0.1])
    rule = TwoDRule(alpha=alpha, delta=delta, k_max=1, tol=0.0)
    W1 = W.copy()
    info = rule.update(W1, z, d, rule.init_state(cfg, W))
    assert info.iterations == 1 and info.skipped is False
    s = W @ z
    ref = W.copy()
    e = d - np.tanh(s[:2])
    ref[:2] += alpha * np.outer(e / (1 - np.tanh(s[:2]) ** 2 + delta), z) / (z @ z)
    np.testing.assert_allclose(W1, ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(info.error_norm, np.linalg.norm(e), rtol=1e-12)
    np.testing.assert_allclose(info.error_norm_after, np.linalg.norm(d - np.tanh(ref[:2] @ z)), rtol=1e-12)


def test_gradient_and_normalized_steps_against_numpy():
    rng = np.random.default_rng(0)
    W, G = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    W1 = W.copy()
    GradientStep(lr=0.3).step(W1, G, 2.0, {})
    np.testing.assert_allclose(W1, W - 0.3 * G, rtol=1e-15)
    W1 = W.copy()
    NormalizedStep(lr=0.7, eps=0.25).step(W1, G, 2.0, {})
    np.testing.assert_allclose(W1, W - 0.7 / 2.25 * G, rtol=1e-15)


@pytest.mark.parametrize("max_step", [None, 0.02])
def test_adam_against_a_plain_implementation(max_step):
    rng = np.random.default_rng(1)
    lr, b1, b2, eps = 0.05, 0.8, 0.9, 1e-3
    opt = Adam(lr=lr, beta1=b1, beta2=b2, eps=eps, max_step=max_step)
    W = rng.normal(size=(2, 3))
    state = opt.init_state(W.shape)
    Wr, m, v = W.copy(), np.zeros_like(W), np.zeros_like(W)
    clipped = 0
    for t in range(1, 5):
        G = rng.normal(size=W.shape) * (10.0 if t == 2 else 1.0)
        opt.step(W, G, 0.0, state)
        m = b1 * m + (1 - b1) * G
        v = b2 * v + (1 - b2) * G ** 2
        step = lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        if max_step is not None:
            clipped += np.sum(np.abs(step) > max_step)
            step = np.minimum(np.maximum(step, -max_step), max_step)
        Wr = Wr - step
        np.testing.assert_allclose(W, Wr, rtol=1e-12, atol=1e-15)
        assert state["t"] == t
    if max_step is not None:
        assert clipped > 0       # the clip was exercised


def _rtrl_one_step_reference(W, Z, D, p, lr):
    """Real-time teacher-forced RTRL with plain gradient steps, written out with numpy."""
    W = W.copy()
    N = W.shape[0]
    P = np.zeros((N, N, W.shape[1]))       # P[k, i, j] = dy_k / dW_ij
    for t, (z, d) in enumerate(zip(Z, D)):
        s = W @ z
        y = np.tanh(s)
        fp = 1 - y ** 2
        Wrec = W[:, :N].copy()
        if t > 0:
            Wrec[:, :p] = 0.0              # teacher-forced units carry no sensitivity
        Pn = np.einsum("kl,lij->kij", Wrec, P)
        for k in range(N):
            Pn[k, k, :] += z
        Pn *= fp[:, None, None]
        P = Pn
        e = d - y[:p]
        G = -np.einsum("k,kij->ij", e, P[:p])
        W -= lr * G
    return W


def test_one_step_rtrl_rule_against_plain_teacher_forced_rtrl():
    cfg = RTRNConfig(n_outputs=2, n_inputs=1, n_hidden=1)
    W = init_weights(cfg, 4)
    rng = np.random.default_rng(6)
    Z = [np.concatenate([rng.uniform(-0.5, 0.5, 4), [1.0]]) for _ in range(5)]
    D = [rng.uniform(-0.5, 0.5, 2) for _ in range(5)]
    rule = RTRLGradient(optimizer=GradientStep(lr=0.2))
    W1 = W.copy()
    st_ = rule.init_state(cfg, W)
    for z, d in zip(Z, D):
        rule.update(W1, z, d, st_)
    np.testing.assert_allclose(W1, _rtrl_one_step_reference(W, Z, D, 2, 0.2), rtol=1e-11, atol=1e-14)


# --------------------------------------------------------------------------- guards against numpy

def test_projection_scales_onto_the_ball_only_outside_it():
    g = WeightNormProjection(radius=2.0)
    W = np.array([[3.0, 4.0]])
    g.apply(W, None)
    np.testing.assert_allclose(W, [[1.2, 1.6]], rtol=1e-15)
    W = np.array([[0.3, 0.4]])
    g.apply(W, None)
    np.testing.assert_array_equal(W, [[0.3, 0.4]])


def test_sigma_anchor_is_a_copy_of_the_initial_weights():
    cfg = RTRNConfig(n_outputs=1, n_inputs=1)
    W = np.array([[0.1, 0.2, 0.3]])
    anchor = SigmaModification(rate=0.5).init_state(cfg, W)
    W += 1.0
    np.testing.assert_array_equal(anchor, [[0.1, 0.2, 0.3]])
    SigmaModification(rate=0.5).apply(W, anchor)
    np.testing.assert_allclose(W, [[0.6, 0.7, 0.8]], rtol=1e-15)
    np.testing.assert_array_equal(SigmaModification(rate=0.5, toward_initial=False).init_state(cfg, W), np.zeros((1, 3)))


# --------------------------------------------------------------------------- the laws against numpy

def _context(seed, n=5, m=2, p=2, desired=(0, 1, 3, -1, -1), zero_imitator_row=None):
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 0.3, (n, n + m + 1))
    W[:, :n] += 0.8 * np.eye(n)
    Ws = rng.normal(0, 0.3, (n, n + p + 1))
    Ws[:, :n] += 0.7 * np.eye(n)
    if zero_imitator_row is not None:
        Ws[zero_imitator_row] = 0.0
    return LawContext(W=W, W_star=Ws, y=rng.normal(0, 0.2, n), d=rng.normal(0, 0.2, n), r=rng.normal(0, 0.2, p),
                      u_prev=rng.normal(0, 0.2, m), desired_map=np.array(desired, dtype=np.int64),
                      offset=rng.normal(0, 0.05, n))


@pytest.mark.parametrize("damping", [0.0, 0.3])
def test_one_step_law_is_damped_least_squares(damping):
    ctx = _context(7)
    n, m = 5, 2
    rows = np.array([k for k in range(n) if ctx.desired_map[k] >= 0])
    want = np.array([ctx.W_star[ctx.desired_map[k]] @ np.concatenate([ctx.d, ctx.r, [1.0]]) for k in rows])
    have = np.array([ctx.W[k, :n] @ ctx.y + ctx.W[k, n + m] for k in rows])
    W2 = ctx.W[rows, n:n + m]
    # min ||W2 u - (want - have)||^2 + damping ||u||^2 as an augmented least-squares problem
    A = np.vstack([W2, math.sqrt(damping) * np.eye(m)])
    b = np.concatenate([want - have, np.zeros(m)])
    ref = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(OneStepLaw(damping=damping).compute(ctx), ref, rtol=1e-10, atol=1e-13)


def _predictive_reference(ctx, horizon, blocks, stride, q, rho):
    """One Gauss-Newton step of the horizon problem, with sensitivities by the chain rule (plain numpy)."""
    n, m, p = ctx.y.shape[0], ctx.u_prev.shape[0], ctx.r.shape[0]
    nv = len(blocks) * m
    W1, W2, b = ctx.W[:, :n], ctx.W[:, n:n + m], ctx.W[:, n + m]
    V1, V2, c = ctx.W_star[:, :n], ctx.W_star[:, n:n + p], ctx.W_star[:, n + p]
    y, d, S = ctx.y.copy(), ctx.d.copy(), np.zeros((n, nv))
    J, res = [], []
    for h in range(horizon):
        E = np.zeros((m, nv))                  # du(t+h)/d(moves): identity for every block already started
        for j, start in enumerate(blocks):
            if start <= h:
                E[:, j * m:(j + 1) * m] = np.eye(m)
        y = np.tanh(W1 @ y + W2 @ ctx.u_prev + b + ctx.offset)
        S = (1 - y ** 2)[:, None] * (W1 @ S + W2 @ E)
        d = np.tanh(V1 @ d + V2 @ ctx.r + c)
        if (h + 1) % stride == 0 or h == horizon - 1:
            for k in range(n):
                if ctx.desired_map[k] >= 0 and q[k] > 0:
                    J.append(math.sqrt(q[k]) * S[k])
                    res.append(math.sqrt(q[k]) * (d[ctx.desired_map[k]] - y[k]))
    A = np.vstack([np.array(J), math.sqrt(rho) * np.eye(nv)])
    rhs = np.concatenate([np.array(res), np.zeros(nv)])
    du = np.linalg.lstsq(A, rhs, rcond=None)[0]
    return ctx.u_prev + du[:m]


@pytest.mark.parametrize("horizon, blocks, stride, q, rho, seed", [
    (20, None, 4, (1.0, 30.0, 1.0, 0.0, 0.0), 15.0, 0),
    (17, (0, 3, 9), 3, (1.0, 2.0, 0.5, 3.0, 0.0), 0.5, 1),
    (12, (0,), 1, (0.7, 0.0, 2.0, 1.0, 1.0), 0.01, 2),
    (9, (0, 2), 5, (0.5, 0.5, 0.5, 0.0, 0.0), 0.75, 3),
])
def test_predictive_law_against_a_plain_gauss_newton_step(horizon, blocks, stride, q, rho, seed):
    ctx = _context(seed, zero_imitator_row=4)
    law = PredictiveLaw(horizon=horizon, blocks=blocks, stride=stride, output_weights=q, move_penalty=rho)
    ref = _predictive_reference(ctx, horizon, law.blocks, stride, q, rho)
    np.testing.assert_allclose(law.compute(ctx), ref, rtol=1e-8, atol=1e-11)
    # the same law again, and on a plant with one input: the cached buffers follow the shapes
    np.testing.assert_allclose(law.compute(ctx), ref, rtol=1e-8, atol=1e-11)
    ctx1 = _context(seed + 10, m=1, zero_imitator_row=4)
    ref1 = _predictive_reference(ctx1, horizon, law.blocks, stride, q, rho)
    np.testing.assert_allclose(law.compute(ctx1), ref1, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(law.compute(ctx), ref, rtol=1e-8, atol=1e-11)


def test_predictive_law_with_no_move_penalty_is_the_plain_least_squares_step():
    ctx = _context(4)
    law = PredictiveLaw(horizon=15, blocks=(0, 5), stride=2, output_weights=(1.0, 1.0, 1.0, 0.0, 0.0),
                        move_penalty=0.0)
    ref = _predictive_reference(ctx, 15, (0, 5), 2, (1.0, 1.0, 1.0, 0.0, 0.0), 0.0)
    np.testing.assert_allclose(law.compute(ctx), ref, rtol=1e-6, atol=1e-9)


def test_predictive_law_output_weights_must_match_the_units():
    ctx = _context(0)
    with pytest.raises(ParameterError, match=full("`output_weights` must have one entry per identifier unit (5), "
                                                  "got 2.")):
        PredictiveLaw(output_weights=(1.0, 1.0)).compute(ctx)
