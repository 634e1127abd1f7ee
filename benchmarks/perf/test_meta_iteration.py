"""Where a meta-iteration's time goes: env stepping, the autograd the algorithm needs, the rest.

Run: `python -m pytest benchmarks/perf/test_meta_iteration.py --benchmark-only -s` (not part of
the unit suite). One SG-MRL (practical) and one MAML-TRPO iteration on Navigation2D with the
papers' batch (20 tasks × 20 trajectories × 100 steps). Timers (test-only wrappers, outermost
call counted once):
- env: `Sampler.env_seconds` (inside the vector env's reset/step);
- autograd: the inner steps (`estimators.inner_step`), the outer objective (`estimators.meta_objective`),
  `backward`, the TRPO step (gradient, Fisher-vector products, line search) and building MAML's
  Fisher product (`estimators.adapted_fisher_product`), optimiser steps;
- rest: everything else (the policy's forward pass in the rollout loop, advantages and baseline fits,
  copies).
Target (issue 4, item 6): env + autograd ≥ 75 % of the iteration.
"""

import time

import numpy as np
import pytest
import torch

import metarl_envs
from baselines import maml as maml_module
from baselines.common import estimators, training
from baselines.maml import MAML, MAMLConfig
from baselines.sgmrl import SGMRL, SGMRLConfig

NAV = "MetaRL/Navigation2D-v0"


class Clock:
    def __init__(self):
        self.seconds, self.depth = 0.0, 0

    def wrap(self, function):
        def timed(*args, **kwargs):
            self.depth += 1
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.seconds += time.perf_counter() - start
        return timed


@pytest.mark.parametrize(("cls", "config"), [(SGMRL, SGMRLConfig()), (MAML, MAMLConfig())])
def test_meta_iteration_split(benchmark, monkeypatch, cls, config):
    torch.set_num_threads(1)
    agent = cls(NAV, config, {"preset": "maml"})
    tasks = list(metarl_envs.task_set(NAV, "train"))[: config.tasks_per_iteration]
    rng = training.seed_policy(agent.policy, 0)
    clock = Clock()
    for name in ("inner_step", "meta_objective"):
        monkeypatch.setattr(estimators, name, clock.wrap(getattr(estimators, name)))
    monkeypatch.setattr(maml_module, "trpo_step", clock.wrap(maml_module.trpo_step))
    monkeypatch.setattr(estimators, "adapted_fisher_product", clock.wrap(estimators.adapted_fisher_product))
    monkeypatch.setattr(torch.Tensor, "backward", clock.wrap(torch.Tensor.backward))
    monkeypatch.setattr(torch.optim.Adam, "step", clock.wrap(torch.optim.Adam.step))
    agent.meta_train_step(tasks, rng)  # warm-up (vmap/grad tracing, env construction)
    clock.seconds, agent.sampler.env_seconds = 0.0, 0.0
    totals = []

    def one_iteration():
        start = time.perf_counter()
        agent.meta_train_step(tasks, rng)
        totals.append(time.perf_counter() - start)

    benchmark.pedantic(one_iteration, rounds=2, iterations=1)
    total = sum(totals)
    split = {"env": agent.sampler.env_seconds / total, "autograd": clock.seconds / total}
    split["rest"] = 1.0 - split["env"] - split["autograd"]
    benchmark.extra_info.update({k: round(v, 3) for k, v in split.items()})
    print(f"\n{cls.__name__}: {total / len(totals):.2f} s/iteration; split "
          + ", ".join(f"{k} {100 * v:.1f} %" for k, v in split.items()))
    assert np.isfinite(total) and split["env"] + split["autograd"] >= 0.75
