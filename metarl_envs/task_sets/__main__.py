"""Rebuild the stored task sets: `python -m metarl_envs.task_sets [ENV_ID ...]`."""

import sys

from metarl_envs.task_sets import build_task_sets

for path in build_task_sets(sys.argv[1:] or None):
    print(path.name)
