from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment, Target, discover

AGENT = "tests.benchmarks.agents:RandomAgent"


def experiment(**changes) -> Experiment:
    fields = dict(
        name="unit", description="unit test", env_id="MetaRL/Navigation2D-v0", env_kwargs={"preset": "maml"},
        agents=(AgentSpec("A", AGENT, {"tasks_per_iteration": 4}), AgentSpec("B", AGENT, {})),
        iterations=100, seeds=5,
        protocol=MetaTestProtocol(adaptation_steps=3, evaluation_episodes=20, adaptation_episodes=20),
        targets=(Target("Paper Table 1", "A", 1, -17.0, 0.7), Target("Paper Table 1", "B", 3, -15.0)),
        quick={"iterations": 2, "seeds": 1, "max_test_tasks": 4, "config": {"action_scale": 0.5},
               "agent_config": {"B": {"tasks_per_iteration": 1}}, "protocol": {"adaptation_steps": 1}},
    )
    fields.update(changes)
    return Experiment(**fields)


def test_resolve_applies_every_quick_override() -> None:
    full = experiment()
    assert full.resolve(quick=False) is full
    quick = full.resolve(quick=True)
    assert (quick.iterations, quick.seeds, quick.max_test_tasks) == (2, 1, 4)
    assert quick.protocol == MetaTestProtocol(adaptation_steps=1, evaluation_episodes=20, adaptation_episodes=20)
    assert quick.agent("A").config == {"tasks_per_iteration": 4, "action_scale": 0.5}
    assert quick.agent("B").config == {"action_scale": 0.5, "tasks_per_iteration": 1}
    assert [t.agent for t in quick.targets] == ["A"]  # B's k=3 target is beyond the quick K=1
    assert full.agent("B").config == {}  # the full experiment is untouched


def test_resolved_configs_build_real_agents() -> None:
    quick = experiment().resolve(quick=True)
    agent = quick.agent("B").build(quick.env_id, quick.env_kwargs)
    assert agent.config.tasks_per_iteration == 1 and agent.config.action_scale == 0.5
    bad = dataclasses.replace(quick.agent("A"), config={"fast-lr": 0.1})
    with pytest.raises(TypeError, match="unknown key 'fast-lr'"):
        bad.build(quick.env_id, quick.env_kwargs)


@pytest.mark.parametrize(("changes", "message"), [
    ({"quick": {"iteration": 2}}, "unknown quick key 'iteration'"),
    ({"quick": {"protocol": {"adaptation_step": 1}}}, r"unknown quick\['protocol'\] field 'adaptation_step'"),
    ({"quick": {"agent_config": {"C": {}}}}, "unknown agent 'C'"),
    ({"env_kwargs": {}}, "must be a mapping holding 'preset'"),
    ({"seeds": 0}, "seeds=0 must be an int"),
    ({"targets": (Target("X", "Z", 0, 1.0),)}, "names agent 'Z'"),
    ({"targets": (Target("X", "A", 4, 1.0),)}, "step=4 > protocol.adaptation_steps=3"),
    ({"agents": (AgentSpec("A", AGENT), AgentSpec("A", AGENT))}, "labels must be unique"),
])
def test_bad_experiments_fail_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        experiment(**changes)


def test_agent_spec_needs_module_colon_class() -> None:
    with pytest.raises(ValueError, match=r"'package\.module:Class' or 'path/to/file\.py:Class'"):
        AgentSpec("A", "tests.benchmarks.agents.RandomAgent")


def test_discover_collects_every_module_with_an_experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "fake_experiments"
    package.mkdir()
    (package / "__init__.py").write_text("")
    body = """
        from benchmarks.evaluate import MetaTestProtocol
        from benchmarks.experiments import AgentSpec, Experiment
        EXPERIMENT = Experiment(name={name!r}, description="d", env_id="MetaRL/Navigation2D-v0",
                                env_kwargs={{"preset": "maml"}}, agents=(AgentSpec("A", "m:C"),), iterations=1,
                                seeds=1, protocol=MetaTestProtocol(1, 1, adaptation_episodes=1))
    """
    (package / "first.py").write_text(textwrap.dedent(body.format(name="one")))
    (package / "second.py").write_text(textwrap.dedent(body.format(name="two")))
    (package / "helpers.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert sorted(discover("fake_experiments")) == ["one", "two"]
    (package / "third.py").write_text(textwrap.dedent(body.format(name="one")))
    with pytest.raises(ValueError, match="name 'one' is already taken"):
        discover("fake_experiments")


def test_an_experiment_runs_on_several_settings_with_per_setting_configs_and_targets(tmp_path: Path) -> None:
    from benchmarks.experiments import Setting
    from benchmarks.runner import plan

    walled = Setting("MetaRL/Navigation2D-v0", {"preset": "sgmrl"}, agent_config={"B": {"tasks_per_iteration": 2}},
                     targets=(Target("Paper Table 2", "B", 1, -20.0),), description="walled")
    two = experiment(settings=(walled,))
    own, other = two.split()
    assert (own.preset, other.preset) == ("maml", "sgmrl") and own.settings == other.settings == ()
    assert other.name == own.name == "unit" and other.description == "walled"
    assert other.agent("A").config == {"tasks_per_iteration": 4}
    assert other.agent("B").config == {"tasks_per_iteration": 2}
    assert [t.source for t in other.targets] == ["Paper Table 2"] and own.targets == two.targets
    assert two.setting("MetaRL/Navigation2D-v0", "sgmrl") == other
    assert two.setting("MetaRL/Navigation2D-v0", "x") is None
    quick = plan(two, tmp_path, quick=True)
    assert len(quick) == 2 * 2 * 1 and len({cell.id for cell in quick}) == 4   # (setting, agent): one seed
    assert {cell.id.preset for cell in quick} == {"maml", "sgmrl"} and len({cell.path for cell in quick}) == 4
    b_walled = next(c for c in quick if c.id.preset == "sgmrl" and c.spec.label == "B")
    assert b_walled.spec.config == {"tasks_per_iteration": 1, "action_scale": 0.5}  # --quick's shrink wins
    assert b_walled.key == "B (sgmrl) seed 0" and two.only(["A"]).settings[0].agent_config == {}
    full = plan(two, tmp_path, quick=False)
    assert len(full) == 2 * 2 * 5 and next(c for c in full if c.id.preset == "sgmrl" and c.spec.label == "B"
                                           ).spec.config == {"tasks_per_iteration": 2}


@pytest.mark.parametrize(("settings", "message"), [
    (("same",), "appears twice"),
    (("unknown",), "configures unknown agent 'C'"),
])
def test_bad_settings_fail_naming_the_problem(settings: tuple[str, ...], message: str) -> None:
    from benchmarks.experiments import Setting

    made = {"same": Setting("MetaRL/Navigation2D-v0", {"preset": "maml"}),
            "unknown": Setting("MetaRL/Navigation2D-v0", {"preset": "sgmrl"}, agent_config={"C": {}})}
    with pytest.raises(ValueError, match=message):
        experiment(settings=tuple(made[s] for s in settings))


def test_bomrl_frozenlake_holds_both_task_distributions_with_their_lambdas() -> None:
    from benchmarks.experiments import EXPERIMENTS

    high, low = EXPERIMENTS["bomrl-frozenlake"].split()
    assert (high.preset, low.preset) == ("bomrl-high", "bomrl-low")
    assert [high.agent(f"BO-MRL ({i})").config["lam"] for i in (1, 2, 3)] == [0.5, 0.5, 0.04]
    assert [low.agent(f"Random init ({i})").config["lam"] for i in (1, 2, 3)] == [0.25, 0.25, 0.02]
    assert low.agent("MAML").config["inner_lr"] == pytest.approx(0.2 / (2 * 0.02))


def test_resolving_a_multi_setting_experiment_resolves_each_setting() -> None:
    """`metarl-bench run` resolves the chosen experiment once and reads its settings (targets, checks);
    the runner splits first and resolves each setting: both must give the same settings."""
    from benchmarks.experiments import EXPERIMENTS, Setting

    walled = Setting("MetaRL/Navigation2D-v0", {"preset": "sgmrl"},
                     agent_config={"B": {"tasks_per_iteration": 2, "action_scale": 0.9}},
                     targets=(Target("Paper Table 2", "B", 1, -20.0), Target("Paper Table 2", "A", 3, -9.0)))
    for known in (experiment(settings=(walled,)), *EXPERIMENTS.values()):
        for quick in (False, True):
            assert known.resolve(quick).split() == tuple(part.resolve(quick) for part in known.split()), known.name
    other = experiment(settings=(walled,)).resolve(True).split()[1]
    assert other.agent("B").config == {"tasks_per_iteration": 1, "action_scale": 0.5}  # the quick shrink wins
    assert [t.agent for t in other.targets] == ["B"]  # A's k=3 target is beyond the quick K=1


def test_check_agents_checks_every_setting() -> None:
    from benchmarks.experiments import Setting

    bad = Setting("MetaRL/Navigation2D-v0", {"preset": "sgmrl"}, agent_config={"B": {"no_such_key": 1}})
    experiment().check_agents()
    with pytest.raises(TypeError, match="no_such_key"):
        experiment(settings=(bad,)).check_agents()
