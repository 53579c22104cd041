"""The result of one closed-loop run, its metrics, export and storage.

A :class:`Result` holds every signal of one episode on one time grid
(``time`` has T+1 points, per-step signals have T entries), the names of the
signals, the actuator limits, a JSON-serialisable ``metrics`` dict (see
:func:`compute_metrics`) and a ``meta`` dict that makes the run reproducible
(scenario, seed, integrator settings, versions). It exports to pandas
(:meth:`Result.to_pandas`), to a dict (:meth:`Result.to_dict`), to a folder
(:meth:`Result.save` / :meth:`Result.load`) and plots itself
(:meth:`Result.plot`, via :mod:`neurocontrol.plotting`).

Examples
--------
>>> import numpy as np
>>> from neurocontrol.results import Result, compute_metrics
>>> t = np.linspace(0.0, 10.0, 1001)
>>> y = (1.0 - np.exp(-t / 0.5))[:, None]          # output approaching 1
>>> r = np.ones((1001, 1))                         # constant set-point
>>> u = np.full((1000, 1), 0.3)
>>> m = compute_metrics(time=t, outputs=y, references=r, inputs=u, saturated=np.zeros((1000, 1), bool),
...                     tolerance=0.01, output_names=["height"])
>>> m["success"], round(m["outputs"]["height"]["iae"], 3)  # IAE = e0 tau = 0.5
(True, 0.5)
>>> res = Result(time=t, observations=y, outputs=y, references=r, inputs=u,
...              output_names=("height",), input_names=("thrust",), metrics=m)
>>> res.n_steps, res.status
(1000, 'completed')
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurocontrol._files import atomic_write
from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import CheckpointError, ParameterError, ShapeError
from neurocontrol.plotting import plot_result  # cheap: plotting imports matplotlib inside its functions

__all__ = ["RESULT_STATUSES", "Result", "compute_metrics", "flatten_metrics", "noiseless_metrics", "per_output_band"]

#: Allowed values of :attr:`Result.status`: ``"completed"`` ran every step,
#: ``"converged"`` stopped early because a stop criterion was met, ``"failed"``
#: stopped on divergence or an error, ``"running"`` is a partial snapshot.
RESULT_STATUSES = ("completed", "converged", "failed", "running")

_FORMAT = "neurocontrol.Result"
_FORMAT_VERSION = 1
_ARRAYS_FILE = "arrays.npz"
_JSON_FILE = "result.json"
_ARRAY_FIELDS = ("time", "observations", "outputs", "references", "inputs", "saturated", "prediction_error",
                 "inner_iterations", "input_limits")


# --------------------------------------------------------------------------- helpers


def _jsonable(value, path: str):
    """Return ``value`` as plain JSON types (numpy scalars/arrays converted, non-finite floats -> None)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        return x if math.isfinite(x) else None
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), path)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ParameterError(f"`{path}` keys must be str for JSON, got {k!r}; convert the key with str().")
            out[k] = _jsonable(v, f"{path}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise ParameterError(f"`{path}` must be JSON-serialisable (numbers, str, bool, None, lists, dicts), "
                         f"got {type(value).__name__}; store a str or number instead.")


def _names(value, name: str, n: int, default_prefix: str) -> tuple[str, ...]:
    if value is None:
        return tuple(f"{default_prefix}{i}" for i in range(n))
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ParameterError(f"`{name}` must be a sequence of {n} str, got {value!r}.")
    names = tuple(value)
    if len(names) != n:
        raise ShapeError(f"`{name}` must hold {n} names (one per column), got {len(names)}: {list(names)}.")
    if not all(isinstance(s, str) and s for s in names):
        raise ParameterError(f"`{name}` must hold non-empty str, got {list(names)}.")
    if len(set(names)) != n:
        raise ParameterError(f"`{name}` must be unique, got {list(names)}.")
    return names


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return arr


# --------------------------------------------------------------------------- Result


@dataclass(frozen=True, kw_only=True, eq=False)
class Result:
    """One closed-loop run: signals on one time grid, names, limits, metrics and metadata.

    Time points are ``k = 0..T``; step ``k`` is the interval ``[time[k],
    time[k+1])`` over which ``inputs[k]`` is applied.

    Parameters
    ----------
    time : array_like, shape (T+1,)
        Strictly increasing time points in s.
    observations : array_like, shape (T+1, n_obs)
        Everything measured, in physical units (may hold NaN after a failure).
    outputs : array_like, shape (T+1, p)
        The controlled outputs, in physical units.
    references : array_like, shape (T+1, p)
        Their set-points (finite).
    inputs : array_like, shape (T, m)
        The inputs applied to the plant (after limits), in physical units.
    saturated : array_like of bool, shape (T, m), optional
        Whether the commanded input hit its limit. Default: the applied input
        lies on a limit.
    prediction_error : array_like, shape (T,), optional
        The identifier's one-step prediction error norm (>= 0) at each step;
        NaN where not applicable (e.g. baselines, the default).
    inner_iterations : array_like of int, shape (T,), optional
        Inner learning iterations at each step (>= 0; default 0).
    output_names, input_names, observation_names : sequence of str, optional
        Unique names of the columns (default ``y0, y1, ...``, ``u0, ...``,
        ``obs0, ...``). Units may be recorded in ``meta["units"]`` as a
        ``{name: unit}`` dict; plots use it.
    input_limits : array_like, shape (m, 2), optional
        Lower and upper limit of each input (default unlimited, +-inf).
    metrics : dict, optional
        Metrics, e.g. from :func:`compute_metrics`. Stored as a deep copy in
        plain JSON types (numpy values converted, NaN/inf become None).
    meta : dict, optional
        Scenario, seed, integrator settings, versions, ...; stored like
        ``metrics``.
    status : str, default "completed"
        One of :data:`RESULT_STATUSES`.

    Notes
    -----
    Arrays are stored as read-only float64 copies (``saturated`` bool,
    ``inner_iterations`` int64). Two results compare equal when every array
    (NaN equal to NaN), name, dict and the status are equal.

    Examples
    --------
    >>> import numpy as np
    >>> res = Result(time=[0.0, 0.1, 0.2], observations=[[0.0], [0.1], [0.15]], outputs=[[0.0], [0.1], [0.15]],
    ...              references=np.full((3, 1), 0.2), inputs=[[1.0], [2.0]], input_limits=[[0.0, 2.0]])
    >>> res.saturated.ravel().tolist()  # the second input sits on its upper limit
    [False, True]
    >>> list(res.to_pandas().columns)[:4]
    ['time', 'y0', 'y0_ref', 'u0']
    """

    time: np.ndarray
    observations: np.ndarray
    outputs: np.ndarray
    references: np.ndarray
    inputs: np.ndarray
    saturated: np.ndarray | None = None
    prediction_error: np.ndarray | None = None
    inner_iterations: np.ndarray | None = None
    output_names: tuple[str, ...] | None = None
    input_names: tuple[str, ...] | None = None
    observation_names: tuple[str, ...] | None = None
    input_limits: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    status: str = "completed"

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        time = as_float_array(self.time, "time", (None,))
        if time.size == 0:
            raise ShapeError("`time` must hold at least one time point, got an empty array.")
        if np.any(np.diff(time) <= 0):
            raise ParameterError("`time` must be strictly increasing; pass the time of every recorded sample in s.")
        n = time.shape[0]
        steps = n - 1
        obs = as_float_array(self.observations, "observations", (n, None), finite=False)
        outputs = as_float_array(self.outputs, "outputs", (n, None), finite=False)
        p = outputs.shape[1]
        refs = as_float_array(self.references, "references", (n, p))
        inputs = as_float_array(self.inputs, "inputs", (steps, None), finite=False)
        m = inputs.shape[1]
        if self.input_limits is None:
            limits = np.tile([-np.inf, np.inf], (m, 1))
        else:
            limits = as_float_array(self.input_limits, "input_limits", (m, 2), finite=False)
            if np.any(np.isnan(limits)) or np.any(limits[:, 0] >= limits[:, 1]):
                raise ParameterError(f"`input_limits` must have lower < upper in every row (inf for none), "
                                     f"got {limits.tolist()}.")
        if self.saturated is None:
            with np.errstate(invalid="ignore"):
                saturated = (inputs <= limits[:, 0]) | (inputs >= limits[:, 1])
        else:
            raw = np.asarray(self.saturated)
            if raw.dtype != bool and not (raw.size == 0 or np.isin(raw, (0, 1)).all()):
                raise ParameterError("`saturated` must hold bool (or 0/1) flags, one per input and step.")
            saturated = raw.astype(bool)
            if saturated.shape != (steps, m):
                raise ShapeError(f"`saturated` must have shape ({steps}, {m}) like `inputs`, got {saturated.shape}.")
        if self.prediction_error is None:
            pred = np.full(steps, np.nan)
        else:
            pred = as_float_array(self.prediction_error, "prediction_error", (steps,), finite=False)
            if np.any(pred < 0) or np.any(np.isinf(pred)):
                raise ParameterError("`prediction_error` must be a finite norm >= 0 (NaN where not applicable).")
        if self.inner_iterations is None:
            inner = np.zeros(steps, dtype=np.int64)
        else:
            raw = as_float_array(self.inner_iterations, "inner_iterations", (steps,))
            if np.any(raw < 0) or np.any(raw != np.round(raw)):
                raise ParameterError("`inner_iterations` must hold int counts >= 0 (0 where not applicable).")
            inner = raw.astype(np.int64)
        output_names = _names(self.output_names, "output_names", p, "y")
        input_names = _names(self.input_names, "input_names", m, "u")
        observation_names = _names(self.observation_names, "observation_names", obs.shape[1], "obs")
        columns = self._column_names(output_names, input_names, observation_names)
        if len(set(columns)) != len(columns):
            dup = sorted({c for c in columns if columns.count(c) > 1})
            raise ParameterError(f"signal names must give unique table columns, got duplicates {dup}; "
                                 "rename the outputs, inputs or observations.")
        if not isinstance(self.metrics, Mapping):
            raise ParameterError(f"`metrics` must be a dict, got {type(self.metrics).__name__}.")
        if not isinstance(self.meta, Mapping):
            raise ParameterError(f"`meta` must be a dict, got {type(self.meta).__name__}.")
        if self.status not in RESULT_STATUSES:
            raise ParameterError(f"`status` must be one of {RESULT_STATUSES}, got {self.status!r}.")
        for name, value in (("time", time), ("observations", obs), ("outputs", outputs), ("references", refs),
                            ("inputs", inputs), ("saturated", saturated), ("prediction_error", pred),
                            ("inner_iterations", inner), ("input_limits", limits)):
            set_(name, _readonly(value))
        set_("output_names", output_names)
        set_("input_names", input_names)
        set_("observation_names", observation_names)
        set_("metrics", _jsonable(self.metrics, "metrics"))
        set_("meta", _jsonable(self.meta, "meta"))

    # ------------------------------------------------------------------ basics

    @staticmethod
    def _column_names(output_names, input_names, observation_names) -> list[str]:
        return (["time"] + list(output_names) + [f"{n}_ref" for n in output_names] + list(input_names)
                + [f"{n}_saturated" for n in input_names] + ["prediction_error", "inner_iterations"]
                + [f"obs_{n}" for n in observation_names])

    @property
    def n_steps(self) -> int:
        """Number of control steps T."""
        return self.inputs.shape[0]

    @property
    def n_outputs(self) -> int:
        """Number of controlled outputs p."""
        return self.outputs.shape[1]

    @property
    def n_inputs(self) -> int:
        """Number of inputs m."""
        return self.inputs.shape[1]

    def __eq__(self, other):
        if not isinstance(other, Result):
            return NotImplemented
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name in _ARRAY_FIELDS:
                if a.dtype != b.dtype or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # mutable-looking contents (arrays, dicts): not hashable

    def with_metrics(self, *, tolerance, final_window_s: float = 5.0, settle_band=None) -> "Result":
        """Return a copy whose ``metrics`` are recomputed by :func:`compute_metrics`.

        A ``control_step_us`` already in ``metrics`` is kept.

        Parameters
        ----------
        tolerance, final_window_s, settle_band
            As for :func:`compute_metrics`.
        """
        metrics = compute_metrics(time=self.time, outputs=self.outputs, references=self.references,
                                  inputs=self.inputs, saturated=self.saturated, tolerance=tolerance,
                                  output_names=self.output_names, final_window_s=final_window_s,
                                  settle_band=settle_band, control_step_us=self.metrics.get("control_step_us"))
        return dataclasses.replace(self, metrics=metrics)

    # ------------------------------------------------------------------ export

    def to_dict(self) -> dict:
        """All fields as a dict of writable copies; ``Result(**res.to_dict()) == res``."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = np.array(value, copy=True) if f.name in _ARRAY_FIELDS else copy.deepcopy(value)
        return out

    def to_pandas(self):
        """One row per time point, one column per signal.

        Columns: ``time`` (s); each output by name and its set-point as
        ``<name>_ref``; each input by name and ``<name>_saturated``;
        ``prediction_error``; ``inner_iterations``; each observation as
        ``obs_<name>``. Per-step signals sit on the row of the step's start
        time; the last row holds NA for them (nullable ``boolean`` and
        ``Int64`` dtypes keep flags and counts exact).

        Returns
        -------
        pandas.DataFrame, shape (T+1, n_columns)

        Raises
        ------
        ModuleNotFoundError
            If pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ModuleNotFoundError("Result.to_pandas needs pandas: install it with `pip install pandas` "
                                      "(or `pip install neurocontrol[test]`).") from None
        def pad(a):  # per-step values -> one per time point, NaN on the last row
            return np.concatenate([a, np.full((1,) + a.shape[1:], np.nan)])

        cols = {"time": self.time}
        for i, name in enumerate(self.output_names):
            cols[name] = self.outputs[:, i]
        for i, name in enumerate(self.output_names):
            cols[f"{name}_ref"] = self.references[:, i]
        for j, name in enumerate(self.input_names):
            cols[name] = pad(self.inputs[:, j])
        for j, name in enumerate(self.input_names):
            cols[f"{name}_saturated"] = pd.array(list(self.saturated[:, j]) + [None], dtype="boolean")
        cols["prediction_error"] = pad(self.prediction_error)
        cols["inner_iterations"] = pd.array(list(self.inner_iterations) + [None], dtype="Int64")
        for i, name in enumerate(self.observation_names):
            cols[f"obs_{name}"] = self.observations[:, i]
        return pd.DataFrame(cols)

    def mode_spans(self, mode: str) -> list[tuple[int, int]]:
        """Return ``(start_step, end_step)`` of each stretch of steps the controller flew in ``mode``.

        From ``meta["modes"]`` (e.g. ``"fallback"``: where a guard's fallback flew); empty when the run has none.

        Parameters
        ----------
        mode : str
            A mode name as the controller's ``diagnostics()["mode"]`` reports it.
        """
        return [(int(s["start_step"]), int(s["end_step"])) for s in self.meta.get("modes") or ()
                if s.get("mode") == mode]

    def plot(self, **kwargs):
        """Plot the run with :func:`neurocontrol.plotting.plot_result`.

        Parameters
        ----------
        **kwargs
            Passed on to :func:`~neurocontrol.plotting.plot_result` (``path``, ``tolerance``, ``units``, ...).
        """
        return plot_result(self, **kwargs)

    # ------------------------------------------------------------------ storage

    def save(self, directory, *, overwrite: bool = False) -> Path:
        """Write the result to a folder: ``arrays.npz`` plus ``result.json``.

        Each file is written atomically (temporary file, then ``os.replace``);
        the JSON file is written last and records a SHA-256 of the arrays, so
        :meth:`load` detects a folder left half-written or modified.

        Parameters
        ----------
        directory : str or os.PathLike
            Target folder, created if missing.
        overwrite : bool, default False
            Replace a result already saved there.

        Returns
        -------
        pathlib.Path
            The folder.

        Raises
        ------
        FileExistsError
            If the folder already holds a saved result and not ``overwrite``.
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        if not overwrite and ((folder / _JSON_FILE).exists() or (folder / _ARRAYS_FILE).exists()):
            raise FileExistsError(f"{folder} already holds a saved Result; pass overwrite=True or choose a new folder.")
        buf = io.BytesIO()
        np.savez(buf, **{name: getattr(self, name) for name in _ARRAY_FIELDS})
        data = buf.getvalue()
        header = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "arrays_sha256": hashlib.sha256(data).hexdigest(),
            "output_names": list(self.output_names),
            "input_names": list(self.input_names),
            "observation_names": list(self.observation_names),
            "status": self.status,
            "metrics": self.metrics,
            "meta": self.meta,
        }
        atomic_write(folder / _ARRAYS_FILE, data)
        atomic_write(folder / _JSON_FILE, json.dumps(header, indent=2, allow_nan=False))
        return folder

    @classmethod
    def load(cls, directory) -> "Result":
        """Read a result written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If the folder does not exist.
        CheckpointError
            If it is not a saved result, is incomplete, corrupted or of another
            format version.
        """
        folder = Path(directory)
        if not folder.is_dir():
            raise FileNotFoundError(f"no saved Result at {folder}: the folder does not exist; "
                                    "check the path or write one with Result.save(directory).")
        json_path, arrays_path = folder / _JSON_FILE, folder / _ARRAYS_FILE
        if not json_path.is_file():
            raise CheckpointError(f"{folder} is not a saved Result: {_JSON_FILE} is missing "
                                  "(an interrupted save leaves it out); save the run again with Result.save.")
        try:
            header = json.loads(json_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{json_path} is corrupted (not valid JSON: {exc}); save the run again.") from None
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise CheckpointError(f"{json_path} is not a saved Result (no format tag {_FORMAT!r}).")
        if header.get("format_version") != _FORMAT_VERSION:
            raise CheckpointError(f"{json_path} has format version {header.get('format_version')!r}; this neurocontrol "
                                  f"reads version {_FORMAT_VERSION}. Load it with the version that wrote it.")
        if not arrays_path.is_file():
            raise CheckpointError(f"{folder} is incomplete: {_ARRAYS_FILE} is missing; save the run again.")
        data = arrays_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != header.get("arrays_sha256"):
            raise CheckpointError(f"{arrays_path} does not match {_JSON_FILE} (checksum differs): the folder was "
                                  "modified or partially overwritten; save the run again.")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in _ARRAY_FIELDS}
            return cls(**arrays, output_names=header["output_names"], input_names=header["input_names"],
                       observation_names=header["observation_names"], status=header["status"],
                       metrics=header["metrics"], meta=header["meta"])
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"{folder} holds an unreadable or inconsistent Result ({exc}); save the run again.") \
                from None


# --------------------------------------------------------------------------- metrics


def _trapezoid(y: np.ndarray, t: np.ndarray) -> float:
    """Trapezoid rule (0 for a single sample)."""
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(t)))


def per_output_band(value, name: str, names: Sequence[str], references: np.ndarray | None = None) -> np.ndarray:
    """One positive band per controlled output (a tolerance or a settling band), output units.

    The one parser of tolerances: used by :func:`compute_metrics` and the
    closed loop.

    Parameters
    ----------
    value : float, array_like of shape (p,), dict of str to float, or None
        A scalar for every output, one value per output, or a dict by output
        name (every output named once). None: 1 % of each output's largest
        ``|reference|`` (at least 1e-6); needs ``references``.
    name : str
        The argument's name, for the error message.
    names : sequence of str
        The p output names.
    references : numpy.ndarray, shape (T+1, p), optional
        The references, for the default.

    Returns
    -------
    numpy.ndarray, shape (p,)

    Raises
    ------
    ParameterError
        On an unknown or missing output name, or a band that is not positive.
    ShapeError
        On a vector of the wrong length.
    """
    p = len(names)
    if value is None:
        if references is None:
            raise ParameterError(f"`{name}` must be given (no references to take 1 % of).")
        return np.maximum(0.01 * np.max(np.abs(references), axis=0), 1e-6)
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        missing = [n for n in names if n not in value]
        if unknown or missing:
            raise ParameterError(f"`{name}` must give one value per controlled output {list(names)}; "
                                 f"unknown {unknown}, missing {missing}.")
        arr = np.array([float(as_float_array(value[n], f"{name}[{n!r}]", ())) for n in names])
    else:
        arr = as_float_array(value, name)
        if arr.ndim == 0:
            arr = np.full(p, float(arr))
        elif arr.shape != (p,):
            raise ShapeError(f"`{name}` must be a scalar, shape ({p},) or a dict by output name, got {arr.shape}.")
    if np.any(arr <= 0):
        raise ParameterError(f"`{name}` must be positive for every output (output units), got {arr.tolist()}.")
    return arr


def _final_window(time: np.ndarray, window: float) -> np.ndarray:     # the success judgement's last `window` s
    return time >= time[-1] - window - 1e-12 * max(1.0, abs(time[-1]))


def _finite_or_none(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _last_setpoint_step(y, r):
    """Start index k of the final constant set-point segment and the previous set-point."""
    scale = max(1.0, float(np.max(np.abs(r))))
    changed = np.abs(np.diff(r)) > 1e-12 * scale  # changed[i]: r[i+1] != r[i]
    if not changed.any():
        return 0, float(y[0])  # constant set-point: the step is the initial offset from y(t0)
    k = int(np.flatnonzero(changed)[-1]) + 1
    flat = np.flatnonzero(~changed[: k - 1]) + 1  # i < k with r[i] == r[i-1]
    r_prev = float(r[flat[-1]]) if flat.size else float(r[0])
    return k, r_prev


def compute_metrics(*, time, outputs, references, inputs, saturated, tolerance, output_names=None,
                    final_window_s: float = 5.0, settle_band=None, control_step_us=None) -> dict:
    """Tracking, settling and actuation metrics of one run, as a JSON-serialisable dict.

    Parameters
    ----------
    time : array_like, shape (T+1,)
        Time points in s.
    outputs, references : array_like, shape (T+1, p)
        Controlled outputs and their set-points, physical units.
    inputs : array_like, shape (T, m)
        Applied inputs (may hold NaN/inf; they are counted).
    saturated : array_like of bool, shape (T, m)
        Saturation flags.
    tolerance : float or array_like, shape (p,)
        Allowed final ``|output - reference|`` per output (> 0), output units.
    output_names : sequence of str, optional
        Keys of the per-output dicts (default ``y0, y1, ...``).
    final_window_s : float, default 5.0
        Length of the final window in s (the whole run if longer).
    settle_band : float or array_like, shape (p,), optional
        Half-width of the settling band per output (default ``tolerance``).
    control_step_us : float, optional
        Mean wall-clock time of one control step in microseconds, measured by
        the caller; stored as given.

    Returns
    -------
    dict
        ``success``: every ``|e| <= tolerance`` over the final window for
        every output, and no non-finite input. ``steps``: T.
        ``final_window_s``: window used. ``saturation_fraction``: fraction of
        steps with any input saturated. ``nonfinite_actions``: number of
        steps whose input holds NaN/inf. ``control_effort``: sum over steps
        of ``||u[k] - u[k-1]||^2`` (input units squared). ``control_energy``:
        ``sum ||u[k]||^2 (time[k+1] - time[k])`` (units squared times s).
        ``control_step_us``. ``outputs``: ``{name: {...}}`` with ``iae`` =
        integral of ``|e|`` dt, ``ise`` = integral of ``e^2`` dt, ``itae`` =
        integral of ``(t - t0) |e|`` dt (trapezoid rule, ``e = output -
        reference``), ``rmse`` over the samples, ``max_abs_error``,
        ``overshoot`` (%), ``settling_time`` (s), ``final_error`` (mean
        ``|e|`` over the final window), ``tolerance``, ``settle_band``.
        Values that non-finite data make undefined are None.

    Notes
    -----
    **Set-point step.** The final set-point segment starts at the last sample
    ``k`` where the reference changes (``k = 0`` if it never changes). The
    step is ``delta = r_final - r_prev`` where ``r_prev`` is the reference on
    the last flat sample before ``k`` (so a smoothed staircase is measured
    from level to level), or the initial output ``y(t0)`` when the reference
    is constant throughout.

    **Overshoot** is ``100 * max(0, max_{t >= t_k} sign(delta) (y - r_final))
    / |delta|`` in %, and 0 if ``delta = 0``. For a second-order step response
    it is ``100 exp(-pi zeta / sqrt(1 - zeta^2))`` (16.3 % at ``zeta = 0.5``).

    **Settling time** is the time from ``t_k`` until ``|e|`` enters the
    settling band for good, at the sample resolution: 0 if it never leaves
    the band after ``t_k``, None if it is outside at the last sample.

    Overshoot and settling time are set-point metrics; for a continuously
    varying reference use the integral metrics.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0.0, 20.0, 0.001)
    >>> zeta, w = 0.5, 2.0
    >>> wd = w * np.sqrt(1 - zeta ** 2)
    >>> y = 1 - np.exp(-zeta * w * t) * (np.cos(wd * t) + zeta / np.sqrt(1 - zeta ** 2) * np.sin(wd * t))
    >>> m = compute_metrics(time=t, outputs=y[:, None], references=np.ones((t.size, 1)),
    ...                     inputs=np.zeros((t.size - 1, 1)), saturated=np.zeros((t.size - 1, 1), bool),
    ...                     tolerance=0.02)
    >>> round(m["outputs"]["y0"]["overshoot"], 1)
    16.3
    """
    time = as_float_array(time, "time", (None,))
    n = time.shape[0]
    if n == 0 or np.any(np.diff(time) <= 0):
        raise ParameterError("`time` must be a non-empty, strictly increasing array of time points in s.")
    outputs = as_float_array(outputs, "outputs", (n, None), finite=False)
    p = outputs.shape[1]
    references = as_float_array(references, "references", (n, p))
    inputs = as_float_array(inputs, "inputs", (n - 1, None), finite=False)
    saturated = np.asarray(saturated, dtype=bool)
    if saturated.shape != inputs.shape:
        raise ShapeError(f"`saturated` must have shape {inputs.shape} like `inputs`, got {saturated.shape}.")
    names = _names(output_names, "output_names", p, "y")
    tol = per_output_band(tolerance, "tolerance", names, references)
    band = tol if settle_band is None else per_output_band(settle_band, "settle_band", names)
    window = float(as_float_array(final_window_s, "final_window_s"))
    if window < 0:
        raise ParameterError(f"`final_window_s` must be >= 0 s, got {window!r}.")
    if control_step_us is not None:
        control_step_us = float(as_float_array(control_step_us, "control_step_us"))

    t_rel = time - time[0]
    in_window = _final_window(time, window)
    with np.errstate(invalid="ignore", over="ignore"):
        errors = outputs - references
        abs_e = np.abs(errors)
        within = abs_e <= tol  # False for NaN
    finite_u = np.all(np.isfinite(inputs), axis=1)
    nonfinite_actions = int(np.sum(~finite_u))

    per_output = {}
    for i, name in enumerate(names):
        e, a = errors[:, i], abs_e[:, i]
        finite = bool(np.all(np.isfinite(e)))
        k, r_prev = _last_setpoint_step(outputs[:, i], references[:, i])
        r_final = float(references[-1, i])
        delta = r_final - r_prev
        overshoot = None
        if math.isfinite(delta) and abs(delta) <= 1e-12 * max(1.0, abs(r_final)):
            overshoot = 0.0
        elif math.isfinite(delta) and np.all(np.isfinite(outputs[k:, i])):
            peak = float(np.max(np.sign(delta) * (outputs[k:, i] - r_final)))
            overshoot = 100.0 * max(0.0, peak) / abs(delta)
        outside = ~(a[k:] <= band[i])
        if not outside.any():
            settling = 0.0
        elif outside[-1]:
            settling = None
        else:
            settling = float(time[k + np.flatnonzero(outside)[-1] + 1] - time[k])
        per_output[name] = {
            "iae": _trapezoid(a, time) if finite else None,
            "ise": _trapezoid(e * e, time) if finite else None,
            "itae": _trapezoid(t_rel * a, time) if finite else None,
            "rmse": float(np.sqrt(np.mean(e * e))) if finite else None,
            "max_abs_error": float(np.max(a)) if finite else None,
            "overshoot": overshoot,
            "settling_time": settling,
            "final_error": _finite_or_none(np.mean(a[in_window])),
            "tolerance": float(tol[i]),
            "settle_band": float(band[i]),
        }
    steps = n - 1
    with np.errstate(invalid="ignore", over="ignore"):
        du = np.diff(inputs, axis=0)
        effort = float(np.sum(du * du))
        energy = float(np.sum(np.sum(inputs * inputs, axis=1) * np.diff(time)))
    return {
        "success": bool(np.all(within[in_window]) and nonfinite_actions == 0),
        "steps": steps,
        "final_window_s": float(min(window, time[-1] - time[0])),
        "saturation_fraction": float(np.mean(np.any(saturated, axis=1))) if steps else 0.0,
        "nonfinite_actions": nonfinite_actions,
        "control_effort": _finite_or_none(effort),
        "control_energy": _finite_or_none(energy),
        "control_step_us": control_step_us,
        "outputs": per_output,
    }


def noiseless_metrics(metrics: Mapping, time, outputs, references, inputs, saturated, measured=None) -> dict:
    """Success and errors of the true (noiseless) outputs, judged as ``metrics`` judged the measured ones.

    Parameters
    ----------
    metrics : mapping
        :func:`compute_metrics` of the same run on the measured outputs: its tolerances, settling bands,
        final window and output names are used.
    time, outputs, references, inputs, saturated
        As for :func:`compute_metrics`; ``outputs`` are the controlled outputs without sensor noise
        (the env's ``info["noiseless_observation"]``).
    measured : array_like, shape like ``outputs``, optional
        The measured (noisy) controlled outputs the run's ``metrics`` judged; the noise ``measured - outputs``.

    Returns
    -------
    dict
        ``success`` (every true ``|e| <= tolerance`` over the final window, no non-finite input) and, per output,
        ``iae``, ``rmse``, ``max_abs_error``, ``final_error``. Under sensor noise the measured metrics judge the
        sensor as much as the controller (with a noise standard deviation near the tolerance no controller
        passes); these judge the plant. With ``measured``: per output ``noise_rms``, the noise's RMS over the
        final window, and ``perfect_tracking_success``, whether every ``|noise| <= tolerance`` there: the measured
        success of true outputs exactly on the reference (False: no controller could have passed, but by luck).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0.0, 2.0, 0.1); r = np.ones((t.size, 1))
    >>> noisy = 1.0 + 0.05 * np.cos(40 * t)[:, None]
    >>> m = compute_metrics(time=t, outputs=noisy, references=r, inputs=np.zeros((t.size - 1, 1)),
    ...                     saturated=np.zeros((t.size - 1, 1), bool), tolerance=0.02)
    >>> true = noiseless_metrics(m, t, r, r, np.zeros((t.size - 1, 1)), np.zeros((t.size - 1, 1), bool))
    >>> m["success"], true["success"]
    (False, True)
    """
    names = list(metrics["outputs"])
    tol = [metrics["outputs"][n]["tolerance"] for n in names]
    true = compute_metrics(time=time, outputs=outputs, references=references, inputs=inputs, saturated=saturated,
                           tolerance=tol, output_names=names, final_window_s=metrics["final_window_s"],
                           settle_band=[metrics["outputs"][n]["settle_band"] for n in names])
    keep = ("iae", "rmse", "max_abs_error", "final_error")
    out = {"success": true["success"], "outputs": {n: {k: v[k] for k in keep} for n, v in true["outputs"].items()}}
    if measured is not None:
        y = np.asarray(outputs, dtype=float)
        window = _final_window(np.asarray(time, dtype=float), metrics["final_window_s"])
        noise = (as_float_array(measured, "measured", y.shape, finite=False) - y)[window]
        with np.errstate(invalid="ignore", over="ignore"):
            out["perfect_tracking_success"] = bool(np.all(np.abs(noise) <= tol))      # False for NaN
            for i, n in enumerate(names):
                out["outputs"][n]["noise_rms"] = _finite_or_none(np.sqrt(np.mean(noise[:, i] ** 2)))
    return out


def flatten_metrics(metrics: Mapping, *, sep: str = ".") -> dict:
    """Flatten nested metric dicts into one level, e.g. for a sweep table.

    Parameters
    ----------
    metrics : mapping
        Nested metrics, e.g. :attr:`Result.metrics`.
    sep : str, default "."
        Separator of the joined keys.

    Examples
    --------
    >>> flatten_metrics({"success": True, "outputs": {"pitch": {"iae": 0.1}}})
    {'success': True, 'outputs.pitch.iae': 0.1}
    """
    flat = {}

    def walk(prefix, value):
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}{sep}{k}" if prefix else str(k), v)
        else:
            flat[prefix] = value

    walk("", metrics)
    return flat
