"""Run artefacts: the files a scenario run writes (time series, metrics, manifest, plots)."""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from neurocontrol._files import atomic_write
from neurocontrol.plotting import (  # cheap: plotting imports matplotlib inside its functions
    plot_loop_shapes,
    plot_step_responses,
    plot_trials,
)

__all__ = ["save_run"]


def _csv_rows(result):
    header = _columns(result)
    yield header
    T = result.n_steps
    for k in range(T + 1):
        row = [result.time[k]]
        row += list(result.outputs[k]) + list(result.references[k])
        if k < T:
            row += list(result.inputs[k]) + [int(s) for s in result.saturated[k]]
            row += [result.prediction_error[k], int(result.inner_iterations[k])]
        else:
            row += [""] * (2 * result.n_inputs + 2)
        row += list(result.observations[k])
        yield [repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in row]


def _columns(result) -> list[str]:
    """List the columns of Result.to_pandas, in order."""
    return (["time"] + list(result.output_names) + [f"{n}_ref" for n in result.output_names]
            + list(result.input_names) + [f"{n}_saturated" for n in result.input_names]
            + ["prediction_error", "inner_iterations"] + [f"obs_{n}" for n in result.observation_names])


def save_run(result, scenario, out, *, overwrite: bool = False, plots: bool = True,
             extra_manifest: Mapping | None = None) -> Path:
    """Write one run to a folder.

    Files: ``arrays.npz`` + ``result.json`` (:meth:`Result.save`),
    ``timeseries.csv`` (one row per time point, the columns of
    :meth:`Result.to_pandas`), ``metrics.json``, ``scenario.toml`` (the exact
    settings, overrides applied), ``manifest.json`` (scenario hash, seed,
    integrator settings, package versions, status, files) and, with
    ``plots``, ``result.png`` (and ``ilc_trials.png``, the RMS error of every
    trial, for a run with ``[ilc]``; ``learned_response.png``, the identifier's
    step responses at the end, for a run whose ``result.meta`` holds them:
    :func:`~neurocontrol.scenario.core.attach_learned_response`; ``loop_shapes.png``, a model-designed PID's
    sensitivities: :func:`~neurocontrol.scenario.core.attach_loop_shapes`). Every file is written atomically.

    Parameters
    ----------
    result : Result
        The run.
    scenario : Scenario
        Its scenario (written as ``scenario.toml``).
    out : str or os.PathLike
        The folder (created by :meth:`Result.save`).
    overwrite : bool, default False
        Replace a run already saved there.
    plots : bool, default True
        Write ``result.png`` (and ``ilc_trials.png``, ``learned_response.png``, ``loop_shapes.png``).
    extra_manifest : mapping, optional
        More entries of ``manifest.json`` (e.g. the command line).

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    FileExistsError
        If ``out`` already holds a run and not ``overwrite``.
    """
    folder = Path(out)
    if not overwrite and (folder / "result.json").exists():
        raise FileExistsError(f"{folder} already holds a saved run; choose a new folder or allow overwriting "
                              "(--overwrite on the command line).")
    result.save(folder, overwrite=True)
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(_csv_rows(result))
    atomic_write(folder / "timeseries.csv", buf.getvalue())
    atomic_write(folder / "metrics.json", json.dumps(result.metrics, indent=2, allow_nan=False) + "\n")
    toml_text = scenario.to_toml()
    atomic_write(folder / "scenario.toml", toml_text)
    files = ["arrays.npz", "result.json", "timeseries.csv", "metrics.json", "scenario.toml", "manifest.json"]
    if plots:
        result.plot(path=folder / "result.png")
        files.append("result.png")
        if "ilc" in result.metrics:
            _plot_ilc(result, scenario.name, folder / "ilc_trials.png")
            files.append("ilc_trials.png")
        learned = result.meta.get("learned_response")
        if learned:
            plot_step_responses(np.asarray(learned["response"]), learned["dt"], folder / "learned_response.png",
                                output_names=learned["outputs"], input_names=learned["inputs"],
                                horizon=learned["horizon"],
                                title=f"{scenario.name}: the identifier's step responses at the end of the run "
                                      "(output per unit input)")
            files.append("learned_response.png")
        if result.meta.get("loop_shapes"):
            plot_loop_shapes(result.meta["loop_shapes"], folder / "loop_shapes.png",
                             title=f"{scenario.name}: |S| and |T| of each loop on the model it was designed on")
            files.append("loop_shapes.png")
    meta = result.meta
    manifest = {
        "format": "neurocontrol.run-manifest",
        "format_version": 1,
        "scenario": scenario.name,
        "scenario_sha256": hashlib.sha256(toml_text.encode()).hexdigest(),
        "scenario_source": scenario.source,
        "seed": meta.get("seed"),
        "seed_streams": meta.get("seed_streams"),
        "status": result.status,
        "success": result.metrics.get("success"),
        "dt": meta.get("dt"),
        "integrator": meta.get("integrator"),
        "versions": meta.get("versions"),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "files": files,
        **({"controller_settings": meta["controller_settings"]} if meta.get("controller_settings") else {}),
        **dict(extra_manifest or {}),
    }
    atomic_write(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return folder


def _plot_ilc(result, name: str, path: Path) -> None:
    """Write the RMS error of every ILC trial, one line per controlled output (log scale)."""
    rms = result.metrics["ilc"]["rms_error"]
    units = result.meta.get("units", {})
    names = [f"{n} [{units[n]}]" if units.get(n) else n for n in rms]
    errors = np.array([[np.nan if v is None else v for v in rms[n]] for n in rms], dtype=float).T
    plot_trials(errors, path, names=names, title=f"{name}: RMS error per trial (the last trial is the run)")
