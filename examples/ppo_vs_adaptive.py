"""Stable-Baselines3 PPO against the adaptive controller on the helicopter hover, same seeds.

Trains two PPO agents for a short, stated budget of environment steps
(``--timesteps``, default 100 000 = 1000 s of flight each):

- ``ppo``: PPO alone flies the helicopter (observations normalised by the
  hover scenario's signal ranges, actions rescaled to [-1, 1]);
- ``ppo+adaptive``: PPO adds a residual (at most +-10 throttle, +-30 servo)
  to the adaptive controller's action (:class:`neurocontrol.gym_wrappers.ResidualControlEnv`);

then flies the hover task of ``scenarios/helicopter_hover.toml`` (30 s,
random start, 140 rad/s and 1 m) on the same seeds with the adaptive
controller alone, PPO and PPO + adaptive, through the same runner, and
prints success rates and tracking metrics. Needs the ``rl`` extra
(``pip install -e .[rl]``: stable-baselines3 and a CPU build of torch).

Run: ``python examples/ppo_vs_adaptive.py [--timesteps 100000] [--seeds 10]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import plants  # noqa: F401
from neurocontrol.controllers.base import AbstractController
from neurocontrol.gym_wrappers import NormalizeObservation, ResidualControlEnv
from neurocontrol.reference import Constant, MultiSignal
from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import simulate

HOVER = Path(__file__).resolve().parents[1] / "scenarios" / "helicopter_hover.toml"
RESIDUAL_SCALE = (10.0, 30.0)
TRAIN_EPISODE_S = 10.0


def _ranges():
    c = Scenario.from_toml(HOVER).controller
    return np.array(c.observation_low), np.array(c.observation_high)


def _reference():
    return MultiSignal(signals=(Constant(value=140.0), Constant(value=1.0)))


def make_ppo_env(seconds: float = TRAIN_EPISODE_S) -> gym.Env:
    """PPO alone: normalised observations, actions in [-1, 1]."""
    lo, hi = _ranges()
    env = gym.make("neurocontrol/Helicopter-v0", max_episode_steps=int(round(seconds / 0.01)))
    env = NormalizeObservation(env, lo, hi)
    return gym.wrappers.RescaleAction(env, -1.0, 1.0)


def make_residual_env(seconds: float = TRAIN_EPISODE_S) -> gym.Env:
    """PPO residual on top of the adaptive controller."""
    from neurocontrol.scenario.kinds import build_adaptive

    lo, hi = _ranges()
    env = gym.make("neurocontrol/Helicopter-v0", max_episode_steps=int(round(seconds / 0.01)))
    env = ResidualControlEnv(env, lambda e: build_adaptive(Scenario.from_toml(HOVER).controller, e), _reference(),
                             residual_scale=RESIDUAL_SCALE)
    return NormalizeObservation(env, np.concatenate([lo, lo[:2]]), np.concatenate([hi, hi[:2]]))


class PolicyController(AbstractController):
    """A trained SB3 policy as a controller (so the same runner and metrics apply).

    With ``base`` it is the residual agent: ``u = base.step(y, r, feedforward=scale * policy([y, r]))``.
    """

    def __init__(self, model, *, input_limits, dt, base=None, residual_scale=RESIDUAL_SCALE):
        super().__init__(input_limits=input_limits, output_indices=(0, 1), dt=dt)
        self.model, self.base = model, base
        self.lo, self.hi = _ranges()
        self.scale = np.asarray(residual_scale, dtype=float)

    def _norm(self, y, lo, hi):
        return np.clip(2.0 * (y - lo) / (hi - lo) - 1.0, -1.0, 1.0)

    def _reset_impl(self, observation, reference, seed):
        if self.base is not None:
            self.base.reset(observation, reference, seed=seed)

    def _step_impl(self, observation, reference):
        if self.base is None:
            a, _ = self.model.predict(self._norm(observation, self.lo, self.hi), deterministic=True)
            lim = self.input_limits
            return lim[:, 0] + 0.5 * (np.clip(a, -1, 1) + 1.0) * (lim[:, 1] - lim[:, 0])
        x = np.concatenate([observation, reference])
        lo, hi = np.concatenate([self.lo, self.lo[:2]]), np.concatenate([self.hi, self.hi[:2]])
        a, _ = self.model.predict(self._norm(x, lo, hi), deterministic=True)
        return self.base.step(observation, reference, feedforward=self.scale * np.clip(a, -1, 1))

    def diagnostics(self):
        return self.base.diagnostics() if self.base is not None else super().diagnostics()


def train(make_env, timesteps: int, seed: int, n_steps: int = 1024):
    """PPO (SB3 defaults except a smaller rollout) for ``timesteps`` environment steps."""
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    model = PPO("MlpPolicy", make_env(), n_steps=min(n_steps, timesteps), batch_size=64, seed=seed, verbose=0,
                device="cpu")
    model.learn(total_timesteps=timesteps)
    return model


def evaluate(seeds, duration: float, ppo=None, residual=None) -> dict:
    """Fly the hover scenario on ``seeds`` with each controller; return {name: [metrics per seed]}."""
    sc = Scenario.from_toml(HOVER).set("run.duration", str(duration))
    out = {"adaptive": [], "ppo": [], "ppo+adaptive": []}
    tol = dict(sc.run.tolerance)
    for seed in seeds:
        for name in out:
            setup = sc.build(seed)
            lim = np.column_stack([setup.env.action_space.low, setup.env.action_space.high])
            if name == "adaptive":
                ctrl = setup.controller
            elif name == "ppo":
                if ppo is None:
                    continue
                ctrl = PolicyController(ppo, input_limits=lim, dt=0.01)
            else:
                if residual is None:
                    continue
                ctrl = PolicyController(residual, input_limits=lim, dt=0.01, base=setup.controller)
            res = simulate(setup.env, ctrl, setup.reference, duration=sc.run.duration, seed=seed,
                           options=setup.options, tolerance=tol,
                           final_window_s=min(sc.run.final_window_s, duration / 2))
            out[name].append(res.metrics)
    return {k: v for k, v in out.items() if v}


def table(results: dict) -> str:
    """Success rate, failures and medians over seeds, one row per controller."""
    lines = [f"{'controller':<14}{'success':>9}{'altitude IAE m s':>18}{'altitude RMSE m':>17}"
             f"{'rotor RMSE rad/s':>18}{'step us':>9}"]
    for name, ms in results.items():
        succ = np.mean([bool(m["success"]) for m in ms])
        iae = np.median([m["outputs"]["altitude"]["iae"] for m in ms])
        rmse = np.median([m["outputs"]["altitude"]["rmse"] for m in ms])
        rot = np.median([m["outputs"]["rotor_speed"]["rmse"] for m in ms])
        us = np.median([m["control_step_us"] for m in ms])
        lines.append(f"{name:<14}{100 * succ:>8.0f}%{iae:>18.4g}{rmse:>17.4g}{rot:>18.4g}{us:>9.0f}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timesteps", type=int, default=100_000, help="PPO budget per agent, env steps of 10 ms")
    ap.add_argument("--seeds", type=int, default=10, help="evaluate on seeds 0..N-1")
    ap.add_argument("--duration", type=float, default=30.0, help="evaluation flight, s")
    ap.add_argument("--train-seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    ppo = train(make_ppo_env, args.timesteps, args.train_seed)
    t1 = time.perf_counter()
    residual = train(make_residual_env, args.timesteps, args.train_seed)
    t2 = time.perf_counter()
    results = evaluate(range(args.seeds), args.duration, ppo, residual)
    print(f"PPO budget {args.timesteps} env steps per agent ({args.timesteps * 0.01:.0f} s of flight, "
          f"{TRAIN_EPISODE_S:.0f} s episodes); training {t1 - t0:.0f} s (ppo) and {t2 - t1:.0f} s (ppo+adaptive); "
          f"evaluation on seeds 0..{args.seeds - 1}, {args.duration:.0f} s each (medians over seeds)")
    print(table(results))
    return results


if __name__ == "__main__":
    main()
