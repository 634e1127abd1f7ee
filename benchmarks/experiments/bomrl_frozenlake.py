"""BO-MRL Figs 1, 3, 4 (high task variance, p_hole = 0.3): reward after 0–4 adaptation steps and the
expected optimality gap on FrozenLake, for the three within-task algorithms Alg(1), Alg(2), Alg(3).

`frozenlake(variance)` builds the experiment of either task distribution; the low-variance one is
`bomrl_frozenlake_low.py` (an experiment has one preset). The Theorem-3/4 bound terms and the
figures come from `python -m benchmarks.bound`.
"""

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment

LAMBDAS = {"high": {1: 0.5, 2: 0.5, 3: 0.04}, "low": {1: 0.25, 2: 0.25, 3: 0.02}}
"""λ per divergence for each task distribution (BO-MRL App. A; docs/sources/bomrl.md §3.1)"""
P_HOLE = {"high": 0.3, "low": 0.1}
DISCOUNT = 0.8


def frozenlake(variance: str) -> Experiment:
    """The experiment on the "high" or "low" task-variance FrozenLake family."""
    if variance not in LAMBDAS:
        raise ValueError(f"frozenlake: variance={variance!r} must be one of {sorted(LAMBDAS)}")
    lambdas = LAMBDAS[variance]
    return Experiment(
        name=f"bomrl-frozenlake-{variance}",
        description=f"BO-MRL Figs 1/3/4 (left and right panels), FrozenLake 4×4, p_hole {P_HOLE[variance]}, "
                    "20 tasks, γ = 0.8",
        env_id="MetaRL/FrozenLakeHoles-v0",
        env_kwargs={"preset": f"bomrl-{variance}", "start_distribution": "uniform"},
        agents=(
            *(AgentSpec(f"BO-MRL ({i})", "baselines.bomrl:BOMRL",
                        {"divergence": i, "lam": lam, "discount": DISCOUNT})
              for i, lam in lambdas.items()),
            *(AgentSpec(f"Random init ({i})", "baselines.bomrl:BOMRL",
                        {"divergence": i, "lam": lam, "discount": DISCOUNT, "meta_learn": False})
              for i, lam in lambdas.items()),
            AgentSpec("MAML", "baselines.tabular_maml:TabularMAML",
                      {"inner_lr": (1 - DISCOUNT) / (2 * lambdas[3]), "discount": DISCOUNT}),
        ),
        iterations=300,
        seeds=3,
        protocol=MetaTestProtocol(adaptation_steps=4, evaluation_episodes=1, adaptation_episodes=20, exact=True,
                                  discount=DISCOUNT),
        quick={"iterations": 3, "seeds": 1, "max_test_tasks": 4},
        notes=("Exact mode: Q^{π_ϕ} and J from the task's model (docs/sources/bomrl.md §6.1 (a)); "
               "train = test = the 20 maps (finite family). start_distribution='uniform' (non-terminal cells) "
               "so Assumption 2 holds (ε > 0); the preset's non-slippery dynamics. MAML: one exact policy-gradient "
               "step per adaptation, "
               "α = (1 − γ)/(2λ₃) (App. H correspondence with the paper's λ for Alg(3)). 'Random init': the same "
               "Alg(i) from the uniform policy ϕ = 0. The paper's figures have no numbers, so there are no targets."),
    )


EXPERIMENT = frozenlake("high")
