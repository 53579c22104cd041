"""The imitator network of the neural controller: an RTRN of the identifier's structure that learns the reference model.

The two-network design has two recurrent networks of identical structure:
the identifier learns the plant, the imitator the desired response. Here the
imitator is an :class:`~neurocontrol.nets.ekf.IncrementalIdentifier` with the
identifier's number of tanh hidden units and the same learning rule (the
decoupled EKF over exact RTRL sensitivities). Its "plant" is the
second-order reference model: outputs the model's value and rate of each
controlled output, inputs the set-points. It learns

* before the episode, from the reference model driven by a seeded random
  staircase across the declared output ranges (``pretrain`` set-point
  changes), and
* at every control step, from the reference model's actual transition,
  every transition by default. A dead zone (``dead_zone`` times the rule's
  noise level, below which a transition is not learned) saves the EKF step
  but leaves its error where the reference model rests: at a held set-point
  the desired trajectory's fixed point is then off the set-point, and the
  loop settles that far from it (docs/neural_controller.md).

The synthesiser's desired trajectory is the imitator's free run over the
horizon from the reference model's present state under the (previewed or
held) reference. The reference model is linear, so what the imitator has to
learn is a linear map; its linear part carries it and its hidden units learn
next to nothing (measured in docs/neural_controller.md).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neurocontrol._validation import check_int, check_positive
from neurocontrol.controllers import _neural_kernels as _nk
from neurocontrol.exceptions import ParameterError
from neurocontrol.nets.ekf import DecoupledEKF, IncrementalIdentifier
from neurocontrol.nets.incremental import IncrementalConfig

__all__ = ["Imitator", "reference_model_step", "response_matrices"]


class Imitator:
    """An incremental RTRN trained by the EKF over RTRL sensitivities on a second-order reference model.

    Parameters
    ----------
    transition, input_matrix : numpy.ndarray, shapes (p, 2, 2) and (p, 2)
        The reference model per controlled output: ``x(t+1) = A_i x(t) + b_i r_i(t)``,
        ``x = [value, rate]`` (e.g. :class:`~neurocontrol.reference_model.SecondOrderReferenceModel`).
    value_range : numpy.ndarray, shape (2, p)
        Declared ``[low, high]`` of each controlled output (physical units); also
        the set-points' range.
    rate_range : numpy.ndarray, shape (2, p)
        ``[low, high]`` of each output's rate, for the network's normalisation.
    n_hidden : int
        Hidden tanh units (the identifier's number).
    rule : DecoupledEKF
        The learning rule (the identifier's).
    hold_steps : tuple of int
        ``(shortest, longest)`` hold of a pre-training set-point, control steps.
    pretrain : int
        Number of random set-points of the pre-training staircase (0: none).
    dead_zone : float, default 0.0
        Online dead zone of the rule, in noise standard deviations (the
        pre-training learns every transition). An error below it at a held
        set-point is a steady offset of the desired trajectory and so of the
        loop (0.1 left 2e-3 V on the quadruple tank's level output, 4 % of its tolerance).

    Attributes
    ----------
    network : IncrementalIdentifier
        The network (after :meth:`reset`); outputs ordered value, rate per output.
    last_status : str
        Outcome of the last :meth:`learn` (``"none"`` before any).
    """

    def __init__(self, transition, input_matrix, value_range, rate_range, *, n_hidden: int, rule: DecoupledEKF,
                 hold_steps: tuple[int, int], pretrain: int, dead_zone: float = 0.0):  # noqa: D107
        self._ad = np.ascontiguousarray(transition, dtype=np.float64)
        self._bd = np.ascontiguousarray(input_matrix, dtype=np.float64)
        p = self._ad.shape[0]
        if self._ad.shape != (p, 2, 2) or self._bd.shape != (p, 2):
            raise ParameterError(f"the reference model must be (p, 2, 2) and (p, 2) matrices, got "
                                 f"{self._ad.shape} and {self._bd.shape}.")
        vr = np.asarray(value_range, dtype=np.float64)
        rr = np.asarray(rate_range, dtype=np.float64)
        if vr.shape != (2, p) or rr.shape != (2, p) or np.any(vr[1] <= vr[0]) or np.any(rr[1] <= rr[0]):
            raise ParameterError(f"`value_range` and `rate_range` must be increasing (2, {p}) ranges, got "
                                 f"{vr.tolist()} and {rr.tolist()}.")
        self.pretrain = check_int(pretrain, "imitator_pretrain", low=0)
        lo, hi = (check_int(h, "hold_steps", low=1) for h in hold_steps)
        if hi < lo:
            raise ParameterError(f"`hold_steps` must be (shortest, longest) with shortest <= longest, "
                                 f"got {hold_steps}.")
        self._holds = (lo, hi)
        self._values = vr
        out_range = np.empty((2, 2 * p))
        out_range[:, 0::2], out_range[:, 1::2] = vr, rr
        self.config = IncrementalConfig(n_outputs=2 * p, n_inputs=p, n_hidden=n_hidden, output_range=out_range,
                                        input_range=vr)
        self.rule = rule
        self.online_rule = dataclasses.replace(rule, dead_zone=check_positive(dead_zone, "dead_zone",
                                                                              allow_zero=True))
        self.network: IncrementalIdentifier | None = None
        self.last_status = "none"
        self._old = np.empty(2 * p)
        self._new = np.empty(2 * p)

    @property
    def n_outputs(self) -> int:
        """Number p of controlled outputs (the network has 2p outputs and p inputs)."""
        return self._ad.shape[0]

    def reset(self, rng: np.random.Generator) -> dict:
        """Draw the network's initial weights, pre-train it, zero its hidden state; return its update counts.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of the initial weights and of the pre-training staircase.
        """
        self.network = IncrementalIdentifier(self.config, self.rule, rng=rng)
        p, (lo, hi) = self.n_outputs, self._values
        inner_lo, inner_hi = lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo)
        x = np.zeros((p, 2))
        x[:, 0] = rng.uniform(lo, hi)
        for _ in range(self.pretrain):
            r = rng.uniform(inner_lo, inner_hi)
            for _ in range(int(rng.integers(self._holds[0], self._holds[1] + 1))):
                self.learn(x, r)
        self.network.reset_hidden()
        self.network.rule = self.online_rule
        return self.network.counts

    def learn(self, state: np.ndarray, reference: np.ndarray) -> str:
        """Advance ``state`` (p, 2) in place by one reference-model step and learn that transition.

        Parameters
        ----------
        state : numpy.ndarray, shape (p, 2)
            The reference model's state ``[value, rate]`` per output, physical units.
        reference : numpy.ndarray, shape (p,)
            The set-points of this step.

        Returns
        -------
        str
            The network's update outcome.
        """
        self._old[:] = state.reshape(-1)
        reference_model_step(state, self._ad, self._bd, reference)
        self._new[:] = state.reshape(-1)
        self.last_status = self.network.update(self._old, reference, self._new)
        return self.last_status

    def buffers(self, horizon: int):
        """Scratch arrays of :meth:`desired` for a horizon of ``horizon`` steps (allocate once per episode).

        Parameters
        ----------
        horizon : int
            N, control steps.
        """
        cfg = self.config
        n, H, p = cfg.n_outputs, cfg.n_hidden, self.n_outputs
        return (np.empty(n), np.empty((horizon, p)), np.empty((horizon, n)), np.empty((horizon, H)), np.empty(n),
                np.empty(H), np.empty(cfg.block_size), np.empty(cfg.block_size))

    def desired(self, state, r, preview: bool, reference, mid, half, out_idx, rate_rows, rate_cols, buffers, out):
        """Write the imitator's free run over the horizon into ``out`` (N, q), in the observation's normalisation.

        Parameters
        ----------
        state : numpy.ndarray, shape (p, 2)
            The reference model's present state, physical units.
        r : numpy.ndarray, shape (N, p)
            The previewed reference (row 0: now); read only when ``preview``.
        preview : bool
            False: ``reference`` is held over the horizon.
        reference : numpy.ndarray, shape (p,)
            The present set-points.
        mid, half : numpy.ndarray, shape (n_obs,)
            The observation's normalisation.
        out_idx : numpy.ndarray of int, shape (p,)
            Observation entry of each controlled output.
        rate_rows, rate_cols : numpy.ndarray of int
            Outputs whose rate is tracked and the observation entries holding them.
        buffers : tuple
            From :meth:`buffers`.
        out : numpy.ndarray, shape (N, q)
            Desired values (columns: the outputs, then the tracked rates).
        """
        cfg, net = self.config, self.network
        _nk.imitator_desired_kernel(net._C, net._W, net._h, state, r, preview, reference, cfg.output_mid,
                                    cfg.output_half, cfg.input_mid, cfg.input_half, mid, half, out_idx, rate_rows,
                                    rate_cols, *buffers, out)


def response_matrices(transition, input_matrix, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the reference model's exact response matrices: ``x(t+1) = Phi[t] x(0) + sum_j G[t, j] r(j)``.

    What the imitator learns, computed (``imitator = "exact"``).

    Parameters
    ----------
    transition, input_matrix : numpy.ndarray, shapes (p, 2, 2) and (p, 2)
        The second-order model per output.
    horizon : int
        N, steps.

    Returns
    -------
    phi : numpy.ndarray, shape (p, N, 2, 2)
        ``A^(t+1)``.
    gmat : numpy.ndarray, shape (p, N, N, 2)
        ``A^(t-j) b`` for ``j <= t``, zero above.
    """
    ad, bd = np.asarray(transition, dtype=np.float64), np.asarray(input_matrix, dtype=np.float64)
    p, N = ad.shape[0], check_int(horizon, "horizon", low=1)
    phi = np.empty((p, N, 2, 2))
    gmat = np.zeros((p, N, N, 2))
    for i in range(p):
        powers = [np.eye(2)]
        for _ in range(N):
            powers.append(ad[i] @ powers[-1])
        for t in range(N):
            phi[i, t] = powers[t + 1]
            for j in range(t + 1):
                gmat[i, t, j] = powers[t - j] @ bd[i]
    return phi, gmat


def reference_model_step(state, transition, input_matrix, reference) -> None:
    """Advance the reference model's state (p, 2) in place by one step (compiled; no checks).

    The neural controller's and its imitator's step:
    :func:`~neurocontrol.controllers._neural_kernels.reference_model_kernel`, which rounds as numpy's
    ``transition[i] @ state[i] + input_matrix[i] * reference[i]`` does here (what both computed before);
    :func:`neurocontrol.reference_model.second_order_step` is the compiled step of the other
    controllers, which rounds with fused multiply-add throughout and so differs in the last bits.

    Parameters
    ----------
    state : numpy.ndarray, shape (p, 2)
        ``[value, rate]`` per output (float64), overwritten.
    transition, input_matrix : numpy.ndarray, shapes (p, 2, 2) and (p, 2)
        The model per output (float64).
    reference : numpy.ndarray, shape (p,)
        The set-points of this step (float64).
    """
    _nk.reference_model_kernel(state, transition, input_matrix, reference)
