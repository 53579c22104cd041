"""Re-identification after a plant change: the identifier learns the changed plant again from open-loop data.

On a plant whose long-run gains only open-loop data teach (``long_run_signals``' identification warm-up: on the
shipped tasks the quadruple tank at P+), a closed loop at rest does not give the data to re-learn them after a
change, and the re-learning swings them (docs/neural_controller.md, "Re-identification after a change"). With
``change_reidentify`` on, after the hand-over:

- **The trip.** The norm of the identifier's one-step error (normalised units) is compared with the mean of the
  last :data:`LEVEL_STEPS` errors below the trip (the level); :data:`TRIP_STEPS` errors in a row above
  :data:`TRIP_RATIO` times the level trip it, once the level holds :data:`LEVEL_STEPS` errors taken since the
  hand-over (or since the last re-identification).
- **The rollback.** Every :data:`SNAPSHOT_EVERY` errors below the trip the weights, hidden state, blended state
  and input taps are kept, the last :data:`SNAPSHOTS` of them; at the trip the identifier's weights go back to the
  oldest (30-40 steps before it, before the change), its covariance to the one it started the run with.
- **The phase.** For as many steps as the planned warm-up, the input is a nominal input plus the warm-up's own
  excitation (held back near the end of an output's declared range, as in the warm-up). The nominal input starts
  at the input applied at the kept snapshot and integrates the controlled outputs' errors through the inverse of
  the long-run gain the kept weights give from the kept state: ``u_nom += pinv(G) (r - y) / T``, ``T`` a third of
  the phase (the model's slowest time constant where ``long_run_signals`` set the warm-up), within the input
  limits. So the levels are brought back to their set-points slowly, by a gain the change leaves of the right sign,
  while the excitation, faster than that loop, gives the data the long-run gains need. The identifier learns every
  transition as usual.
- **The hand-back.** The identifier learns the phase's transitions ``warmup_replay`` more times
  (:meth:`~neurocontrol.nets.ekf.IncrementalIdentifier.relearn`), and the predictive law flies again.

The trip needs no model and no declared parameter; the long-run gain is the network's own. Nothing here reads the
plant's equations.
"""

from __future__ import annotations

import numpy as np

from neurocontrol.controllers import learned_response as _learned
from neurocontrol.controllers._warmup import recorded_transitions

__all__ = ["TRIP_RATIO", "TRIP_STEPS", "LEVEL_STEPS", "SNAPSHOT_EVERY", "SNAPSHOTS", "Reidentification"]

#: An error this many times the level counts towards the trip.
TRIP_RATIO = 10.0
#: Errors above the trip level in a row that trip it.
TRIP_STEPS = 3
#: Errors in the level (a running window); the trip waits until it is full.
LEVEL_STEPS = 100
#: Errors below the trip between two snapshots of the identifier.
SNAPSHOT_EVERY = 10
#: Snapshots kept; the trip rolls back to the oldest.
SNAPSHOTS = 4


class Reidentification:
    """The trip, rollback, open-loop phase and hand-back of one :class:`NeuralController` (see the module).

    Parameters
    ----------
    n_weights, n_hidden, n_signals, n_taps, n_inputs, n_outputs : int
        The identifier's weights, hidden units and signals; the input taps' entries (``taps * m``); inputs ``m``;
        controlled outputs ``p``.
    steps : int
        Length of the phase, control steps (the planned warm-up).
    passes : int
        Replays of the phase's transitions at the hand-back (``warmup_replay``).
    """

    def __init__(self, *, n_weights: int, n_hidden: int, n_signals: int, n_taps: int, n_inputs: int,
                 n_outputs: int, steps: int, passes: int):
        self.steps, self.passes = int(steps), int(passes)
        self.integral_steps = max(1.0, self.steps / 3.0)
        m = n_inputs
        self.snap_theta = np.zeros((SNAPSHOTS, n_weights))
        self.snap_h = np.zeros((SNAPSHOTS, n_hidden))
        self.snap_x = np.zeros((SNAPSHOTS, n_signals))
        self.snap_u = np.zeros((SNAPSHOTS, n_taps))
        self.errors = np.zeros(LEVEL_STEPS)
        # [errors taken, errors above in a row, snapshots taken, phase step (-1: none), re-identifications,
        #  time of the last trip (s; NaN: none)]
        self.counters = np.zeros(6)
        self.nominal = np.zeros(m)
        self.gain_inverse = np.zeros((m, n_outputs))
        self.rec_x = np.full((self.steps + 1, n_signals), np.nan)
        self.rec_u = np.full((self.steps + 1, n_taps), np.nan)
        self.rec_learn = np.zeros(self.steps + 1)
        self.reset()

    # ------------------------------------------------------------------ episode
    def reset(self) -> None:
        """Forget the level, snapshots and any phase (at the controller's reset and a trial's start)."""
        for key, value in self.fresh_state().items():
            getattr(self, key[len("reidentify."):])[...] = value

    @property
    def active(self) -> bool:
        """Whether the open-loop phase flies the plant."""
        return self.counters[3] >= 0.0

    @property
    def count(self) -> int:
        """Re-identifications started since the reset."""
        return int(self.counters[4])

    @property
    def last_trip(self) -> float | None:
        """Run time (s) of the last trip, None before any."""
        t = float(self.counters[5])
        return None if np.isnan(t) else t

    _NAMES = ("snap_theta", "snap_h", "snap_x", "snap_u", "errors", "counters", "nominal", "gain_inverse", "rec_x",
              "rec_u", "rec_learn")

    def state_arrays(self):
        """Return (key, owner, attribute) of the arrays a checkpoint carries."""
        return [(f"reidentify.{a}", self, a) for a in self._NAMES]

    def fresh_state(self) -> dict:
        """Return the arrays as a reset leaves them (also for a checkpoint written before ``change_reidentify``)."""
        out = {f"reidentify.{a}": np.zeros_like(getattr(self, a)) for a in self._NAMES}
        out["reidentify.counters"][3], out["reidentify.counters"][5] = -1.0, np.nan
        out["reidentify.rec_x"][:], out["reidentify.rec_u"][:] = np.nan, np.nan
        return out

    # ------------------------------------------------------------------ a step
    def watch(self, controller, seen: bool, x: np.ndarray, k: int) -> bool:
        """Take the step's error in; return True when it trips (the phase starts at this step).

        Parameters
        ----------
        controller : NeuralController
            Its identifier (error, weights, hidden state) and input taps.
        seen : bool
            Whether this step's transition gave an error.
        x : numpy.ndarray
            The blended state of this step.
        k : int
            The step.
        """
        if self.active or not seen:
            return False
        ident, c = controller.identifier, self.counters
        with np.errstate(over="ignore", invalid="ignore"):
            err = float(np.linalg.norm(ident._e))
        full = c[0] >= LEVEL_STEPS
        level = float(np.mean(self.errors)) if full else np.inf
        if not np.isfinite(err):
            return False
        if err > TRIP_RATIO * max(level, 1e-12):
            c[1] += 1.0
            if c[1] >= TRIP_STEPS and c[2] >= SNAPSHOTS:
                self._start(controller, k)
                return True
            return False
        c[1] = 0.0
        self.errors[int(c[0]) % LEVEL_STEPS] = err
        c[0] += 1.0
        if int(c[0]) % SNAPSHOT_EVERY == 0:
            i = int(c[2]) % SNAPSHOTS
            self.snap_theta[i], self.snap_h[i], self.snap_x[i] = ident._theta, ident._h, x
            self.snap_u[i] = controller._u_prev
            c[2] += 1.0
        return False

    def _start(self, controller, k: int) -> None:
        """Roll the identifier back to the oldest snapshot and start the phase."""
        ident, c = controller.identifier, self.counters
        i = int(c[2]) % SNAPSHOTS                      # the oldest of the ring
        ident._theta[:] = self.snap_theta[i]            # in place: the kernels hold views of it
        if ident._P.size:                              # the rule's prior, as the run started (none: gradient rule)
            ident._P[...] = ident.rule.initial_covariance(ident.config)
        m = controller.n_inputs
        past = self.snap_u[i].reshape(-1, m)
        G = _learned.learned_step_response(ident, self.snap_x[i], self.snap_h[i], past, controller.output_indices,
                                           0.05 * controller._u_half, 4 * controller.law.horizon)[-1]
        with np.errstate(invalid="ignore", over="ignore"):
            inv = np.linalg.pinv(G) if np.all(np.isfinite(G)) else np.zeros((m, G.shape[0]))
        self.gain_inverse[...] = inv
        self.nominal[:] = past[0]
        self.rec_x[:], self.rec_u[:], self.rec_learn[:] = np.nan, np.nan, 0.0
        c[1] = 0.0
        c[3] = 0.0
        c[4] += 1.0
        c[5] = k * controller.dt

    def phase_input(self, controller, k: int, x: np.ndarray, reference: np.ndarray, learned: bool, seen: bool):
        """Record step ``k`` of the phase; return its input, or None when the phase has just ended (hand-back).

        Parameters
        ----------
        controller : NeuralController
        k : int
            The step.
        x : numpy.ndarray
            The blended state.
        reference : numpy.ndarray
            The controlled outputs' set-points.
        learned : bool
            Whether this step's transition was learned (``learning_until``).
        seen : bool
            Whether the identifier took this step's transition in (False after a lost sample: the replays skip it).
        """
        c, j = self.counters, int(self.counters[3])
        self.rec_x[j] = x
        self.rec_learn[j] = float(learned)
        if j > 0:
            self.rec_u[j - 1] = controller._u_prev if seen else np.nan
        if j >= self.steps:                            # the hand-back: learn the phase again, the law flies
            controller.identifier.relearn(recorded_transitions(self.rec_x, self.rec_u, self.rec_learn, j), self.passes)
            c[3] = -1.0
            c[0] = c[1] = c[2] = 0.0                   # a new level and new snapshots, from the new model
            return None
        lo, hi = controller.input_limits[:, 0], controller.input_limits[:, 1]
        err = np.asarray(reference, float) - x[list(controller.output_indices)]
        if np.all(np.isfinite(err)):
            self.nominal[:] = np.clip(self.nominal + self.gain_inverse @ err / self.integral_steps, lo, hi)
        c[3] = j + 1.0
        return controller._held_back(x, self.nominal, j)
