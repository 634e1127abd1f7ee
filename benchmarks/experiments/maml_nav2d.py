"""MAML (Finn et al. 2017) on 2-D navigation: 40 test tasks, returns after 0..3 VPG steps.

Numbers: anchors.md §4.1 (cbfinn/maml_rl icml results pickles): -40.4, -11.7, -3.3, -3.2 after
0, 1, 2, 3 steps. Hyperparameters: pytorch-maml-rl configs/maml/2d-navigation.yaml (fast-lr 0.1,
20 tasks × 20 trajectories, 64×64 tanh, TRPO max-kl 0.01, CG 10 / damping 1e-5, line search
15 × 0.8, γ 0.99, GAE λ 1.0, 500 batches).
"""

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment, Target

_SOURCE = "MAML ICML'17 (anchors.md §4.1)"

EXPERIMENT = Experiment(
    name="maml-nav2d",
    description="MAML-TRPO on Navigation2D (maml preset), 40 test tasks, 0-3 adaptation steps",
    env_id="MetaRL/Navigation2D-v0",
    env_kwargs={"preset": "maml"},
    agents=(AgentSpec("MAML", "baselines.maml:MAML", {}),),
    iterations=500,
    seeds=3,
    protocol=MetaTestProtocol(adaptation_steps=3, evaluation_episodes=20),
    targets=(Target(_SOURCE, "MAML", 0, -40.4), Target(_SOURCE, "MAML", 1, -11.7),
             Target(_SOURCE, "MAML", 2, -3.3), Target(_SOURCE, "MAML", 3, -3.2)),
    quick={"iterations": 1, "seeds": 1, "max_test_tasks": 3,
           "config": {"tasks_per_iteration": 2, "episodes_per_task": 2, "cg_iterations": 2, "hidden_sizes": [8]},
           "protocol": {"adaptation_steps": 1, "evaluation_episodes": 2}},
)
