"""MEMRL Fig. 1 (Toghani et al. 2023, §4): discrete 2-D navigation, three fixed goals.

Claim: at iteration t = 120 "the adapted meta-policy for each task is optimal". Scored here
exactly (the tabular model, `exact=True`): R_1 = the undiscounted H = 20 return of the policy
after the K = 8-step inner solve, next to the value-iteration optimum J* of each task (the
result's optimality gap). The paper gives no number, so there is no `Target`: success is
R_1 ≥ 0.95·J* on each of the three tasks at iteration 120.
"""

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment

EXPERIMENT = Experiment(
    name="memrl-gridnav",
    description="MEMRL Fig. 1: 11×11 grid, 3 goals, λ=2 α=0.1 β=0.02 K=8 B=2 D=10 γ=0.99, 120 iterations",
    env_id="MetaRL/GridNavigation-v0",
    env_kwargs={"preset": "memrl"},
    agents=(AgentSpec("MEMRL", "baselines.memrl:MEMRL", {}),),
    iterations=120,
    seeds=5,
    protocol=MetaTestProtocol(adaptation_steps=1, evaluation_episodes=10, exact=True),
    quick={"iterations": 2, "seeds": 1, "config": {"inner_steps": 2}},
    notes="target: R_1 ≥ 0.95 J*(task) on each of the 3 tasks at iteration 120 (paper: 'optimal'); "
          "J* from value iteration on the exact model with the scored horizon and discount",
)
