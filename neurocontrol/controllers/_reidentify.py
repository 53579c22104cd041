"""Re-identification after a plant change: the identifier learns the changed plant again.

On a plant whose long-run gains only open-loop data teach (``long_run_signals``' identification warm-up: on the
shipped tasks the quadruple tank at P+), the closed loop's own re-learning after a change swings those gains
(docs/neural_controller.md, "Re-identification after a change"). With ``change_reidentify`` on, after the
hand-over:

- **The trip.** The norm of the identifier's one-step error (normalised units) is compared with the mean of the
  last :data:`LEVEL_STEPS` errors below the trip (the level); :data:`TRIP_STEPS` errors in a row above
  :data:`TRIP_RATIO` times the level trip it, once the level holds :data:`LEVEL_MIN` errors taken since the
  hand-over (or since the last trip's phase; so a change soon after the hand-over does not enter the level).
- **The rollback.** Every :data:`SNAPSHOT_EVERY` errors below the trip the weights, hidden state, blended state
  and input taps are kept, the last :data:`SNAPSHOTS` of them; at the trip the identifier's weights go back to the
  oldest (30-40 steps before it, before the change).

Then one of two ways (``mode``):

- ``"gains"`` (the default): **the input gains re-learned in closed loop.** The kept weights stay as they are
  except for one factor ``a_j`` per plant input ``j``, the gain of that input in physical units: the network is
  given ``a_j u_j`` where the plant applies ``u_j`` (every input tap of it). In normalised units that is
  ``a_j un_j + (a_j - 1) mid_j / half_j``, so the weights are linear in the factors,
  ``theta(a) = theta_kept + D (a - 1)`` (:func:`gain_directions`), and ``d y_hat / d a = S D`` with ``S`` the
  identifier's own RTRL sensitivities of its one-step prediction to the weights. An EKF on ``a`` (prior
  ``N(1, GAIN_PRIOR_STD^2)`` per input, R the identifier's, no process noise) learns it from every transition the
  identifier takes in, which advances its hidden state and sensitivities without its own weight update
  (``update(hold=True)``); the weights are then ``theta(a)``. The predictive law flies throughout. After as many
  transitions as the planned warm-up (at least :data:`LEVEL_STEPS`), and once the level of the errors since the
  trip is within :data:`TRIP_RATIO` times the level before it, the identifier's own update takes over again, from
  the adapted weights and the covariance it had at the trip (until then the factors go on). A change of an
  actuator's gain is what the factors can learn; the rest is left to that update.
- ``"open_loop"``: **the plant flown in open loop.** The covariance goes back to the one the run started with.
  For as many steps as the planned warm-up, the input is a nominal input plus the warm-up's own excitation (held
  back near the end of an output's declared range, as in the warm-up). The nominal input starts at the input
  applied at the kept snapshot and integrates the controlled outputs' errors through the inverse of the long-run
  gain the kept weights give from the kept state: ``u_nom += pinv(G) (r - y) / T``, ``T`` a third of the phase
  (the model's slowest time constant where ``long_run_signals`` set the warm-up), within the input limits. The
  identifier learns every transition as usual; at the hand-back it learns the phase's transitions
  ``warmup_replay`` more times (:meth:`~neurocontrol.nets.ekf.IncrementalIdentifier.relearn`), and the predictive
  law flies again.

The trip needs no model and no declared parameter; the gains are the network's own. Nothing here reads the
plant's equations.
"""

from __future__ import annotations

import math

import numpy as np

from neurocontrol.controllers import learned_response as _learned
from neurocontrol.controllers._warmup import recorded_transitions
from neurocontrol.nets.incremental import split_weights

__all__ = ["TRIP_RATIO", "TRIP_STEPS", "LEVEL_STEPS", "LEVEL_MIN", "SNAPSHOT_EVERY", "SNAPSHOTS", "GAIN_PRIOR_STD",
           "MODES", "Reidentification", "gain_directions"]

#: An error this many times the level counts towards the trip.
TRIP_RATIO = 10.0
#: Errors above the trip level in a row that trip it.
TRIP_STEPS = 3
#: Errors in the level (a running window); the trip waits until it is full.
LEVEL_STEPS = 100
#: Errors the level needs before the trip is armed (a change soon after the hand-over must not enter the level).
LEVEL_MIN = 40
#: Errors below the trip between two snapshots of the identifier.
SNAPSHOT_EVERY = 10
#: Snapshots kept; the trip rolls back to the oldest.
SNAPSHOTS = 4
#: Prior standard deviation of each input's gain factor at a trip (``mode = "gains"``): from half to one and a half
#: times the kept model's gain within two of them.
GAIN_PRIOR_STD = 0.5
#: What follows a trip.
MODES = ("gains", "open_loop")


def gain_directions(config, theta: np.ndarray, n_inputs: int) -> np.ndarray:
    """Return ``D`` (n_weights, m): ``theta + D (a - 1)`` are the weights that see input ``j`` as ``a_j u_j``.

    The identifier's inputs are ``taps`` copies of the ``m`` plant inputs (tap ``t``'s input ``j`` at entry
    ``t m + j``), normalised as ``un = (u - mid) / half``. Scaling the physical input by ``a_j`` turns ``un`` into
    ``a_j un + (a_j - 1) mid / half``: each weight on the entry is multiplied by ``a_j``, and the same weight times
    ``(a_j - 1) mid / half`` is added to its row's bias, in the output rows and the hidden units alike.

    Parameters
    ----------
    config : IncrementalConfig
        The identifier's structure and scaling.
    theta : numpy.ndarray, shape (n_weights,)
        The weights ``a = 1`` gives.
    n_inputs : int
        The plant's inputs ``m`` (``config.n_inputs`` is a multiple of it).
    """
    m, nu = int(n_inputs), config.n_inputs
    p, H = config.n_outputs, config.n_hidden
    C, W = split_weights(config, theta)
    D = np.zeros((theta.size, m))
    for j in range(m):
        d = np.zeros(theta.size)
        dC, dW = split_weights(config, d)             # views of d
        for col in range(j, nu, m):
            shift = config.input_mid[col] / config.input_half[col]
            dC[:, p + col] = C[:, p + col]
            dC[:, p + nu] += C[:, p + col] * shift
            dW[:, H + p + col] = W[:, H + p + col]
            dW[:, H + p + nu] += W[:, H + p + col] * shift
        D[:, j] = d
    return D


class Reidentification:
    """The trip, rollback and what follows it, of one :class:`NeuralController` (see the module).

    Parameters
    ----------
    n_weights, n_hidden, n_signals, n_taps, n_inputs, n_outputs : int
        The identifier's weights, hidden units and signals; the input taps' entries (``taps * m``); inputs ``m``;
        controlled outputs ``p``.
    steps : int
        Length of the phase, control steps (the planned warm-up).
    passes : int
        Replays of the phase's transitions at the hand-back (``warmup_replay``).
    mode : {"gains", "open_loop"}, default "gains"
        What follows a trip (see the module).

    Attributes
    ----------
    gain_steps : int
        Transitions the factors learn from before the hand-back may come: ``steps``, at least :data:`LEVEL_STEPS`.
    gain_left : numpy.ndarray, shape (2,)
        Transitions left to the factors (0: not learning them), and the error level before the trip.
    """

    def __init__(self, *, n_weights: int, n_hidden: int, n_signals: int, n_taps: int, n_inputs: int,
                 n_outputs: int, steps: int, passes: int, mode: str = "gains"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
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
        # mode "gains": the kept weights, their directions per input factor, the factors, their covariance, and
        # [transitions left to learn them from (0: not learning them), the error level before the trip]
        self.gain_steps = max(self.steps, LEVEL_STEPS)
        self.gain_base = np.zeros(n_weights)
        self.gain_dirs = np.zeros((n_weights, m))
        self.gain = np.ones(m)
        self.gain_cov = np.zeros((m, m))
        self.gain_left = np.zeros(2)
        self.reset()

    # ------------------------------------------------------------------ episode
    def reset(self) -> None:
        """Forget the level, snapshots and any phase or gain learning (at the controller's reset and a trial's start).

        The identifier's weights stay as they are (with mode ``"gains"``: those of the factors learned so far).
        """
        for key, value in self.fresh_state().items():
            getattr(self, key[len("reidentify."):])[...] = value

    @property
    def active(self) -> bool:
        """Whether the open-loop phase flies the plant."""
        return self.counters[3] >= 0.0

    @property
    def adapting(self) -> bool:
        """Whether the input gains are being learned (mode ``"gains"``, after a trip)."""
        return bool(self.gain_left[0] > 0.0)

    @property
    def gains(self) -> np.ndarray | None:
        """The input gain factors being learned (mode ``"gains"``, after a trip), else None."""
        return self.gain.copy() if self.adapting else None

    @property
    def mode_now(self) -> str | None:
        """``"reidentify"`` while the open-loop phase flies, ``"gains"`` while the gains are learned, else None."""
        return "reidentify" if self.active else ("gains" if self.adapting else None)

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
              "rec_u", "rec_learn", "gain_base", "gain_dirs", "gain", "gain_cov", "gain_left")
    #: Arrays a checkpoint written before mode ``"gains"`` lacks (none learned then).
    GAIN_NAMES = _NAMES[-5:]

    def state_arrays(self):
        """Return (key, owner, attribute) of the arrays a checkpoint carries."""
        return [(f"reidentify.{a}", self, a) for a in self._NAMES]

    def fresh_state(self) -> dict:
        """Return the arrays as a reset leaves them (also for a checkpoint written before ``change_reidentify``)."""
        out = {f"reidentify.{a}": np.zeros_like(getattr(self, a)) for a in self._NAMES}
        out["reidentify.counters"][3], out["reidentify.counters"][5] = -1.0, np.nan
        out["reidentify.rec_x"][:], out["reidentify.rec_u"][:] = np.nan, np.nan
        out["reidentify.gain"][:] = 1.0
        return out

    # ------------------------------------------------------------------ a step
    def watch(self, controller, seen: bool, x: np.ndarray, k: int) -> bool:
        """Take the step's error in; return True when it trips into the open-loop phase (it starts at this step).

        With mode ``"gains"`` a trip rolls back and starts the gains' learning, and this returns False (the law
        flies this step).

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
        level = self._level()
        if not np.isfinite(err):
            return False
        if err > TRIP_RATIO * max(level, 1e-12):
            c[1] += 1.0
            if c[1] >= TRIP_STEPS and c[2] >= SNAPSHOTS:
                self._start(controller, k)
                return self.mode == "open_loop"
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
        """Roll the identifier back to the oldest snapshot and start the phase or the gains' learning."""
        ident, c = controller.identifier, self.counters
        i = int(c[2]) % SNAPSHOTS                      # the oldest of the ring
        ident._theta[:] = self.snap_theta[i]            # in place: the kernels hold views of it
        c[1] = 0.0
        c[4] += 1.0
        c[5] = k * controller.dt
        if self.mode == "gains":
            m = controller.n_inputs
            self.gain_base[:] = ident._theta
            self.gain_dirs[...] = gain_directions(ident.config, self.gain_base, m)
            self.gain[:] = 1.0
            self.gain_cov[...] = np.eye(m) * GAIN_PRIOR_STD ** 2
            self.gain_left[:] = self.gain_steps, self._level()
            c[0] = c[2] = 0.0                          # a new level and new snapshots, from the adapted model
            return
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
        c[3] = 0.0

    def _level(self) -> float:
        """Return the mean of the level's window (the last :data:`LEVEL_STEPS` errors taken; inf before LEVEL_MIN)."""
        taken = min(int(self.counters[0]), LEVEL_STEPS)
        return float(np.mean(self.errors[:taken])) if taken >= LEVEL_MIN else math.inf

    def _level_back(self) -> bool:
        """Whether the error level since the trip is full and within ``TRIP_RATIO`` times the level before it."""
        return self.counters[0] >= LEVEL_STEPS and float(np.mean(self.errors)) <= TRIP_RATIO * self.gain_left[1]

    def learn_gains(self, ident, y, u, y_next, *, learn: bool, hold: bool) -> str:
        """Take one transition in while the gains are learned (mode ``"gains"``); return the identifier's status.

        The identifier computes its one-step error and advances its hidden state and sensitivities without its own
        weight update (``update(hold=True)``); unless ``learn`` is False (``learning_until``: the hidden state only)
        or ``hold`` (the onset of sensor noise holds learning), one EKF step on the factors follows,
        ``K = P J^T (J P J^T + R)^-1``, ``a += K e``, ``P -= K J P`` with ``J = S D``, and the weights become
        ``theta(a)``; the status is then ``"updated"``. Each transition taken in counts towards
        :attr:`gain_steps`; after the last, once the error level is back (:meth:`_level_back`), :attr:`adapting` is
        False and the identifier's own update takes over.

        Parameters
        ----------
        ident : IncrementalIdentifier
        y, u, y_next : numpy.ndarray
            The transition, as :meth:`~neurocontrol.nets.ekf.IncrementalIdentifier.update` takes it.
        learn, hold : bool
            See above.
        """
        status = ident.update(y, u, y_next, learn=learn, hold=learn)
        if status != "non_finite":
            self.gain_left[0] -= 1.0                    # the last one: the identifier's own update from the next on
            if self.gain_left[0] <= 0.0 and not self._level_back():
                self.gain_left[0] = 1.0                 # not yet: the factors go on, one step at a time
        if status != "held" or hold:
            return status
        with np.errstate(over="ignore", invalid="ignore"):
            J = ident._Sy @ self.gain_dirs
        e, P = ident._e, self.gain_cov
        if not (np.all(np.isfinite(J)) and np.all(np.isfinite(e))):
            return status
        PJt = P @ J.T
        K = np.linalg.solve(J @ PJt + np.diag(ident._R), PJt.T).T
        self.gain += K @ e
        P -= K @ PJt.T
        P[...] = 0.5 * (P + P.T)
        np.add(self.gain_base, self.gain_dirs @ (self.gain - 1.0), out=ident._theta)    # in place, as the rollback
        return "updated"

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
