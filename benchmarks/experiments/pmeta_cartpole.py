"""pMeta-RL Table V, CartPole: the five Table I variants (`pmeta` preset; train = test = the five),
pMeta-RL with its DQN inner learner (MP and PP) against DQN*, DQN and Model-Averaging under the same
budget: C = 30 rounds of R = 200 env and gradient steps per task (6000 per task, 30 000 in all, plus
2000 warm-up transitions per task), Table II's settings (baselines/pmetarl_dqn.py lists every choice).

Scoring. The paper's Table V is the best average return over training (10 evaluation episodes).
That score flatters: it is a maximum over 30 noisy evaluations, chosen after the fact. The training
curve carries it (`extra.best_meta_return`, `extra.best_personal_return`, after every round, with the
round's own `meta_return` / `personal_return`), and R_k is the final policy's: R_0 the final meta
network (MP; DQN*: the mean of its task networks' Q-values), R_1 after the agent's personalization
step on 5 episodes of the task (PP; DQN*: its task network with the smallest TD error on them).
The paper's numbers are printed beside R_0 (MP, DQN, Model-Averaging) and R_1 (PP, DQN*).
"""

from benchmarks.experiments import Experiment
from benchmarks.experiments.pmeta_gym import PROTOCOL, QUICK, table_five

AGENTS, TARGETS = table_five(200, {"MP": (192.54, 2.54), "PP": (197.13, 0.45), "DQN*": (198.05, 1.03),
                                   "DQN": (169.20, 2.89), "Model-Averaging": (191.92, 1.36)})

EXPERIMENT = Experiment(
    name="pmeta-cartpole",
    description="pMeta-RL Table V, CartPole (Table I variants): pMeta-RL MP/PP vs DQN*, DQN, Model-Averaging",
    env_id="MetaRL/CartPoleParams-v0",
    env_kwargs={"preset": "pmeta"},
    agents=AGENTS,
    iterations=30,
    seeds=5,
    protocol=PROTOCOL,
    targets=TARGETS,
    quick=QUICK,
    notes=("iterations = C rounds; R = 200. The paper scores the best average return over training "
           "(extra.best_*_return in the training curve); R_k is the final policy's."),
)
