"""pMeta-RL §V-D, Half-Cheetah-Vel: the SAC version with a PEARL context encoder (Definition 2,
Algorithm 1; `baselines/pmetarl_sac.py` lists every choice), Table III's settings: C = 100 rounds of
R = 2000 env and gradient steps per task on the 10 train tasks (2e6 in all, plus 2000 warm-up
transitions per task), λ = 20, batch 256, buffer 2e4 per task, [512, 512] actor and critics.

Tasks: the `pmeta` preset, oyster's cheetah-vel (U[0, 3], horizon 200) with the paper's 10 train and
3 test tasks (docs/sources/pmetarl.md §2.3). The paper reports curves only (Figs. 4 and 6: the
personalized policy "slightly" above PEARL on this env, the meta policy slower), so there is no target.

Meta-test (protocol v2, PEARL's adaptation, no gradient step): R_0 is the meta actor with z drawn from
the prior N(0, I); an adaptation round is one episode per task whose transitions join the task's
context; R_k is the mean return of 3 episodes whose z is drawn from the meta encoder's posterior on
the k adaptation episodes. R_2 is PEARL's score (the third trajectory, after two that gather context).
All episodes act with the mean action. The personalized policies (PP) exist for the train tasks only,
so they appear in the training curve (`extra.personal_return`, every φ_i on its own task), beside the
meta policy's (`extra.meta_return`: one prior episode, then the posterior on it).

Reference cut run (results/reference/, `run pmeta-cheetah-vel --seeds 3 --iterations 1`: one round C = 1
at Table III's settings, R = 2000; code of 98c8e65, Intel family 6 model 167, one torch thread, beside one
other training run on the 2 cores). Per cell: 20 000 warm-up and 20 000 training env steps (2000 per task),
20 000 gradient steps (2000 per task), 6000 evaluation env steps, 46 000 env steps in all; 966, 1525 and
1220 s of training (0.048-0.076 s a gradient step with its env step: 30-48 env steps/s), and 1-3 s of
meta-test (6600 env steps). Seed 0 was run twice (its first meta-test came before the oracle cache):
both runs stored the same parameters, bit for bit.

| seed | training return | MP (prior z) | MP | PP | critic loss | KL(q ‖ prior) |
|---|---|---|---|---|---|---|
| 0 | −261.5 | −266.4 | −278.7 | −247.4 | 33 562 | 554.6 |
| 1 | −256.4 | −256.3 | −245.3 | −245.1 | 2.6 | 5.6 |
| 2 | −259.4 | −261.0 | −255.8 | −243.5 | 1.6 | 6.2 |

Meta-test on the 3 test tasks, mean ± s.e. over the 3 seeds: R_0..R_2 = −257.96 ± 14.60, −240.44 ±
10.33, −241.43 ± 13.20; the estimated gap J* − R_k (SAC, 100 000 env steps a task, all 3 tasks: J* ≈
−41.6, −56.0, −23.4, `docs/protocol.md`) 217.6 ± 14.6, 200.1 ± 10.3, 201.1 ± 13.2 (rescored: the cells
were meta-tested against SAC at 15 000 steps, gaps 58-76). A cheetah that stands still scores −231.5,
−376.9 and −74.8 on these tasks (mean −227.7): after one round the meta policy does no better than
standing still, and seed 0's critic has blown up (its loss 10⁴ times the others'). The posterior's z
gains 10.1, 0.6 and 41.9 over the prior's (R_1 − R_0 per seed), which brings seed 2 up to standing
still, not past it. On the train tasks the PP is 0.2-31.3 points above the MP. No verdict: the paper
gives curves only, and one round is 1 % of its run.

A longer cut on seed 0 (`run pmeta-cheetah-vel --seeds 1 --iterations 3 --checkpoint-every 1`, code of
06f99e9, one torch thread, 3-4 processes on the 2 cores; not committed: its 1.5 MB does not fit the
reference folder's budget). Its first round is the committed seed-0 cell's bit for bit (every number
of the training curve but the wall time). Per round (C = 1, 2, 3), cumulative env steps 46 000, 72 000,
98 000 (20 000 of warm-up, then 20 000 collected and 6000 evaluated a round), 1502, 1718 and 2000 s a
round at two thirds of a core (10-13 env-and-gradient steps/s):

| round | training return | MP (prior z) | MP | PP | critic loss | KL(q ‖ prior) |
|---|---|---|---|---|---|---|
| 1 | −261.5 | −266.4 | −278.7 | −247.4 | 33 562 | 554.6 |
| 2 | −253.1 | −278.7 | −252.8 | −260.8 | 132 943 | 13.2 |
| 3 | −260.9 | −264.9 | −247.4 | −252.5 | 338 | 9.1 |

The critic that blew up in round 1 recovers by round 3 (its loss down 400×) and the KL falls to the
other seeds' level. Meta-test after 3 rounds: R_0..R_2 = −275.4, −229.1, −229.0 (after 1 round −271.1,
−261.0, −267.8); per task R_2 = −234.7, −379.0, −73.4, a standing cheetah's −231.5, −376.9, −74.8 to
within 3.2: the policy under the posterior has learned to stand still on every task, not yet to run.
Gap against today's J*: 235.1, 188.8, 188.7. Still 3 % of the run.

Cost. A full cell (C = 100 rounds) at the measured 966-1525 s a round is 27-42 h on one core; the
experiment (3 seeds) 80-127 core-hours, three to five days on this 2-core machine. (An earlier estimate,
0.118 CPU-s a gradient step measured at nice 15, gave 66 CPU-hours a cell.) A cell stores what its
meta-test reads, the meta actor and encoder (about 1.5 MB; the critics and the ten personalized sets,
41 MB with them, are left out: `PMetaSAC.STORED_PARTS`).
"""

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment

EXPERIMENT = Experiment(
    name="pmeta-cheetah-vel",
    description="pMeta-RL Fig. 4, Half-Cheetah-Vel: SAC + PEARL encoder, Table III (C 100, R 2000, λ 20)",
    env_id="MetaRL/HalfCheetahVel-v0",
    env_kwargs={"preset": "pmeta"},
    agents=(AgentSpec("pMeta-RL", "baselines.pmetarl_sac:PMetaSAC", {}),),
    iterations=100,
    seeds=3,
    protocol=MetaTestProtocol(adaptation_steps=2, evaluation_episodes=3, adaptation_episodes=1),
    quick={"iterations": 2, "seeds": 1, "max_test_tasks": 2,
           "config": {"hidden_sizes": [8], "encoder_sizes": [8], "latent_dim": 2, "batch_size": 8, "context_size": 4,
                      "buffer_size": 1000, "personal_updates": 10, "warmup_steps": 20},
           "protocol": {"evaluation_episodes": 1}},
    notes="iterations = C rounds; R = 2000. R_0: prior z; R_k: posterior on k adaptation episodes (PEARL).",
)
