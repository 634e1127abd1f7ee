"""SG-MRL Table 2 (Fallah et al. 2021, §5): Half-Cheetah Random Velocity, SG-MRL vs MAML with 1, 2, 3 inner steps.

Released-code settings (sgmrl_mujoco.json, docs/sources/sgmrl.md §3): 40 tasks × 20 trajectories, 100×100 tanh,
γ 0.99, GAE λ 0.997, α 0.1, Adam 1e-3, 400 iterations, horizon 200; ProMP's velocity U[0, 3] ("promp"
preset, horizon raised to the config's 200). Actions: the policy acts in [−10, 10]⁶, mapped ×0.1
onto the actuator range [−1, 1] (the released code's normalize wrapper, docs/sources/sgmrl.md §2.2), so
`action_scale=0.1`. Each agent is trained and evaluated with its own number of inner steps ζ: the
target of the ζ-step agent sits at k = ζ.

Cut runs (`--iterations N --agent "SG-MRL (1 step)" --agent "MAML (1 step)"`, seed 0, 12-14 s per
iteration, 1260-1400 s per cell at N = 100): R₀..R₃ after 100 iterations, SG-MRL −172.5, −150.5,
−141.8, −137.0; MAML −151.6, −102.2, −88.6, −84.2 (paper at 400 iterations, k = 1: −91.73 ± 0.34
and −92.92 ± 0.70). After 20 iterations both were at −250 to −272 with no adaptation gain.
Time per meta-iteration and the full grid's cost (14.0 h per seed): sgmrl-cheetah-dir's card, one
measurement for both experiments (the same body, batch and agents; 2-3 inner steps timed on this env).
"""

from benchmarks.experiments.shared import sgmrl_cheetah

EXPERIMENT = sgmrl_cheetah("sgmrl-cheetah-vel", "Random Velocity", "MetaRL/HalfCheetahVel-v0", {
    1: ((-91.73, 0.34), (-92.92, 0.7)), 2: ((-52.64, 6.86), (-56.71, 6.73)),
    3: ((-33.39, 0.67), (-32.48, 0.5))})
