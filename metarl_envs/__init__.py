"""metarl-envs: Gymnasium-compatible meta-RL environments with one seeded task API.

    import gymnasium as gym, metarl_envs
    env = gym.make("MetaRL/Navigation2D-v0")
    env.reset(seed=0)
    tasks = env.unwrapped.sample_tasks(40)
    obs, info = env.reset(options={"task": tasks[3]})
    test = metarl_envs.task_set("MetaRL/Navigation2D-v0", split="test")

Registration is a flat table of string entry points (no lambdas, nothing captured from a loop);
importing this package does not import mujoco.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from metarl_envs.core import MetaEnv, MetaVectorEnv, Preset, Task
from metarl_envs.task_sets import TaskSet, task_set

__version__ = "0.1.0"
__all__ = ["ENV_IDS", "MetaEnv", "MetaVectorEnv", "Preset", "Task", "TaskSet", "register_envs", "task_set"]

# id, module (under metarl_envs), env class, vector class, default preset
_ENV_TABLE: tuple[tuple[str, str, str, str, str], ...] = (
    ("MetaRL/Navigation2D-v0", "classic.navigation_2d", "Navigation2DEnv", "Navigation2DVectorEnv", "maml"),
    ("MetaRL/HalfCheetahVel-v0", "mujoco.half_cheetah_vel", "HalfCheetahVelEnv", "HalfCheetahVelVectorEnv", "maml"),
    ("MetaRL/HalfCheetahDir-v0", "mujoco.half_cheetah_dir", "HalfCheetahDirEnv", "HalfCheetahDirVectorEnv", "maml"),
    ("MetaRL/AntVel-v0", "mujoco.ant_vel", "AntVelEnv", "AntVelVectorEnv", "maml"),
    ("MetaRL/AntDir-v0", "mujoco.ant_dir", "AntDirEnv", "AntDirVectorEnv", "maml"),
    ("MetaRL/AntGoal-v0", "mujoco.ant_goal", "AntGoalEnv", "AntGoalVectorEnv", "pearl"),
    ("MetaRL/Walker2DParams-v0", "mujoco.walker2d_params", "Walker2DParamsEnv", "Walker2DParamsVectorEnv",
     "pearl"),
    ("MetaRL/HopperParams-v0", "mujoco.hopper_params", "HopperParamsEnv", "HopperParamsVectorEnv", "pearl"),
    ("MetaRL/GridNavigation-v0", "toy_text.grid_navigation", "GridNavigationEnv", "GridNavigationVectorEnv",
     "memrl"),
    ("MetaRL/FrozenLakeHoles-v0", "toy_text.frozen_lake_holes", "FrozenLakeHolesEnv", "FrozenLakeHolesVectorEnv",
     "bomrl-high"),
    ("MetaRL/CartPoleParams-v0", "classic.cartpole_params", "CartPoleParamsEnv", "CartPoleParamsVectorEnv",
     "pmeta"),
    ("MetaRL/MountainCarParams-v0", "classic.mountain_car_params", "MountainCarParamsEnv",
     "MountainCarParamsVectorEnv", "pmeta"),
    ("MetaRL/SparsePointRobot-v0", "classic.sparse_point_robot", "SparsePointRobotEnv",
     "SparsePointRobotVectorEnv", "pearl"),
)
ENV_IDS: tuple[str, ...] = tuple(row[0] for row in _ENV_TABLE)


def register_envs() -> None:
    """Register every `MetaRL/` id (idempotent; also the `gymnasium.envs` plugin hook)."""
    for env_id, module, env_class, vector_class, preset in _ENV_TABLE:
        if env_id in registry:
            continue
        register(
            id=env_id,
            entry_point=f"metarl_envs.{module}:{env_class}",
            vector_entry_point=f"metarl_envs.{module}:{vector_class}",
            kwargs={"preset": preset},
        )


register_envs()
