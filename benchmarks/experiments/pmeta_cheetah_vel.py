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

Cut run (seed 0, Table III's settings but R = 100, so each round updates on the first half of one
200-step episode per task, and 2 rounds: `run <file> --iterations 2` on an experiment file that sets
`personal_updates` to 100; the pmetarl_sac.py of fe132d4), niced 15 on the 2-core machine beside two reference runs:
4245 s of wall time for about 315 CPU-seconds (7 % of a core).

| round | env steps (harness) | gradient steps | training return | MP (prior z) | MP | PP |
|---|---|---|---|---|---|---|
| 1 | 28 000 (20 000 warm-up) | 1000 | −289.9 | −254.1 | −250.8 | −246.3 |
| 2 | 36 000 | 2000 | −275.9 | −247.5 | −245.3 | −248.1 |

Meta-test on the 3 test tasks: R_0..R_2 = −229.72, −227.98, −228.64 (velocities 1.16, 1.89, 0.38: R_2
−232.6, −377.9, −75.4). At 200 gradient steps per task nothing has been learned yet: the returns are
those of a cheetah that barely moves, and the posterior's z does not change them.

Cost. One gradient step (batch 256, context 100, [512, 512] actor and twin critics, the encoder, the
proximal terms and the three auxiliary Adam steps) takes 0.118 CPU-s; an env step with the ten task
actors 0.71 CPU-ms, so collection runs at 1400 env steps per CPU-second and training, one gradient
step per env step, at 8.4. A full cell (C·R·N = 2e6 gradient steps, 2e6 training, 2e4 warm-up and
6e5 evaluation env steps) is ≈ 238 000 CPU-s ≈ 66 CPU-hours; the experiment (3 seeds) ≈ 198
CPU-hours: four days on two idle cores, out of reach of this session. A cell stores what its
meta-test reads, the meta actor and encoder (about 1.5 MB; the critics and the ten personalized
sets, 41 MB with them, are left out: `PMetaSAC.STORED_PARTS`).
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
