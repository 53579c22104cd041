"""Steady-state observer design for the model-based baselines: the Kalman gain and its noise covariances.

Used by ``lqr_i``'s filter (:mod:`neurocontrol.controllers.generic`) and the ``filtered`` kind's
(:mod:`neurocontrol.controllers.prefilter`), so both design from the same noise levels.
"""

from __future__ import annotations

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import ParameterError

__all__ = ["kalman_gain", "noise_covariances"]


def noise_covariances(Bd, span_u, span_y, process_noise: float, measurement_noise: float):
    """Return the observer's ``(W, V)`` from noise levels relative to the declared ranges.

    ``W = Bd diag((process_noise span_u)^2) Bd^T + 1e-12 I`` (white input noise through the sampled input matrix)
    and ``V = diag((measurement_noise span_y)^2)``: what ``lqr_i``'s filter and the ``filtered`` kind's are designed
    with.

    Parameters
    ----------
    Bd : array_like, shape (n, m)
        Sampled input matrix.
    span_u : array_like, shape (m,)
        Each input's range.
    span_y : array_like, shape (q,)
        Each observation's range.
    process_noise, measurement_noise : float
        Standard deviations relative to those ranges.
    """
    Bd = np.asarray(Bd, dtype=np.float64)
    W = Bd @ np.diag((process_noise * np.asarray(span_u, float)) ** 2) @ Bd.T + 1e-12 * np.eye(Bd.shape[0])
    V = np.diag((measurement_noise * np.asarray(span_y, float)) ** 2)
    return W, V


def kalman_gain(Ad, C, W, V) -> np.ndarray:
    """Return the steady-state Kalman filter gain ``M`` (n, q): ``x_post = x_prior + M (y - C x_prior)``.

    Parameters
    ----------
    Ad : array_like, shape (n, n)
        Discrete state matrix.
    C : array_like, shape (q, n)
        Measured outputs.
    W : array_like, shape (n, n)
        Process-noise covariance (positive semi-definite).
    V : array_like, shape (q, q)
        Measurement-noise covariance (positive definite).

    Raises
    ------
    ParameterError
        If the Riccati equation has no solution (an undetectable pair ``(Ad, C)``).
    """
    from scipy.linalg import solve_discrete_are

    Ad = as_float_array(Ad, "Ad", (None, None))
    n = Ad.shape[0]
    C = as_float_array(C, "C", (None, n))
    W = as_float_array(W, "W", (n, n))
    V = as_float_array(V, "V", (C.shape[0], C.shape[0]))
    try:
        P = solve_discrete_are(Ad.T, C.T, W, V)   # prior covariance
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise ParameterError(f"the Kalman filter Riccati equation has no solution ({exc}); the measured outputs "
                             "must make the plant detectable and V must be positive definite.") from None
    return P @ C.T @ np.linalg.inv(C @ P @ C.T + V)
