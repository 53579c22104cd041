"""Seeds, package versions and signal names of a run (what :func:`~neurocontrol.simulation.loop.simulate` records).

One seed feeds a :class:`numpy.random.SeedSequence` whose children seed the plant, the controller and a spare
stream (:func:`seed_streams`, the only place a root seed is split); :func:`signal_names` reads the names and units a
plant declares; :func:`package_versions` lists what determines a run's numbers.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from neurocontrol.exceptions import ParameterError

__all__ = ["SeedStreams", "seed_streams", "package_versions", "signal_names"]

_VERSIONED = ("numpy", "scipy", "gymnasium", "control", "numba", "neurocontrol")


class SeedStreams(NamedTuple):
    """Independent random streams derived from one seed (see :func:`seed_streams`)."""

    #: Entropy of the root :class:`numpy.random.SeedSequence` (equals the seed when one was given).
    entropy: int
    #: Seed passed to ``env.reset(seed=...)``: plant noise, disturbances, random initial state.
    plant: int
    #: Seed passed to ``controller.reset(seed=...)``: network initialisation, excitation.
    controller: int
    #: Spare child sequence for draws outside env and controller (scenario initial-state ranges).
    spare: np.random.SeedSequence


def _as_int_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint64)[0])


def seed_streams(seed=None) -> SeedStreams:
    """Split one seed into the independent streams of a run.

    Parameters
    ----------
    seed : int or numpy.random.SeedSequence or None
        Root seed (a non-negative int). ``None`` draws fresh entropy, which is returned so that the run can be repeated.

    Returns
    -------
    SeedStreams
        ``plant`` and ``controller`` as non-negative ints (Gymnasium's ``reset`` takes ints), ``spare`` as a
        SeedSequence, and ``entropy``.

    Raises
    ------
    ParameterError
        If ``seed`` is not a non-negative int, a SeedSequence or None.

    Notes
    -----
    The children are ``SeedSequence(seed).spawn(3)`` in the order plant, controller, spare, so each stream is
    statistically independent of the others and adding a draw to one never shifts another. Every run of the
    package (a :func:`simulate` call, every trial of an ILC run, a scenario's initial-state draw) splits its
    root seed here.

    Examples
    --------
    >>> s = seed_streams(7)
    >>> s.entropy, s.plant == seed_streams(7).plant, s.plant != s.controller
    (7, True, True)
    """
    if isinstance(seed, np.random.SeedSequence):
        root = seed
    elif seed is None:
        root = np.random.SeedSequence()
    elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        root = np.random.SeedSequence(int(seed))
    else:
        raise ParameterError(f"`seed` must be a non-negative int (or None for fresh entropy), got {seed!r}.")
    plant, controller, spare = root.spawn(3)
    return SeedStreams(entropy=int(root.entropy), plant=_as_int_seed(plant), controller=_as_int_seed(controller),
                       spare=spare)


def package_versions() -> dict[str, str]:
    """Return the versions of Python and of the packages that determine a run's numbers, for the run record."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in _VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _space_size(space) -> int:
    shape = getattr(space, "shape", None) or ()
    return int(np.prod(shape))


def _declared_names(base, attr: str, n: int, prefix: str, what: str) -> tuple[str, ...]:
    value = getattr(base, attr, None)
    if value is None:
        return tuple(f"{prefix}{i}" for i in range(n))
    names = tuple(value) if not isinstance(value, str) else (value,)
    if len(names) != n or not all(isinstance(s, str) for s in names):
        raise ParameterError(f"`{type(base).__name__}.{attr}` must name each of the {n} {what} entries with a str, "
                             f"got {value!r}; fix the plant's declaration (or remove it for the defaults "
                             f"{prefix}0, {prefix}1, ...).")
    return names


def signal_names(env, output_indices: Sequence[int]) -> dict:
    """Return the names and units of an env's observations, inputs and controlled outputs.

    The plant declares them: ``env.unwrapped.observation_names`` and
    ``env.unwrapped.input_names`` (tuples of str, one per observation and
    action entry) and ``env.unwrapped.units`` ({signal name: unit string}).
    A plant that declares nothing gets generic names (``obs0, obs1, ...``,
    ``u0, u1, ...``; controlled outputs ``y0, y1, ...``) and no units.

    Parameters
    ----------
    env : gymnasium.Env
        The plant (wrapped or not; the declarations are read from
        ``env.unwrapped``).
    output_indices : sequence of int
        Which observation entries are the controlled outputs.

    Returns
    -------
    dict
        ``observation_names``, ``input_names``, ``output_names`` (tuples of
        str) and ``units`` ({name: unit}).

    Raises
    ------
    ParameterError
        If a declared name tuple does not have one str per entry of the
        observation or action space.

    Examples
    --------
    >>> import gymnasium as gym
    >>> names = signal_names(gym.make("Pendulum-v1"), [2])
    >>> names["observation_names"], names["input_names"], names["output_names"], names["units"]
    (('obs0', 'obs1', 'obs2'), ('u0',), ('y0',), {})
    """
    base = env.unwrapped
    n_obs, m = _space_size(env.observation_space), _space_size(env.action_space)
    obs_names = _declared_names(base, "observation_names", n_obs, "obs", "observation")
    in_names = _declared_names(base, "input_names", m, "u", "action")
    declared = getattr(base, "observation_names", None) is not None
    out_names = tuple(obs_names[i] for i in output_indices) if declared else \
        tuple(f"y{i}" for i in range(len(output_indices)))
    units = dict(getattr(base, "units", None) or {})
    return {"observation_names": obs_names, "input_names": in_names, "output_names": out_names, "units": units}


# --------------------------------------------------------------------------- checks shared by every loop
