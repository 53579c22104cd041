"""A controller per sub-env of a Gymnasium vector env, with autoreset handled: env k driven by controller k.

Each sub-env k of a ``SyncVectorEnv`` or ``AsyncVectorEnv`` of helicopters gets
its own controller (built from a scenario file; the PID of
``scenarios/hover_pid.toml`` by default). Episodes are short, so sub-envs end
and are reset automatically by the vector env. The recipe:

* Gymnasium's default autoreset mode is ``NEXT_STEP``: after sub-env k reports
  ``terminated or truncated``, the **next** ``step`` call resets it, ignores
  its action and returns the new episode's first observation. So on that
  step the controller gets no observation to act on; afterwards it is reset
  with the new first observation (``controller.reset(obs[k], r(0))``) and
  its episode time starts again at 0.
* In ``SAME_STEP`` mode the observation returned with ``terminated or
  truncated`` is already the next episode's first one (the last one of the
  ending episode is in ``info["final_obs"]``), so the controller is reset at
  once.

The reference is a callable of time, in either form the package accepts
(``reference(t) -> (p,)`` or ``reference(t_array) -> (T, p)``); here a
``MultiSignal`` evaluated at each sub-env's own episode time.

Run: ``python examples/vector_env_controller.py [--envs 3] [--steps 600] [--episode-steps 250] [--async]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np

import plants  # noqa: F401  (registers neurocontrol/Helicopter-v0)
from neurocontrol.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
PID = ROOT / "scenarios" / "hover_pid.toml"


def make_env(episode_steps: int = 250) -> gym.Env:
    """Factory (top level, so AsyncVectorEnv can pickle it): a helicopter whose episodes last ``episode_steps``."""
    return gym.make("neurocontrol/Helicopter-v0", max_episode_steps=episode_steps)


def controller_seed(seed: int, k: int, episode: int) -> int:
    """Seed of controller ``k`` in its ``episode``-th episode (0, 1, ...)."""
    return seed + 1000 * episode + k


def run(n_envs: int = 3, steps: int = 600, episode_steps: int = 250, *, asynchronous: bool = False, seed: int = 0,
        scenario=PID, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP) -> dict:
    """Drive every sub-env with its own controller for ``steps`` vector steps; return what each sub-env saw.

    Returns
    -------
    dict
        ``"outputs"`` (steps, n_envs, p) controlled outputs after each step
        (NaN where the step was a NEXT_STEP autoreset), ``"episodes"`` (n_envs,)
        episodes started per sub-env, and ``"actions"`` (steps, n_envs, m).
    """
    sc = Scenario.from_toml(scenario)
    reference = sc.build(seed).reference
    vec_cls = gym.vector.AsyncVectorEnv if asynchronous else gym.vector.SyncVectorEnv
    envs = vec_cls([lambda: make_env(episode_steps)] * n_envs, autoreset_mode=autoreset_mode)
    try:
        controllers = [sc.build(seed).controller for _ in range(n_envs)]
        idx = list(controllers[0].output_indices)
        dt = envs.metadata.get("dt") or controllers[0].dt
        m = envs.single_action_space.shape[0]

        def r(t: float) -> np.ndarray:
            return np.asarray(reference(t), dtype=np.float64).reshape(-1)

        obs, _ = envs.reset(seed=seed)                      # sub-env k is seeded with seed + k
        episode = np.zeros(n_envs, dtype=int)
        for k, c in enumerate(controllers):
            c.reset(obs[k], r(0.0), seed=controller_seed(seed, k, 0))
        t = np.zeros(n_envs)
        resetting = np.zeros(n_envs, dtype=bool)            # NEXT_STEP: this step resets sub-env k
        outputs = np.full((steps, n_envs, len(idx)), np.nan)
        actions = np.zeros((steps, n_envs, m))
        for i in range(steps):
            for k, c in enumerate(controllers):
                if not resetting[k]:                        # an autoreset step ignores the action
                    actions[i, k] = c.step(obs[k], r(t[k]))
            obs, _, terminated, truncated, info = envs.step(actions[i])
            done = terminated | truncated
            for k, c in enumerate(controllers):
                if resetting[k] or (done[k] and autoreset_mode == gym.vector.AutoresetMode.SAME_STEP):
                    if not resetting[k]:                    # SAME_STEP: the ending episode's last observation
                        outputs[i, k] = info["final_obs"][k][idx]
                    episode[k] += 1                         # obs[k] is the first observation of a new episode
                    c.reset(obs[k], r(0.0), seed=controller_seed(seed, k, episode[k]))
                    t[k] = 0.0
                else:
                    t[k] += dt
                    outputs[i, k] = obs[k][idx]
            resetting = done if autoreset_mode == gym.vector.AutoresetMode.NEXT_STEP else np.zeros_like(done)
        return {"outputs": outputs, "episodes": episode + 1, "actions": actions}
    finally:
        envs.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--episode-steps", type=int, default=250)
    ap.add_argument("--async", dest="asynchronous", action="store_true")
    args = ap.parse_args(argv)
    res = run(args.envs, args.steps, args.episode_steps, asynchronous=args.asynchronous)
    last = res["outputs"][-1]
    for k in range(args.envs):
        print(f"sub-env {k}: {res['episodes'][k]} episodes, last outputs {np.round(last[k], 3).tolist()}")
    return res


if __name__ == "__main__":   # AsyncVectorEnv starts worker processes, which re-import this script
    main()
