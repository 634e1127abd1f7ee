"""pMeta-RL §V-C gridworld: five tasks of different grid sizes in one shared state frame; meta-policy
(MP, k = 0) and personalized-policy (PP, k = 1: one round of Algorithm 1 on the task from the meta
table) returns against each task's optimum."""

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment

EXPERIMENT = Experiment(
    name="pmeta-gridworld",
    description="pMeta-RL §V-C tabular gridworld (sizes 5..9), C = 10, R = 3, K = 1, λ = 10",
    env_id="MetaRL/GridNavigation-v0",
    env_kwargs={"preset": "pmeta", "obs_mode": "index"},
    agents=(
        AgentSpec("pMeta-RL", "baselines.pmetarl:PMetaRL",
                  {"lam": 10.0, "personal_updates": 3, "inner_updates": 1, "mode": "expected"}),
        AgentSpec("Model-Averaging", "baselines.pmetarl:PMetaRL",
                  {"lam": 1e-6, "personal_updates": 3, "inner_updates": 1, "mode": "expected",
                   "aux_lr": 1e6}),
    ),
    iterations=10,
    seeds=3,
    protocol=MetaTestProtocol(adaptation_steps=1, evaluation_episodes=1, adaptation_episodes=5, exact=True,
                              discount=1.0),
    quick={"iterations": 2, "seeds": 1},
    notes=("Expected-mode updates (eq. 6) on each task's model; iterations = C rounds. Scored: exact "
           "undiscounted return over the preset horizon; R_0 = MP (greedy in the meta table), R_1 = PP. "
           "'Model-Averaging' (§V-C baseline): λ → 0 and ηλ = 1, i.e. per-task Q-iteration sweeps whose "
           "tables are averaged every round. The paper reports curves only (Fig. 2): no targets."),
)
