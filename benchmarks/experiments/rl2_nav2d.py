"""RL² (Duan et al. 2016) on Navigation2D under maml-nav2d's budget.

The context-based reference agent on the env, test tasks and protocol of `maml-nav2d` (K = 3 rounds
of 40 episodes per task, R_k from 20 episodes; 100 iterations). Per iteration RL² collects the same
800 episodes as MAML-TRPO does (20 tasks × 20 inner + 20 outer trajectories): 20 tasks × 10 trials
× 4 episodes, the hidden state carried across a trial's episodes. At meta-test every sub-env is one
trial, so R_k is the (k + 1)-th episode of a trial on the task.
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
