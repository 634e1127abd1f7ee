"""RL² (Duan et al. 2016) on Navigation2D under maml-nav2d's budget.

The context-based reference agent on the env, test tasks and protocol of `maml-nav2d` (K = 3 rounds
of 40 episodes per task, R_k from 20 episodes; 100 iterations). Per iteration RL² collects the same
800 episodes as MAML-TRPO does (20 tasks × 20 inner + 20 outer trajectories): 20 tasks × 10 trials
× 4 episodes, the hidden state carried across a trial's episodes. At meta-test every sub-env is one
trial, so R_k is the (k + 1)-th episode of a trial on the task.

Actions as maml-nav2d's MAML: the Gaussian acts in a box 10× the env's (`action_scale=0.1`). The PPO
step is ProMP's RL² baseline's (5 full-batch epochs, Adam 1e-3, docs/sources/code-bases.md); the
budget is maml-nav2d's (100 iterations), a tenth of ProMP's 1000.

Measured (results/reference/, 436c169's code, 3 seeds, 100 iterations, 7.90 M env steps and
1546 / 1700 / 1854 s per cell on 2 shared cores, one torch thread): R₀..R₃ = −65.94, −65.84, −65.71,
−65.98 (per seed R₀ −65.60, −65.70, −66.52; R₃ −65.41, −65.75, −66.80). No target (the paper has no
point-navigation experiment). RL² does not adapt here at this budget, and its first episode is worse than
not moving at all: a policy that stays at the start scores −38.2 on these 40 test goals (−100 · mean
‖goal‖), and MAML's R₀ is −40.6. The data:
- Before the action scale (the std-1 Gaussian in env units, clipped to the ±0.1 box), seed 0 scored
  −87.3, −90.9, −88.6, −91.0, a random walk's return.
- It is not the exploration noise: the final action std is 0.071 / 0.073 in env units on seed 0,
  close to MAML's 0.064 / 0.061 after maml-nav2d.
- Training shows no within-trial gain either: over the last 10 iterations the first episode of a trial
  returns −68.9 / −68.6 / −70.3 and the fourth −70.2 / −68.1 / −69.3.
- The value term dominates the PPO loss (174 at the first iteration, 34-45 at the last, against a
  clipped surrogate of order 1 on normalised advantages), and it shares the GRU with the policy.
- More updates per batch did not change the first iterations: 8 minibatches per epoch (40 Adam steps
  an iteration) reached −72.4 at iteration 8 (seed 0, one cut run), against −75 to −77 with full
  batches, at 4-5× the compute per iteration.
Candidates not yet measured: normalised returns for the value head or a value network of its own,
and ProMP's 10× iteration budget.
"""

from benchmarks.experiments import AgentSpec, Experiment
from benchmarks.experiments.maml_nav2d import EXPERIMENT as MAML_NAV2D

EXPERIMENT = Experiment(
    name="rl2-nav2d",
    description="RL² (GRU, PPO outer loop) on Navigation2D (maml preset) under maml-nav2d's budget",
    env_id=MAML_NAV2D.env_id,
    env_kwargs=MAML_NAV2D.env_kwargs,
    agents=(AgentSpec("RL2", "baselines.rl2:RL2", {"tasks_per_iteration": 20, "trials_per_task": 10,
                                                    "episodes_per_trial": 4, "action_scale": 0.1,
                                                    "learning_rate": 1e-3, "ppo_epochs": 5}),),
    iterations=MAML_NAV2D.iterations,
    seeds=MAML_NAV2D.seeds,
    protocol=MAML_NAV2D.protocol,
    quick={"iterations": 1, "seeds": 1, "max_test_tasks": 3,
           "config": {"tasks_per_iteration": 2, "trials_per_task": 2, "episodes_per_trial": 2, "hidden_size": 8},
           "protocol": {"adaptation_steps": 1, "evaluation_episodes": 2, "adaptation_episodes": 2}},
    notes=("The paper's outer loop is TRPO; PPO (ProMP's RL² baseline settings: 5 full-batch epochs, Adam 1e-3, "
           "clip 0.2) is what later RL² baselines run. Actions as maml-nav2d's MAML: the policy acts in a box 10× "
           "the env's (action_scale 0.1)."),
)
