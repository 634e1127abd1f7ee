"""BO-MRL Figs 1, 3, 4 (low task variance, p_hole = 0.1): the same experiment as `bomrl_frozenlake.py`
on the low-variance family, with the paper's λ for it (App. A)."""

from benchmarks.experiments.bomrl_frozenlake import frozenlake

EXPERIMENT = frozenlake("low")
