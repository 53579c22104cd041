"""What the neural controller chose for itself: the settings ``neurocontrol run`` prints and the manifest records."""

from __future__ import annotations

import math

import numpy as np

from neurocontrol._validation import check_real
from neurocontrol.controllers import learned_response as _learned
from neurocontrol.exceptions import ParameterError

__all__ = ["NeuralSettings"]


class NeuralSettings:
    """``derived_settings`` of :class:`~neurocontrol.controllers.neural.NeuralController` (a mixin).

    Reads the controller's configuration and what its constructor and
    :func:`~neurocontrol.controllers.neural.build_neural` derived from it.
    """

    #: How the warm-up controller was chosen (set by :func:`build_neural`; None: given by the caller).
    warmup_note: str | None = None
    #: Set by :func:`build_neural` when the plant's model says the horizon is too short (None: no finding).
    horizon_note: str | None = None
    #: What :func:`build_neural` gave the networks for the long-run gains (``long_run_signals``; None: nothing).
    long_run_note: str | None = None
    #: Where ``rate_indices`` came from when :func:`build_neural` took them from the env (None: given or none).
    rates_note: str | None = None
    #: Why :func:`build_neural` chose ``handover_steps`` (None: given, or none).
    handover_note: str | None = None
    #: Where :func:`build_neural` took ``nominal_input`` from (None: given, or the middle of the limits).
    nominal_note: str | None = None
    #: Where :func:`build_neural` took ``warmup_feedforward`` from (None: given to the constructor, or none).
    warmup_feedforward_note: str | None = None
    #: Why :func:`build_neural` could not check the plant's stability for a warm-up flown without feedback (None:
    #: a warm-up controller flies, the model found the plant stable, or the controller was not built by it).
    unchecked_note: str | None = None
    #: What the identification experiment of ``plant_model = "identified"`` gave (None: none flown).
    identified_note: str | None = None

    @property
    def input_gains(self) -> np.ndarray | None:
        """The input gain factors being learned after a trip (``change_reidentify = "gains"``), else None.

        Factor ``j`` multiplies input ``j`` as the identifier sees it, relative to the weights the trip rolled back
        to (1: unchanged).
        """
        return None if self._reid is None else self._reid.gains

    def run_notes(self) -> dict:
        """Return what a run's record should say of the run as it ended (``meta["controller_notes"]``; {}: nothing).

        After a trip of ``change_reidentify = "gains"``: ``input_gains``, the factors learned since the last one
        (whether or not the identifier's own update has taken over since).
        """
        reid = self._reid
        if reid is None or reid.mode != "gains" or reid.count == 0:
            return {}
        return {"input_gains": [float(a) for a in reid.gain]}

    def failure_hint(self, guarded: bool = False) -> str | None:
        """Return why a run the env stopped may have failed, when the controller can tell; else None.

        :func:`~neurocontrol.simulation.loop.simulate` asks after the env stopped a run (``meta["hint"]``,
        printed by ``neurocontrol run``). Three suspects are named, the first that applies: a warm-up without a
        warm-up controller on a plant whose stability :func:`build_neural` could not check (no python-control
        model, no trim, ``auto_warmup = false`` or no warm-up), the first suspect on an unstable or integrating
        plant; the horizon check's finding (a right-half-plane zero the horizon does not cover); after the
        hand-over, sensor noise (measured signals the noise estimate counts as noisy). ``guarded``: asked by a
        :class:`~neurocontrol.controllers.guard.GuardedController` around this controller (the noise hint then
        does not suggest the guard).
        """
        if not self._ready:
            return None
        t = self._k * self.dt
        if self.warmup_controller is not None or self.unchecked_note is None:
            if self.horizon_note:
                return f"the env stopped the run at {t:.4g} s; the horizon check had a finding: {self.horizon_note}."
            return self._noise_hint(t, guarded)
        when = f"during the warm-up, at {t:.4g} s" if self._mode == "warmup" else \
            f"at {t:.4g} s, {t - self._n_warmup * self.dt:.4g} s after the warm-up ended"
        s = self._stabiliser
        if s is not None:
            flew = (f"the warm-up was flown by LQR-I on a linear model fitted to its transitions, from the fit on "
                    f"{s.engaged_at} of them") if s.engaged else (
                "no controller flew the warm-up: the linear model fitted to its transitions decayed, or never had "
                "enough of them")
            return (f"the env stopped the run {when}; the plant's stability was not checked ({self.unchecked_note}) "
                    f"and {flew} (`identified_warmup`). A warm-up controller for this plant may keep it: "
                    "`[controller.warmup_pid]` in a scenario or `warmup_controller=` in Python "
                    "(docs/neural_controller.md, \"Warm-up without a model\").")
        cfg = self.config
        outputs_only = sorted(cfg.output_indices) == list(range(len(cfg.observation_low)))
        slow = (" A stable plant measured by its outputs only is lost the same way after the warm-up when a slow "
                "right-half-plane zero acts beyond the horizon: `plant_model = \"identified\"` derives the horizon "
                "and input taps from a linear model fitted to an identification experiment before the run "
                "(docs/neural_controller.md, \"A model identified before the run\").") \
            if outputs_only and cfg.plant_model != "identified" else ""
        return (f"the env stopped the run {when}; no controller flew the warm-up (the nominal input plus "
                f"excitation, without feedback) and the plant's stability was not checked ({self.unchecked_note}). "
                "An unstable or integrating plant needs a warm-up controller: `[controller.warmup_pid]` in a "
                "scenario or `warmup_controller=` in Python; or the automatic LQR-I, which needs `auto_warmup = "
                "true`, `warmup_duration > 0` and a python-control model on the env (`to_iosys()` or `sys`) "
                "(docs/neural_controller.md, \"Warm-up on an unstable or integrating plant\")." + slow)

    def _noise_hint(self, t: float, guarded: bool) -> str | None:
        """Return the hint when the predictive law flew under sensor noise (the filter's estimate, once whole)."""
        f = self.filter
        if self._mode != "predictive" or not self._k - 1 >= self._n_warmup + f.window:
            return None
        noisy = f.noise_var >= self._quiet
        if not noisy.any():
            return None
        top = 100.0 * float(np.sqrt(np.max(f.noise_var[noisy])))
        return (f"the env stopped the run at {t:.4g} s under sensor noise: {int(noisy.sum())} of the "
                f"{noisy.size} signals the networks see count as noisy (estimated standard deviation up to "
                f"{top:.2g} % of the signal's half range). The identifier learns from the noisy measurements, and "
                "under noise the neural controller loses plants a fixed controller keeps (docs/neural_controller.md, "
                "\"Sensor noise at 1 % of range: what fails\")" + ("." if guarded else
                "; the guard (`[controller] kind = \"guarded\"`, an LQR-I fallback) kept most such hover and tank P- "
                "runs at 1 % noise, not the twin rotor's or the PVTOL's (docs/reliability.md, \"The guard around the "
                "neural controller\")."))

    def derived_settings(self) -> dict:
        """Return the warm-up controller and steps (check: longest), preview lead (steps), hidden units, imitator."""
        if self.warmup_controller is None:
            given = self.config.nominal_input is not None
            why = self.nominal_note or ("given" if given else "the middle of the limits")
            warm = f"the nominal input {self._nominal0.tolist()} ({why}) plus excitation"
            if self._stabiliser is not None:
                warm += (", flown by LQR-I on a linear model fitted to the warm-up's transitions once that model does "
                         f"not decay within the warm-up (identified_warmup, {self._stabiliser.lags} lag"
                         f"{'s' * (self._stabiliser.lags > 1)})")
            if self._ff_gain is not None:
                how = "given" if self.warmup_feedforward_note is None else self.warmup_feedforward_note
                warm += (f"; the nominal input moves with the reference by {np.round(self._ff_gain, 4).tolist()} "
                         f"per unit of each controlled output's reference move (warmup_feedforward, {how})")
        else:
            warm = self.warmup_note or f"{type(self.warmup_controller).__name__} (given)"
        flown = self.warmup_controller is not None or self._stabiliser is not None
        blend = {"handover_steps": self._handover} if flown and self._handover else {}
        if blend and self.handover_note:
            blend["handover_steps"] = f"{self._handover} ({self.handover_note})"
        return {"warmup": warm, "warmup_steps": self._warmup_steps, **blend, "preview_lead_steps": list(self._lead),
                "identifier_hidden_units": self._id_cfg.n_hidden, "imitator": self.config.imitator,
                "identifier_filter_time_constants": list(self._id_cfg.filter_time_constants or ()),
                **({"plant_model": self.identified_note} if self.identified_note else {}),
                **({"horizon_check": self.horizon_note} if self.horizon_note else {}),
                **({"rate_indices": self.rates_note} if self.rates_note else {}),
                **({"rate_weights": self._rate_weight_setting()} if self._rate_rows else {}),
                **({"lags": self._lag_settings()} if self._lags.shape[0] else {}),
                **({"long_run_signals": self.long_run_note} if self.long_run_note else {}),
                **({"probe": self._probe_setting()} if self._probe is not None else {}),
                **({"rest_walk": self._rest_setting()} if self._rest_rows.size else {}),
                **({"start_caution": self._start_setting()} if self._start_caution else {}),
                **self._check_settings()}

    def _short_warmup(self, given) -> str:
        """Why a setting chosen by the warm-up's length is on: ``given``, or that length against the horizon."""
        if given is not None:
            return "given"
        n = self._warmup_steps
        return f"automatic: a warm-up of {n} step{'s' * (n != 1)}, shorter than the horizon of {self.law.horizon}"

    def _probe_setting(self) -> str:
        return f"{self._probe.effect:g} of the outputs' half range at the horizon, while an offset persists " \
               f"({self._short_warmup(self.config.probe)})"

    def _start_setting(self) -> str:
        why = self._short_warmup(self.config.start_caution)
        why += "" if self.config.start_caution is not None else ", from the middle of the limits"
        return f"the move penalty x {self.law.change_caution:g} over the first {self._start_caution} predictive " \
               f"steps ({why})"

    def _rest_setting(self) -> str:
        why = "given" if self.config.rest_walk is not None else "automatic: with the probe"
        return f"{self._rest:g} x the R floor per update on the biases of " \
               f"observation entries {self._rest_rows.tolist()}, while at rest ({why})"

    def learned_step_response(self, steps: int | None = None, amplitude: float = 0.05) -> np.ndarray:
        """Return the identifier's step response of each controlled output to each input, from the present state.

        What the synthesiser plans through, from where the plant is now: the
        identifier free-runs ``steps`` control steps from the present state
        (the last measurement as the controller blended it, the hidden state,
        the input taps) with the last applied input held, and again with that
        input, one entry at a time, stepped by ``amplitude`` times its half
        range from the same step on; the difference
        per unit of the step is returned. Nothing is learned or changed.
        Compare with the plant's own response where a model is known, and
        :func:`~neurocontrol.controllers.learned_response.settling_steps` of it
        with the horizon (``law.horizon``); docs/neural_controller.md, section
        "What the identifier learned".

        Parameters
        ----------
        steps : int, optional
            Length of the responses, control steps; default four times the horizon.
        amplitude : float, default 0.05
            The step as a fraction of each input's half range, in (0, 1] (the
            learned model is nonlinear: the response is that of a step this large).

        Returns
        -------
        numpy.ndarray, shape (steps, p, m)
            Output ``output_indices[i]`` per unit of input ``j`` (physical units), ``i`` steps after the step.

        Raises
        ------
        ParameterError
            Before the controller has applied an input (call it after :meth:`step`), or on bad arguments.
        """
        if not self._ready or self._last_u is None or not math.isfinite(self._u_prev.sum()):
            raise ParameterError("the controller has applied no input yet: call learned_step_response() after "
                                 "reset() and at least one step().")
        a = check_real(amplitude, "amplitude", low=0.0, high=1.0, low_open=True, unit="(fraction of the half range)")
        n = 4 * self.law.horizon if steps is None else steps
        past = self._u_prev.reshape(self._taps, self.n_inputs)
        return _learned.learned_step_response(self.identifier, self._x, self.identifier._h, past,
                                              self.output_indices, a * self._u_half, n)
