"""SG-MRL Table 2 (Fallah et al. 2021, §5): Half-Cheetah Random Velocity, SG-MRL vs MAML with 1, 2, 3 inner steps.

Released-code settings (sgmrl_mujoco.json, docs/sources/sgmrl.md §3): 40 tasks × 20 trajectories, 100×100 tanh,
γ 0.99, GAE λ 0.997, α 0.1, Adam 1e-3, 400 iterations, horizon 200; ProMP's velocity U[0, 3] ("promp"
preset, horizon raised to the config's 200). Actions: the policy acts in [−10, 10]⁶, mapped ×0.1
onto the actuator range [−1, 1] (the released code's normalize wrapper, docs/sources/sgmrl.md §2.2), so
`action_scale=0.1`. Each agent is trained and evaluated with its own number of inner steps ζ: the
target of the ζ-step agent sits at k = ζ.

Reference cut run (results/reference/, `--seeds 3 --iterations 30 --agent "SG-MRL (1 step)" --agent
"MAML (1 step)"`, code of 1c9f7f8, on an Intel family 6 model 167 host, two cells at a time with
torch's 2 threads each beside other jobs; 9.6 M env steps of meta-training per cell, all 40 test
tasks). Mean ± s.e. over the 3 seeds:

| agent | R₀ | R₁ | R₂ | R₃ | wall: train + test |
|---|---|---|---|---|---|
| SG-MRL (1 step) | −271.28 ± 0.27 | −271.12 ± 0.27 | −270.97 ± 0.29 | −270.94 ± 0.33 | 666-1343 + 129-139 s |
| MAML (1 step) | −165.36 ± 4.28 | −151.06 ± 5.51 | −138.69 ± 6.14 | −128.72 ± 6.85 | 1142-1308 + 105-124 s |

These cells carry no optimality gap: they were meta-tested before this preset had its oracle estimate
(SAC, task 0 of 40: −258.3, `docs/protocol.md`), and a meta-test reads a cache, it never adds one later.

Learning curve (pre-adaptation return of the 40-task batch, mean of 3 seeds): both start at −301.8
(the same initial policy per seed); MAML reaches −262.9 at iteration 14 and −194.5 at 29, SG-MRL is
still at −270.1 and −306.3. SG-MRL's meta-gradient keeps the paper's score term (with a leave-one-out
baseline, `baselines/sgmrl.py`), whose variance on 20 trajectories of 200 steps per task holds it at
its start for these 30 iterations; the released code multiplies that term by ≈ 1e-9
(docs/sources/sgmrl.md §3), so its Table 2 SG-MRL is in effect MAML, which is what our MAML does here.
An earlier single-seed cut at 100 iterations (12-14 s per iteration on a quiet machine) had SG-MRL at
−172.5, −150.5, −141.8, −137.0 and MAML at −151.6, −102.2, −88.6, −84.2 (paper at 400 iterations,
k = 1: −91.73 ± 0.34 and −92.92 ± 0.70): SG-MRL does learn, later. No verdict for a cut run.

Time per meta-iteration and the full grid's cost (14.0 h per seed on a quiet machine): sgmrl-cheetah-dir's
card, one measurement for both experiments (the same body, batch and agents; 2-3 inner steps timed on
this env). Beside other jobs this run took 22-45 s per iteration, so a full cell here is 2.5-5 h.
"""

from benchmarks.experiments.shared import sgmrl_cheetah

EXPERIMENT = sgmrl_cheetah("sgmrl-cheetah-vel", "Random Velocity", "MetaRL/HalfCheetahVel-v0", {
    1: ((-91.73, 0.34), (-92.92, 0.7)), 2: ((-52.64, 6.86), (-56.71, 6.73)),
    3: ((-33.39, 0.67), (-32.48, 0.5))})
