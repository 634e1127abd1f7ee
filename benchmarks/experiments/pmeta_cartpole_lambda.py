"""pMeta-RL Table IV, the λ sweep (5, 20, 30, 50) on CartPole (Table I variants),
with every other setting as in pmeta-cartpole (η = 1e-3, β = 1, C = 30).
Table IV, like Table V, scores the best average return over training; R_k is the final policy's.
Not run beyond --quick: each λ costs as much as the pMeta-RL cells of pmeta-cartpole (see its card for the
measured cost and the projection)."""

from benchmarks.experiments.pmeta_gym import lambda_sweep

EXPERIMENT = lambda_sweep("pmeta-cartpole-lambda", "CartPole", 200, {
    5.0: ((185.11, 2.52), (196.47, 0.89)), 20.0: ((192.54, 1.56), (197.13, 0.45)),
    30.0: ((191.51, 1.23), (196.53, 1.03)), 50.0: ((190.86, 2.09), (196.72, 0.68))})
