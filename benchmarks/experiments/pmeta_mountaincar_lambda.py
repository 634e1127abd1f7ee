"""pMeta-RL Table IV, the λ sweep (5, 20, 30, 50) on MountainCar (Table I variants), every other
setting as in pmeta-mountaincar. Table IV scores the best average return over training (the paper's
MountainCar rows say GM/PM for MP/PP); R_k is the final policy's.
Not run beyond --quick: each λ costs as much as the pMeta-RL cells of pmeta-mountaincar (600-673 s a
cell here, 5 seeds ≈ 27 min at two cells at a time), and at this budget those cells' networks reach
the flag on 0-3 of the 5 tasks (see its card), so a sweep would first compare failures."""

from benchmarks.experiments.pmeta_gym import lambda_sweep

EXPERIMENT = lambda_sweep("pmeta-mountaincar-lambda", "MountainCar", 500, {
    5.0: ((-111.15, 4.31), (-93.05, 1.07)), 20.0: ((-107.08, 3.21), (-92.13, 0.95)),
    30.0: ((-110.49, 3.89), (-92.41, 1.25)), 50.0: ((-108.41, 2.78), (-98.16, 2.13))})
