"""pMeta-RL Table V, MountainCar: the five Table I variants (inclination ζ = 3.0 .. 5.0, `pmeta` preset;
train = test = the five), pMeta-RL with its DQN inner learner (MP and PP) against DQN*, DQN and
Model-Averaging under the same budget: C = 30 rounds of R = 500 env and gradient steps per task (15 000
per task, 75 000 in all, plus 2000 warm-up transitions per task), Table II's settings
(baselines/pmetarl_dqn.py lists every choice).

Scoring as in pmeta-cartpole: the paper's best-over-training score (which flatters: a maximum over
30 noisy evaluations) is in the training curve's `extra.best_*_return`; R_k is the final policy's.

Not run at full settings yet; no cut run fitted beside the CartPole ones on the shared machine.
Projection from the CartPole measurements (the cost is the [512, 512] gradient steps, the same
network here): 15 000 gradient steps per task, 75 000 per cell ≈ 16 CPU-minutes at the 12.8 ms per
step measured under load (plus 2500 steps of meta-test personalization), so 4 agents × 5 seeds ≈
5.5 CPU-hours, and the λ sweep as much again; on a 2-core machine shared with other jobs, where this
session's runs got 5-25 % of a core, several times that in wall time.
"""

from benchmarks.experiments.pmeta_gym import table_five

EXPERIMENT = table_five("pmeta-mountaincar", "MountainCar", 500, {
    "MP": (-107.15, 4.10), "PP": (-93.05, 0.95), "DQN*": (-92.96, 2.08), "DQN": (-133.96, 3.25),
    "Model-Averaging": (-111.34, 5.95)})
