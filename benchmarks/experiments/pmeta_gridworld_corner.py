"""pMeta-RL §V-C gridworld in the reference's reading of the paper (`pmeta`): five tasks of different
grid sizes in one shared state frame, every landmark at its grid's far corner. Every task is solved
by the same moves (up and right), so the meta, personalized and averaged policies coincide here;
`pmeta-gridworld` runs the same agents on landmarks that disagree."""

from benchmarks.experiments import Experiment
from benchmarks.experiments.pmeta_gridworld import AGENTS, NOTES, PROTOCOL

EXPERIMENT = Experiment(
    name="pmeta-gridworld-corner",
    description="pMeta-RL §V-C tabular gridworld (sizes 5..9), C = 10, R = 3, K = 1, λ = 10",
    env_id="MetaRL/GridNavigation-v0",
    env_kwargs={"preset": "pmeta", "obs_mode": "index"},
    agents=AGENTS,
    iterations=10,
    seeds=3,
    protocol=PROTOCOL,
    quick={"iterations": 2, "seeds": 1},
    notes=NOTES,
)
