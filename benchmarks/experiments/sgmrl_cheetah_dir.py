"""SG-MRL Table 2 (Fallah et al. 2021, §5): Half-Cheetah Random Direction, SG-MRL vs MAML with 1, 2, 3 inner steps.

Released-code settings (sgmrl_mujoco.json, docs/sources/sgmrl.md §3): 40 tasks × 20 trajectories, 100×100 tanh,
γ 0.99, GAE λ 0.997, α 0.1, Adam 1e-3, 400 iterations, horizon 200; ProMP's direction ±1 ("promp"
preset, horizon raised to the config's 200). Actions: the policy acts in [−10, 10]⁶, mapped ×0.1
onto the actuator range [−1, 1] (the released code's normalize wrapper, docs/sources/sgmrl.md §2.2), so
`action_scale=0.1`. Each agent is trained and evaluated with its own number of inner steps ζ: the
target of the ζ-step agent sits at k = ζ.

Cut runs (`--iterations N --agent "SG-MRL (1 step)" --agent "MAML (1 step)"`, seed 0, ≈ 13 s per
iteration, 1370-1380 s per cell at N = 100): R₀..R₃ after 100 iterations, SG-MRL −0.67, −0.63,
−0.59, −0.31; MAML −0.63, −0.23, 0.43, 0.54 (paper at 400 iterations, k = 1: 580.1 ± 38.2 and
465.6 ± 54.1). At a quarter of the run the cheetah has not started to run in either direction
(N = 20 gives the same, ≈ −0.5).
Reference cut run (results/reference/, `--seeds 3 --iterations 30 --agent "SG-MRL (1 step)" --agent
"MAML (1 step)"`, code of 98c8e65, on an Intel family 6 model 167 host, one torch thread, two or three
processes on the 2 cores; 9.6 M env steps of meta-training per cell, both test tasks, direction −1 and
+1, 56 000 env steps of meta-test). Mean ± s.e. over the 3 seeds; the gap (mean over the two tasks) is
against the SAC estimates of J* at 100 000 env steps (1157.2 backward, 753.2 forward: `docs/protocol.md`),
so it says how far from running each agent is:

| agent | R₀ | R₁ | R₂ | R₃ | J* − R₃ (estimated) | wall: train + test |
|---|---|---|---|---|---|---|
| SG-MRL (1 step) | −0.56 ± 0.13 | −0.41 ± 0.06 | −0.50 ± 0.17 | −0.41 ± 0.07 | 955.6 ± 0.1 | 514-1111 + 5 s |
| MAML (1 step) | −1.00 ± 0.38 | 2.66 ± 3.11 | 5.17 ± 5.55 | 6.55 ± 6.93 | 948.7 ± 6.9 | 587-840 + 2-4 s |

At 30 of 400 iterations neither agent has started to run: every seed but one returns about −0.5 (a
cheetah that stands still scores 0 less its control cost) before and after adaptation. MAML's seed 1 is
the exception: R₀..R₃ −1.71, 8.88, 16.28, 20.42, and its post-adaptation training return rose from 0.08
at iteration 14 to 11.3 at iteration 29, the first sign of the direction being learned. SG-MRL's seed 0
was meta-trained twice (its first meta-test came before the oracle cache): both runs stored the same
parameters and returns, bit for bit (in 710 s and 514 s of training). At 17-37 s an iteration beside
other jobs, a full cell is 1.9-4.1 h here. No verdict for a cut run.

The 2- and 3-step agents, the same cut (`--seeds 3 --iterations 30 --agent "SG-MRL (2 step)" --agent
"MAML (2 step)" --agent "SG-MRL (3 step)" --agent "MAML (3 step)" --workers 2`, code of a540baf, same
host, one torch thread a cell beside CI and test runs; 14.4 M / 19.2 M env steps of meta-training a cell,
each cell verified bit for bit):

| agent | R₀ | R₁ | R₂ | R₃ | J* − R₃ (estimated) | wall (training and meta-test) |
|---|---|---|---|---|---|---|
| SG-MRL (2 step) | −0.63 ± 0.20 | −0.39 ± 0.09 | −0.26 ± 0.34 | −0.22 ± 0.21 | 955.4 ± 0.2 | 947-1213 s |
| MAML (2 step) | −1.40 ± 0.74 | 13.51 ± 13.67 | 22.24 ± 21.57 | 25.80 ± 25.06 | 929.4 ± 25.1 | 801-947 s |
| SG-MRL (3 step) | −0.54 ± 0.15 | −0.45 ± 0.04 | −0.45 ± 0.17 | −0.60 ± 0.10 | 955.8 ± 0.1 | 877-941 s |
| MAML (3 step) | −0.83 ± 0.04 | 13.74 ± 10.42 | 24.48 ± 16.04 | 30.54 ± 19.26 | 924.7 ± 19.3 | 824-852 s |

Both tables' cells were first meta-tested against the estimate of the time, SAC at 15 000 env steps
(357.6 backward, 57.6 forward; gaps 177-208), a weak lower bound, and were rescored since
(`metarl-bench rescore`; their returns are the run's). SG-MRL's gap, 955.4-955.8, is a standing
cheetah's distance from running; the paper's agents (R₁ 465.6-580.1) are well inside it.

More inner steps let MAML start to separate the directions within 30 iterations: R₃ per seed 75.9 on
seed 1 with 2 steps, 25.0 and 66.3 on seeds 0 and 1 with 3 steps (mean post-adaptation training return
at iteration 29: 24.1 and 28.2, against −0.06 and −0.51 at iteration 14). SG-MRL stays at its start
with every step count (the score term's variance, as above). No verdict for a cut run.

Time per meta-iteration at this batch, measured with at most two processes on the 2-core machine
(MuJoCo 61-70 % of it): SG-MRL 13.6 / 22.3 / 28.7 s and MAML 13.5 / 21.3 / 26.8 s for 1 / 2 / 3
inner steps (320k / 480k / 640k env steps; 1 step timed on HalfCheetahDir, 2-3 on HalfCheetahVel, the
same body and batch). The full grid (2 agents × 3 step counts × 400
iterations) is 14.0 h per seed; 4 seeds are 56 h on one core, 28 h with `--workers 2`.
"""

from benchmarks.experiments.shared import sgmrl_cheetah

EXPERIMENT = sgmrl_cheetah("sgmrl-cheetah-dir", "Random Direction", "MetaRL/HalfCheetahDir-v0", {
    1: ((580.143, 38.22), (465.624, 54.07)), 2: ((580.203, 33.63), (441.247, 58.34)),
    3: ((504.747, 45.07), (477.086, 64.71))})
