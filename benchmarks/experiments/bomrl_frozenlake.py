"""BO-MRL Figs 1, 3, 4: reward after 0–4 adaptation steps and the expected optimality gap on
FrozenLake, for the three within-task algorithms Alg(1), Alg(2), Alg(3), on both task distributions:
high task variance (p_hole = 0.3, the experiment's own setting) and low (p_hole = 0.1, a `Setting`
with the paper's λ for it). The Theorem-3/4 bound terms and the figures come from
`python -m benchmarks.bound bomrl-frozenlake`.
"""

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment, Setting

LAMBDAS = {"high": {1: 0.5, 2: 0.5, 3: 0.04}, "low": {1: 0.25, 2: 0.25, 3: 0.02}}
"""λ per divergence for each task distribution (BO-MRL App. A; docs/sources/bomrl.md §3.1)"""
P_HOLE = {"high": 0.3, "low": 0.1}
DISCOUNT = 0.8


ENV_ID = "MetaRL/FrozenLakeHoles-v0"


def _description(variance: str) -> str:
    return f"BO-MRL Figs 1/3/4 (left and right panels), FrozenLake 4×4, p_hole {P_HOLE[variance]}, 20 tasks, γ = 0.8"


def _env_kwargs(variance: str) -> dict[str, str]:
    return {"preset": f"bomrl-{variance}", "start_distribution": "uniform"}


def _maml_lr(lam_3: float) -> float:
    """α = (1 − γ)/(2λ₃): MAML's step matched to Alg(3)'s λ (App. H)"""
    return (1 - DISCOUNT) / (2 * lam_3)


def _lambda_config(variance: str) -> dict[str, dict[str, float]]:
    """Every agent's λ-dependent config on the `variance` family."""
    lambdas = LAMBDAS[variance]
    return {**{f"{kind} ({i})": {"lam": lam} for i, lam in lambdas.items() for kind in ("BO-MRL", "Random init")},
            "MAML": {"inner_lr": _maml_lr(lambdas[3])}}


def frozenlake() -> Experiment:
    """The experiment on the high task-variance FrozenLake family, with the low one as a further setting."""
    lambdas = LAMBDAS["high"]
    return Experiment(
        name="bomrl-frozenlake",
        description=_description("high"),
        env_id=ENV_ID,
        env_kwargs=_env_kwargs("high"),
        settings=(Setting(ENV_ID, _env_kwargs("low"), agent_config=_lambda_config("low"),
                          description=_description("low")),),
        agents=(
            *(AgentSpec(f"BO-MRL ({i})", "baselines.bomrl:BOMRL",
                        {"divergence": i, "lam": lam, "discount": DISCOUNT})
              for i, lam in lambdas.items()),
            *(AgentSpec(f"Random init ({i})", "baselines.bomrl:BOMRL",
                        {"divergence": i, "lam": lam, "discount": DISCOUNT, "meta_learn": False})
              for i, lam in lambdas.items()),
            AgentSpec("MAML", "baselines.tabular_maml:TabularMAML",
                      {"inner_lr": _maml_lr(lambdas[3]), "discount": DISCOUNT}),
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


EXPERIMENT = frozenlake()
