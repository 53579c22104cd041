"""The outcome of a trial-to-trial learning run (:class:`ILCResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurocontrol.exceptions import ParameterError
from neurocontrol.ilc.laws import ILC_STATUSES, _readonly
from neurocontrol.plotting import plot_trials
from neurocontrol.results import _jsonable

__all__ = ["ILCResult"]


# =========================================================================== result

@dataclass(frozen=True, kw_only=True, eq=False)
class ILCResult:
    """Outcome of an :class:`ILCRunner` run (frozen; the arrays are read-only).

    Parameters
    ----------
    errors : numpy.ndarray, shape (K, p)
        RMS tracking error of each output in each trial run, over e(1)..e(T),
        output units; a NaN row marks a failed trial.
    max_errors : numpy.ndarray, shape (K, p)
        Largest ``|e|`` of each output in each trial.
    status : str
        One of :data:`ILC_STATUSES`.
    stop_reason : str
        ``"trials"`` (budget used), ``"tol"``, ``"callback"``,
        ``"terminated"``, ``"truncated"``, ``"nonfinite"`` or ``"diverged"``.
    feedforward : numpy.ndarray, shape (T, c)
        The learned feedforward for the next trial (the law's update after
        the last successful trial).
    last_feedforward : numpy.ndarray, shape (T, c)
        The feedforward applied in the last trial run.
    output_names : tuple of str
        Names of the p outputs.
    channel : str
        Name of the feedforward channel.
    first_trial, last_trial : Result or None
        The closed-loop records of the first and the last trial.
    trial_results : tuple of Result
        Every trial's record when the runner had ``keep_trials=True``, else empty.
    meta : dict
        Seed and its streams, dt, duration, law, controller, and how later
        trials started (``"start_trial"`` or ``"reset"``).
    """

    errors: np.ndarray
    max_errors: np.ndarray
    status: str
    stop_reason: str
    feedforward: np.ndarray
    last_feedforward: np.ndarray
    output_names: tuple[str, ...]
    channel: str
    first_trial: object = None
    last_trial: object = None
    trial_results: tuple = ()
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in ILC_STATUSES:
            raise ParameterError(f"`status` must be one of {ILC_STATUSES}, got {self.status!r}.")
        for name in ("errors", "max_errors", "feedforward", "last_feedforward"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    @property
    def n_trials(self) -> int:
        """Number of trials run K (including a failed last one)."""
        return self.errors.shape[0]

    def plot(self, path=None, **kwargs):
        """Plot the RMS error per trial (log scale) via :func:`neurocontrol.plotting.plot_trials`.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Write the figure there (and close it).
        **kwargs
            Passed to ``plot_trials`` (``unit``, ``title``, ``dpi``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        kwargs.setdefault("title", f"ILC ({self.channel} channel): RMS tracking error per trial")
        return plot_trials(self.errors, path, names=self.output_names, **kwargs)

    def to_dict(self) -> dict:
        """JSON-serialisable summary (lists, NaN -> None); the trial Results export themselves."""
        return _jsonable({"errors": self.errors, "max_errors": self.max_errors, "status": self.status,
                          "stop_reason": self.stop_reason, "feedforward": self.feedforward,
                          "last_feedforward": self.last_feedforward, "output_names": list(self.output_names),
                          "channel": self.channel, "n_trials": self.n_trials, "meta": self.meta}, "ILCResult")

    def to_pandas(self):
        """Per-trial table: index ``trial`` (1..K), columns ``<output>_rms`` and ``<output>_max``."""
        try:
            import pandas as pd
        except ImportError:
            raise ModuleNotFoundError("ILCResult.to_pandas needs pandas: install it with `pip install pandas` "
                                      "or `pip install -e .[test]`.") from None
        data = {}
        for i, name in enumerate(self.output_names):
            data[f"{name}_rms"] = self.errors[:, i]
            data[f"{name}_max"] = self.max_errors[:, i]
        return pd.DataFrame(data, index=pd.Index(np.arange(1, self.n_trials + 1), name="trial"))


