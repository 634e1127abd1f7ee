"""A fine-tuning agent, written from scratch against metarl-bench's agent interface.

Meta-training is `NoAdapt`'s (REINFORCE on the train tasks pooled together); at meta-test every
task starts from those weights and takes one REINFORCE step on the episodes of each adaptation
round, the step size `adapt_learning_rate`. It imports nothing from `baselines/`. Run it:

    metarl-bench run maml-nav2d --quick --add-agent "FineTune=docs/examples/fine_tune.py:FineTune" \\
        --agent-config '{"adapt_learning_rate": 0.00003}'
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling example, imported by name

from no_adapt import NoAdapt, NoAdaptConfig


@dataclasses.dataclass(frozen=True)
class FineTuneConfig(NoAdaptConfig):
    adapt_learning_rate: float = 0.0001
    """step size of the meta-test REINFORCE step, one per adaptation round"""


class FineTune(NoAdapt):
    config_class = FineTuneConfig

    def end_round(self, rollouts: Any) -> None:
        """One REINFORCE step per task on the round's episodes (`rollouts`: arrays (task, episode, time, ...))."""
        for i, weights in enumerate(self.task_weights):
            gradient = self._gradient(weights, rollouts.observations[i], rollouts.actions[i], rollouts.rewards[i],
                                      rollouts.mask[i])
            self.task_weights[i] = weights + self.config.adapt_learning_rate * gradient
