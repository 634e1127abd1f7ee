"""The pMeta-RL Gym experiments, written once (this module defines no experiment): Table V's four
agents (pMeta-RL with its DQN inner learner, DQN*, DQN, Model-Averaging) on one DQN core
(`baselines/pmetarl_dqn.py`) and Table IV's λ sweep, each on the five Table I variants of an env
(`pmeta` preset; train = test = the five), with the meta-test protocol, budget and --quick cut they
share. `pmeta_cartpole.py`, `pmeta_mountaincar.py` and their `_lambda` twins hold only each env's
data: R and the paper's numbers."""

from __future__ import annotations

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment, Target

__all__ = ["ENVS", "PROTOCOL", "QUICK", "lambda_sweep", "table_five"]

ENVS = {"CartPole": "MetaRL/CartPoleParams-v0", "MountainCar": "MetaRL/MountainCarParams-v0"}
"""the paper's name of each env → its id"""

PROTOCOL = MetaTestProtocol(adaptation_steps=1, evaluation_episodes=10, adaptation_episodes=5)
"""R_0 = the meta policy (MP), R_1 = the policy after the agent's personalization step on 5 episodes
of the task (PP); 10 greedy evaluation episodes per task, as the paper's evaluations"""

QUICK = {"iterations": 2, "seeds": 1,
         "config": {"hidden_sizes": [16, 16], "personal_updates": 10, "warmup_steps": 50, "batch_size": 8,
                    "evaluation_episodes": 1},
         "protocol": {"evaluation_episodes": 1, "adaptation_episodes": 1}}
"""seconds, not a result: 16×16 networks, R = 10, two rounds, one seed"""

_MODULE = "baselines.pmetarl_dqn"


def _experiment(name: str, env: str, description: str, personal_updates: int, agents: tuple[AgentSpec, ...],
                targets: tuple[Target, ...]) -> Experiment:
    """An experiment on `env`'s five Table I variants: C = 30 rounds, 5 seeds, `PROTOCOL`, `QUICK`."""
    if env not in ENVS:
        raise ValueError(f"{name}: env={env!r} must be one of {sorted(ENVS)}")
    return Experiment(
        name=name,
        description=f"pMeta-RL {description}",
        env_id=ENVS[env],
        env_kwargs={"preset": "pmeta"},
        agents=agents,
        iterations=30,
        seeds=5,
        protocol=PROTOCOL,
        targets=targets,
        quick=QUICK,
        notes=(f"iterations = C rounds; R = {personal_updates}. The paper scores the best average return over "
               "training (extra.best_*_return in the training curve); R_k is the final policy's."),
    )


def table_five(name: str, env: str, personal_updates: int, paper: dict[str, tuple[float, float]]) -> Experiment:
    """Table V on `env` with R = `personal_updates`; `paper` maps "MP", "PP", "DQN*", "DQN",
    "Model-Averaging" to the table's (mean, ±). The paper's numbers are best-over-training scores;
    they are attached to the R_k that plays the same role (MP, DQN, Model-Averaging: R_0, the meta
    network; PP and DQN*: R_1, a task's own network)."""
    config = {"personal_updates": personal_updates}
    agents = (AgentSpec("pMeta-RL", f"{_MODULE}:PMetaDQN", {**config, "lam": 20.0}),
              AgentSpec("DQN per task", f"{_MODULE}:IndependentDQN", config),
              AgentSpec("DQN pooled", f"{_MODULE}:PooledDQN", config),
              AgentSpec("Model-Averaging", f"{_MODULE}:ModelAveragingDQN", config))
    source = "pMeta-RL Table V (best over training)"
    targets = (Target(f"{source}, MP", "pMeta-RL", 0, *paper["MP"]),
               Target(f"{source}, PP", "pMeta-RL", 1, *paper["PP"]),
               Target(f"{source}, DQN*", "DQN per task", 1, *paper["DQN*"]),
               Target(f"{source}, DQN", "DQN pooled", 0, *paper["DQN"]),
               Target(source, "Model-Averaging", 0, *paper["Model-Averaging"]))
    return _experiment(name, env, f"Table V, {env} (Table I variants): pMeta-RL MP/PP vs DQN*, DQN, Model-Averaging",
                       personal_updates, agents, targets)


def lambda_sweep(name: str, env: str, personal_updates: int,
                 paper: dict[float, tuple[tuple[float, float], tuple[float, float]]]) -> Experiment:
    """Table IV on `env` with R = `personal_updates`: pMeta-RL at λ ∈ {5, 20, 30, 50} (η = 1e-3, so
    ηλ ≤ 0.05); `paper` maps λ to ((MP mean, ±), (PP mean, ±))."""
    agents, targets = [], []
    for lam, (meta, personal) in paper.items():
        label = f"pMeta-RL lam {lam:g}"
        agents.append(AgentSpec(label, f"{_MODULE}:PMetaDQN", {"personal_updates": personal_updates, "lam": lam}))
        targets += [Target("pMeta-RL Table IV (best over training), MP", label, 0, *meta),
                    Target("pMeta-RL Table IV (best over training), PP", label, 1, *personal)]
    lams = ", ".join(f"{lam:g}" for lam in paper)
    return _experiment(name, env, f"Table IV, {env}: λ ∈ {{{lams}}}", personal_updates, tuple(agents), tuple(targets))
