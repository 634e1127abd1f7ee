"""BO-MRL Fig. 2, "Half-cheetah, moving direction" (Xu & Zhu 2024, §6.2, App. B): meta-test return
after 0-3 one-time adaptations, for BO-MRL with Alg(1), Alg(2) and Alg(3).

Settings (docs/sources/bomrl.md §2.2, §3.2): direction ±1 with probability 1/2, horizon 200, 20
rollouts per adaptation step, 64×64 tanh Gaussian, 50 Adam iterations per adaptation, TRPO with
δ = 1e-3, up to 500 meta-iterations; λ = 0.5 for Alg(1) and Alg(2) (App. B); Alg(3)'s λ is not
reported (5.0, the default of `DeepBOMRLConfig.lam`'s docstring). The "maml" preset (the MAML code's
cheetah). Meta-batch 40, 3 seeds: defaults (§6.2); the preset's test set is its two directions.

Targets: none as numbers. The paper prints Fig. 2 without data values; what it states is the panel's
range (R_k between 0 and 600, 0-3 steps), that every BO-MRL variant lies above MAML-TRPO, ProMP and
E-MAML there (curves copied from the MAML and VariBAD papers), and "about 25 %" improvement over them
on this task.

Measured: nothing yet. The machine gave bomrl-cheetah-vel's one-iteration cut 3 % of a core (1975 s
for one iteration); this experiment has the same body, batch and algorithm, so the same cost applies:
≈ 60-70 CPU-s and 320 k env steps per iteration, 500 iterations ≈ 9 h per (Alg(i), seed) on a free
core, 81 h for the 3 × 3 grid.
"""

from benchmarks.experiments import Experiment
from benchmarks.experiments.shared import bomrl_cheetah

EXPERIMENT = Experiment(
    name="bomrl-cheetah-dir",
    description="BO-MRL Fig. 2: Half-Cheetah direction, BO-MRL with Alg(1), Alg(2), Alg(3), 500 iterations",
    env_id="MetaRL/HalfCheetahDir-v0",
    env_kwargs={"preset": "maml"},
    **bomrl_cheetah(lam_alg2=0.5),
)
