"""BO-MRL (deep, Algorithm 2) against MAML on 2-D navigation under one budget: the deep agent's
correctness check on a problem this machine can run in full. The BO-MRL paper has no 2-D navigation
experiment, so there is no target; MAML's own numbers are maml-nav2d's.

Same env, preset, test tasks and protocol as maml-nav2d (3 rounds of 40 episodes, R_k from 20
evaluation episodes), and the same data per meta-iteration: 20 tasks × 20 episodes before and 20
after adaptation, 100 iterations. MAML keeps maml-nav2d's config (the original code's). BO-MRL keeps
its paper's own settings (App. B: 64×64 tanh, 50 Adam iterations per one-time adaptation, TRPO with
δ = 1e-3; docs/sources/bomrl.md §3.2) and Alg(1) with λ = 0.5 (the value the paper uses for Alg(1) on
all four MuJoCo tasks); its Gaussian acts in MAML's normalised action space (`action_scale=0.1`).

Measured: a cut run only (the full run did not fit the session). `--iterations 15`, seed 0, the
first 10 test tasks, on the shared 2-core machine at nice 10:

| agent | iterations | seeds | test tasks | R₀ | R₁ | R₂ | R₃ | gap J* − R₃ | train env steps | wall |
|---|---|---|---|---|---|---|---|---|---|---|
| BO-MRL (1) | 15 | 1 | 10 | −45.08 | −27.32 | −18.26 | −13.78 | 13.34 | 1.17 M | 1380 s + 310 s test |
| MAML (maml-nav2d) | 100 | 3 | 40 | −40.58 | −13.20 | −35.68 | −12.04 | 11.52 | 7.4 M per seed | 580-680 s per seed |

(J* is the analytic straight-line optimum: mean −0.44 over those 10 tasks, −0.52 over all 40.)
Training curve (pre / post adaptation return of the meta-batch): iteration 0 −93.0 / −52.8,
5 −79.3 / −42.3, 10 −62.8 / −40.2, 14 −48.6 / −30.7: the one-time adaptation gains 20-40 at every
iteration and the meta-policy keeps improving. After 15 of 100 iterations BO-MRL's R₁ trails MAML's
fully trained one, but it improves at every round (−27 → −18 → −14) where MAML's second step
throws far goals away (maml-nav2d's card). Time: 55-100 s per iteration (≈ 78 k env steps; 50 Adam
iterations on 40 k samples dominate), so the full run is ≈ 2 h per seed plus ≈ 20 min of
meta-test on 40 tasks: 3 seeds ≈ 7 h on one core.
"""

from benchmarks.experiments import AgentSpec, Experiment
from benchmarks.experiments.shared import MAML_NAV2D, NAV2D_PROTOCOL

BOMRL_NAV2D = {"divergence": 1, "lam": 0.5, "action_scale": 0.1, "tasks_per_iteration": 20, "episodes_per_task": 20}

EXPERIMENT = Experiment(
    name="bomrl-nav2d",
    description="BO-MRL (deep, Alg(1)) vs MAML-TRPO on Navigation2D (maml preset), same data budget, 0-3 steps",
    env_id="MetaRL/Navigation2D-v0",
    env_kwargs={"preset": "maml"},
    agents=(AgentSpec("BO-MRL (1)", "baselines.bomrl_deep:DeepBOMRL", BOMRL_NAV2D),
            AgentSpec("MAML", "baselines.maml:MAML", MAML_NAV2D)),
    iterations=100,
    seeds=3,
    protocol=NAV2D_PROTOCOL,
    quick={"iterations": 1, "seeds": 1, "max_test_tasks": 2,
           "config": {"tasks_per_iteration": 2, "episodes_per_task": 2, "cg_iterations": 2, "hidden_sizes": [8]},
           "agent_config": {"BO-MRL (1)": {"inner_iterations": 3, "hypergradient_cg_iterations": 2}},
           "protocol": {"adaptation_steps": 1, "evaluation_episodes": 2, "adaptation_episodes": 2}},
)
