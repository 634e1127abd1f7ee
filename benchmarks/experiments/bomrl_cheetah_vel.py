"""BO-MRL Fig. 2, "Half-cheetah, goal velocity" (Xu & Zhu 2024, §6.2, App. B): meta-test return after
0-3 one-time adaptations, for BO-MRL with Alg(1), Alg(2) and Alg(3).

Settings (docs/sources/bomrl.md §2.2, §3.2): velocity ~ U[0, 2], horizon 200, 20 rollouts per
adaptation step, 64×64 tanh Gaussian, 50 Adam iterations per adaptation, TRPO with δ = 1e-3, up to
500 meta-iterations; λ = 0.5 for Alg(1) and 0.4 for Alg(2) (App. B); Alg(3)'s λ is not reported
(5.0, the default of `DeepBOMRLConfig.lam`'s docstring). The paper follows MAML's setup, so the
"maml" preset (the MAML code's cheetah). Meta-batch 40, 40 test tasks, 3 seeds: defaults (§6.2).

Targets: none as numbers. The paper prints Fig. 2 without data values; what it states is the panel's
range (R_k between −160 and −40 for all curves, 0-3 steps), that every BO-MRL variant lies above
MAML-TRPO, ProMP and E-MAML there (whose curves it copied from the MAML and VariBAD papers), and about
10 % improvement from the second adaptation step where the baselines gain about 0 %.
"""

from benchmarks.experiments import Experiment
from benchmarks.experiments.shared import bomrl_cheetah

EXPERIMENT = Experiment(
    name="bomrl-cheetah-vel",
    description="BO-MRL Fig. 2: Half-Cheetah goal velocity, BO-MRL with Alg(1), Alg(2), Alg(3), 500 iterations",
    env_id="MetaRL/HalfCheetahVel-v0",
    env_kwargs={"preset": "maml"},
    **bomrl_cheetah(lam_alg2=0.4),
)
