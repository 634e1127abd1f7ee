"""BO-MRL (deep, Algorithm 2) against MAML on 2-D navigation under one budget: the deep agent's
correctness check on a problem this machine can run in full. The BO-MRL paper has no 2-D navigation
experiment, so there is no target; MAML's own numbers are maml-nav2d's.

Same env, preset, test tasks and protocol as maml-nav2d (3 rounds of 40 episodes, R_k from 20
evaluation episodes), and the same data per meta-iteration: 20 tasks × 20 episodes before and 20
after adaptation, 100 iterations. MAML keeps maml-nav2d's config (the original code's). BO-MRL keeps
its paper's own settings (App. B: 64×64 tanh, 50 Adam iterations per one-time adaptation, TRPO with
δ = 1e-3; docs/sources/bomrl.md §3.2) and Alg(1) with λ = 0.5 (the value the paper uses for Alg(1) on
all four MuJoCo tasks); its Gaussian acts in MAML's normalised action space (`action_scale=0.1`).

Reference runs (results/reference/, full settings, 3 seeds, all 40 test tasks). BO-MRL on 3ab4927's
code, one torch thread, Intel family 6 model 167 beside one other run: 7.71-7.73 M meta-training env
steps and 351-358 s of training (3.5 s an iteration) plus 35-37 s of meta-test per cell, each re-verified
bit for bit. MAML's three cells are maml-nav2d's (the same agent, config, env, protocol, iterations and
seeds: `run --from-reference` takes them rather than spend 35-47 min a cell again). Mean ± s.e. over seeds:

| agent | R₀ | R₁ | R₂ | R₃ | J* − R₃ (analytic) | train steps | wall a cell |
|---|---|---|---|---|---|---|---|
| BO-MRL (1), λ 0.5 | −43.19 ± 0.38 | −26.84 ± 0.44 | −17.35 ± 0.28 | −11.99 ± 0.10 | 11.47 ± 0.10 | 7.7 M | 385-395 s |
| MAML | −39.54 ± 0.67 | −12.95 ± 0.56 | −8.47 ± 1.90 | −8.00 ± 1.53 | 7.48 ± 1.53 (†) | 7.4-7.5 M | 2068-2847 s |

(†) maml-nav2d's cells were meta-tested before Navigation2D had its analytic J*, and were rescored since
(`metarl-bench rescore`: the same 40 test tasks' J*, mean −0.52; their returns are the run's).

On the same data budget MAML adapts further at every k ≥ 1, and BO-MRL trains at about a seventh of
its wall time. BO-MRL's meta-training plateaus by iteration 20: the meta-batch's pre/post-adaptation
returns (mean of seeds) go −79.9 / −47.0 at iteration 0, −56.9 / −33.6 at 9, −43.5 / −28.2 at 19,
and −43.2 / −26.8 at 99. At meta-test each one-time adaptation gains less than the one before
(16.4, 9.5, 5.4: about 0.58 of the last), as a step pulled back to its start by λ·KL(π_ϕ ‖ π_θ)
would. The per-seed spread is small (R₃ −11.80, −12.13, −12.03).

Three candidates for the gap to MAML, measured on seed 0 alone (`run bomrl-nav2d --add-agent …
--agent-config …`, 100 iterations, all 40 test tasks, 357-631 s of training beside other runs),
against the reference seed 0's −43.01, −27.63, −17.78, −11.80:
- λ = 0.1 (a weaker pull back to ϕ): −56.97, −32.30, −16.91, −9.45. Each round gains more (24.7,
  15.4, 7.5) and R₃ is better, but the meta-policy trains worse (pre-adaptation −52.5 at iteration
  99 against −43.2), so R₀ and R₁ are lower.
- MAML's trust region, δ = 1e-2 for the paper's 1e-3: −54.62, −31.37, −19.38, −12.25; worse at every k.
- A 10× larger inner step, Adam at lr 1e-2 for the 50 iterations of the inner solve (App. B has 1e-3,
  which moves each parameter by at most about 0.05 per adaptation): −44.95, −27.02, −17.36, −12.30, in
  357 s of training: within 2 of the reference seed at every k (the meta-batch's pre/post-adaptation
  returns −48.1 / −29.4 at iteration 99): the inner solve's reach is not what holds the adaptation back.
None brings R₁ near MAML's −12.95. Together they say that the one-time adaptation stops where the
surrogate's λ·KL term puts its optimum, not where the solver stops: only a smaller λ gains more per
round, at the price of a worse meta-policy. These three runs are one seed of a variant each, so
they are not in results/reference/; they stand here as the negative result they are.

An earlier cut run (15 iterations, 1 seed, first 10 test tasks) measured 55-100 s an iteration and
projected ≈ 2 h a cell; that was on a machine shared with several training runs at nice 10. Alone
beside one other run it is 3.5 s.
"""

from benchmarks.experiments import AgentSpec, Experiment
from benchmarks.experiments.shared import MAML_NAV2D, NAV2D_PROTOCOL

BOMRL_NAV2D = {"divergence": 1, "lam": 0.5, "action_scale": 0.1, "tasks_per_iteration": 20, "episodes_per_task": 20}

EXPERIMENT = Experiment(
    name="bomrl-nav2d",
    description="BO-MRL (deep, Alg(1)) vs MAML-TRPO on Navigation2D (maml preset), same data budget, 0-3 steps",
    env_id="MetaRL/Navigation2D-v0",
    env_kwargs={"preset": "maml"},
    agents=(AgentSpec("BO-MRL (1)", "baselines.bomrl_deep:DeepBOMRL", BOMRL_NAV2D),
            AgentSpec("MAML", "baselines.maml:MAML", MAML_NAV2D)),
    iterations=100,
    seeds=3,
    protocol=NAV2D_PROTOCOL,
    quick={"iterations": 1, "seeds": 1, "max_test_tasks": 2,
           "config": {"tasks_per_iteration": 2, "episodes_per_task": 2, "cg_iterations": 2, "hidden_sizes": [8]},
           "agent_config": {"BO-MRL (1)": {"inner_iterations": 3, "hypergradient_cg_iterations": 2}},
           "protocol": {"adaptation_steps": 1, "evaluation_episodes": 2, "adaptation_episodes": 2}},
)
