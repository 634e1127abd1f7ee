"""The shared core of the reference agents (the agent files beside this folder hold one algorithm each).

- `agent`: the Agent surface, `IterationRecord`, `TrainingLog`, config parsing;
- `policies`: MLP policies with functional parameters; `sampler`: the one place envs are stepped;
- `returns`: discounted returns, GAE and the linear feature baseline; `trpo`: the TRPO step;
- `estimators`: policy-gradient surrogates, the inner step and its re-run from θ, the meta-objective;
- `training`: seeding, the one meta-training loop, `act`, save and load;
- `tabular`: exact, differentiable tabular evaluation and Monte-Carlo estimates; `oracles`: exact
  optimal values of a tabular model.
"""
