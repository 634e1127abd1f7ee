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

Measured: a one-iteration cut only (`--iterations 1`, BO-MRL (1), seed 0, the first 2 test tasks),
on the 2-core machine shared with ~20 other processes (load average 21-30, nice 10):

| agent | iterations | seeds | test tasks | R₀ | R₁ | R₂ | R₃ | train env steps | wall |
|---|---|---|---|---|---|---|---|---|---|
| BO-MRL (1) | 1 | 1 | 2 | −207.38 | −195.98 | −188.48 | −151.85 | 320 k | 1975 s + 780 s test |

Training iteration 0: pre-adaptation −225.7, post −209.7 (the one-time adaptation gains 16 on the
meta-batch); each meta-test adaptation gains again (+11, +8, +37) from a meta-policy trained once.
The paper's curves lie in −160..−40 after 500 iterations. Time: the whole run used 96 CPU-seconds
(user + system) in 2757 s of wall time, so one iteration (320 k env steps: 2 × 40 tasks × 20
episodes × 200 steps, then 50 Adam iterations on 160 k samples, 10 CG Hessian products, TRPO) is
≈ 60-70 CPU-s, ≈ 5 k env steps per CPU-second; at the 162 env steps/s this machine gave it, one
iteration took 33 min. Full run: 500 iterations ≈ 9 h per (Alg(i), seed) on a free core, 81 h for
the 3 × 3 grid; on this machine as loaded, 11 days per cell.
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
