"""pMeta-RL §V-C tabular gridworld, on two settings of the same five grids (sizes 5..9, one shared
state frame): the paper's own (`pmeta`, the reference's reading of the paper: every landmark at its
grid's far corner, so every task is solved by the same moves, up and right) and one whose tasks
disagree (`pmeta-spread`: landmarks in different directions from the start, so that no one shared
policy is optimal for every task). Meta policy (MP, k = 0: greedy in the meta table) and personalized
policy (PP, k = 1: one round of Algorithm 1 on the task from the meta table) against each task's
optimum, for pMeta-RL and Model-Averaging, with the same agents and budget on both settings.

On the paper's setting the tasks agree: MP = PP = Model-Averaging = the optimum, −5.50, on every
seed, so the setting cannot tell them apart; `pmeta-spread` is there to tell them apart.

Measured on `pmeta-spread` (full settings: C = 10 rounds, R = 3, K = 1, λ = 10; 3 seeds, about 1 s
of wall time per cell; expected mode is deterministic, so the three seeds agree to the last digit and
the interval is a point). Exact undiscounted return per test task:

| task: landmark, size | J*    | MP pMeta-RL | MP Model-Averaging | PP pMeta-RL | PP Model-Averaging |
|----------------------|-------|-------------|--------------------|-------------|--------------------|
| (4, 0), 5            | −0.75 | −161.00     | −81.63             | −0.75       | −0.75              |
| (0, 5), 6            | −1.00 | −131.20     | −258.10            | −1.70       | −1.00              |
| (6, 6), 7            | −5.50 | −5.50       | −57.75             | −5.50       | −5.50              |
| (7, 2), 8            | −2.57 | −105.00     | −47.71             | −2.57       | −2.57              |
| (2, 8), 9            | −2.81 | −131.63     | −182.00            | −2.81       | −2.81              |
| mean                 | −2.53 | −106.87     | −125.44            | −2.67       | −2.53              |

Now they are told apart. No meta table is optimal for all five tasks (each greedy meta policy loops
on some task until the 324-step horizon, hence the large negative MP returns); pMeta-RL's meta table
is the better shared policy (mean −106.87 against −125.44; discounted training J, γ = 0.95, −7.71
against −8.49), as Fig. 2 reports. After one round on the task both personalize almost to the
optimum; pMeta-RL's λ-pull toward the meta table costs it 0.70 on the (0, 5) task, where Model-
Averaging (λ → 0) reaches the optimum.

Reference runs (results/reference/, both settings, 3 seeds, code of 9f97847; 0.2-0.3 s of wall time
per cell): the numbers above, to the last digit."""

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment, Setting

ENV_ID = "MetaRL/GridNavigation-v0"

AGENTS = (
    AgentSpec("pMeta-RL", "baselines.pmetarl:PMetaRL",
              {"lam": 10.0, "personal_updates": 3, "inner_updates": 1, "mode": "expected"}),
    AgentSpec("Model-Averaging", "baselines.pmetarl:PMetaRL",
              {"lam": 1e-6, "personal_updates": 3, "inner_updates": 1, "mode": "expected", "aux_lr": 1e6}),
)
PROTOCOL = MetaTestProtocol(adaptation_steps=1, evaluation_episodes=1, adaptation_episodes=5, exact=True,
                            discount=1.0)
NOTES = ("Expected-mode updates (eq. 6) on each task's model; iterations = C rounds. Scored: exact "
         "undiscounted return over the preset horizon; R_0 = MP (greedy in the meta table), R_1 = PP. "
         "'Model-Averaging' (§V-C baseline): λ → 0 and ηλ = 1, i.e. per-task Q-iteration sweeps whose "
         "tables are averaged every round. The paper reports curves only (Fig. 2): no targets.")

EXPERIMENT = Experiment(
    name="pmeta-gridworld",
    description="pMeta-RL §V-C tabular gridworld (sizes 5..9), C = 10, R = 3, K = 1, λ = 10",
    env_id=ENV_ID,
    env_kwargs={"preset": "pmeta", "obs_mode": "index"},
    settings=(Setting(ENV_ID, {"preset": "pmeta-spread", "obs_mode": "index"},
                      description="pMeta-RL §V-C tabular gridworld, landmarks that disagree (sizes 5..9), "
                                  "C = 10, R = 3, K = 1, λ = 10"),),
    agents=AGENTS,
    iterations=10,
    seeds=3,
    protocol=PROTOCOL,
    quick={"iterations": 2, "seeds": 1},
    notes=NOTES,
)
