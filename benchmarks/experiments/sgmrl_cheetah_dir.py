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
