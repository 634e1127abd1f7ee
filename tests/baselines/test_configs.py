"""Every reference agent's config round-trips through the one `AgentConfig` (baselines/common/agent.py):
`to_dict` gives JSON's own types (tuples as lists), `from_dict` rebuilds an equal config and names an
unknown key; no config class writes the pair again."""

import dataclasses
import json
import re
from typing import Literal, Optional

import pytest

from baselines.common.agent import AgentConfig
from benchmarks.experiments import EXPERIMENTS


def _config_classes() -> dict[str, type]:
    classes = {}
    for experiment in EXPERIMENTS.values():
        for spec in experiment.agents:
            cls = spec.agent_class()
            classes[cls.config_class.__name__] = cls.config_class
    return dict(sorted(classes.items()))


CONFIG_CLASSES = _config_classes()


def test_every_reference_agent_is_covered():
    assert {"MAMLConfig", "SGMRLConfig", "MEMRLConfig", "BOMRLConfig", "PMetaRLConfig", "RL2Config",
            "TabularMAMLConfig"} <= set(CONFIG_CLASSES)


@pytest.mark.parametrize("name", sorted(CONFIG_CLASSES))
def test_config_round_trips_through_the_one_mixin(name):
    cls = CONFIG_CLASSES[name]
    assert issubclass(cls, AgentConfig)
    assert "to_dict" not in vars(cls) and "from_dict" not in vars(cls), f"{name} writes to_dict/from_dict again"
    config = cls()
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data  # lists, not tuples: what the results file reads back
    assert cls.from_dict(data) == config
    with pytest.raises(TypeError, match=f"{name}: unknown key 'bogus_key'"):
        cls.from_dict({**data, "bogus_key": 1})


def _bounds_table() -> list[tuple[type, str, list, list, str]]:
    """(config class, field, values refused, values accepted at the edge, the rule its message states)."""
    from baselines.bomrl import BOMRLConfig
    from baselines.bomrl_deep import DeepBOMRLConfig
    from baselines.pmetarl import PMetaRLConfig
    from baselines.tabular_maml import TabularMAMLConfig

    positive, unit_open = "must be > 0", "must lie in (0, 1)"
    count = "must be an int ≥ 1"
    table = [
        (BOMRLConfig, "divergence", [0, 4], [1, 2, 3], "must be one of (1, 2, 3)"),
        (BOMRLConfig, "estimator", ["mc"], ["exact", "sampled"], "must be 'exact' or 'sampled'"),
        (BOMRLConfig, "meta_optimizer", ["rmsprop"], ["adam", "sgd"], "must be 'adam' or 'sgd'"),
        (DeepBOMRLConfig, "divergence", [0, 4], [1, 3], "must be one of (1, 2, 3)"),
        (DeepBOMRLConfig, "discount", [0.0, 1.5], [1.0, 1e-9], "must lie in (0, 1]"),
        (DeepBOMRLConfig, "reduction", ["median"], ["step_mean"], "must be one of"),
        (TabularMAMLConfig, "estimator", ["mc"], ["exact", "sampled"], "must be 'exact' or 'sampled'"),
        (PMetaRLConfig, "lam", [0.0, -1.0], [1e-9], positive),
        (PMetaRLConfig, "discount", [0.0, 1.0], [1e-9, 0.999], unit_open),
        (PMetaRLConfig, "mode", ["greedy"], ["expected", "sampled"], "must be 'expected' or 'sampled'"),
        (PMetaRLConfig, "beta", [0.0, 1.5], [1.0, 1e-9], "must lie in (0, 1]"),
        (PMetaRLConfig, "exploration", [-0.1, 1.1], [0.0, 1.0], "must lie in [0, 1]"),
    ]
    for cls in (BOMRLConfig, TabularMAMLConfig):
        table += [(cls, "discount", [0.0, 1.0], [1e-9, 0.999], unit_open)]
        table += [(cls, name, [0.0, -1.0], [1e-9], positive) for name in ("lam", "meta_lr", "inner_lr")
                  if name in {f.name for f in dataclasses.fields(cls)}]
    table += [(BOMRLConfig, name, [0, 2.0], [1], count)
              for name in ("episodes_per_step", "tasks_per_iteration", "cg_iterations")]
    table += [(TabularMAMLConfig, name, [0, 2.0], [1], count) for name in ("episodes_per_step", "tasks_per_iteration")]
    table += [(PMetaRLConfig, name, [0, 2.0], [1], count)
              for name in ("personal_updates", "inner_updates", "episodes_per_update")]
    table += [(DeepBOMRLConfig, name, [0.0, -1.0], [1e-9], positive)
              for name in ("lam", "inner_lr", "max_kl", "init_std", "action_scale")]
    table += [(DeepBOMRLConfig, name, [-1e-9], [0.0], "must be ≥ 0")
              for name in ("hypergradient_damping", "cg_damping")]
    table += [(DeepBOMRLConfig, name, [0, 2.0], [1], count)
              for name in ("inner_iterations", "tasks_per_iteration", "episodes_per_task",
                           "hypergradient_cg_iterations", "cg_iterations", "ls_max_steps")]
    return table


BOUNDS = _bounds_table()


@pytest.mark.parametrize(("cls", "field", "refused", "accepted", "rule"), BOUNDS,
                         ids=[f"{row[0].__name__}.{row[1]}" for row in BOUNDS])
def test_config_refuses_out_of_range_values_naming_the_field(cls, field, refused, accepted, rule):
    for value in refused:
        with pytest.raises(ValueError, match=f"^{re.escape(f'{cls.__name__}.{field}={value!r}: {rule}')}"):
            cls(**{field: value})
    for value in accepted:
        assert getattr(cls(**{field: value}), field) == value


@pytest.mark.parametrize("edge", ["personal_lr", "aux_lr"])
@pytest.mark.parametrize("lam", [1.0, 4.0])
def test_pmetarl_step_sizes_are_bounded_by_lambda(lam, edge):
    """PMetaRLConfig: 0 < η^k(1 + λ) ≤ 1 for personal_lr, 0 < ηλ ≤ 1 for aux_lr (the step stays a contraction)."""
    from baselines.pmetarl import PMetaRLConfig

    limit = 1 / (1 + lam) if edge == "personal_lr" else 1 / lam
    assert getattr(PMetaRLConfig(lam=lam, **{edge: limit}), edge) == limit
    rule = "need 0 < η^k(1 + λ) ≤ 1" if edge == "personal_lr" else "need 0 < ηλ ≤ 1"
    for value in (limit * (1 + 1e-9), 0.0, -limit):
        with pytest.raises(ValueError, match=f"^{re.escape(f'PMetaRLConfig.{edge}={value!r}: {rule}')}$"):
            PMetaRLConfig(lam=lam, **{edge: value})


def _checked_fields() -> list[tuple[str, str]]:
    from baselines.common.agent import _rules

    return [(name, field) for name, cls in CONFIG_CLASSES.items() for field in _rules(cls)]


@pytest.mark.parametrize(("name", "field"), _checked_fields())
def test_every_declared_rule_refuses_a_bad_value_by_name(name, field):
    """Each field's rule is declared once beside the field (`checked`, or a `Literal` annotation) and
    `AgentConfig` enforces it: NaN meets no rule, and the error names the class and the field."""
    with pytest.raises(ValueError, match=rf"^{name}\.{field}=nan: "):
        CONFIG_CLASSES[name](**{field: float("nan")})


def test_the_rules_cover_what_the_configs_checked_by_hand():
    from baselines.common.agent import _rules

    expected = {"BOMRLConfig": {"divergence", "lam", "discount", "estimator", "episodes_per_step", "meta_lr",
                                "meta_optimizer", "tasks_per_iteration", "cg_iterations"},
                "RL2Config": {"hidden_size", "tasks_per_iteration", "trials_per_task", "episodes_per_trial",
                              "ppo_epochs", "discount", "gae_lambda", "minibatches", "action_scale",
                              "learning_rate", "clip", "value_coefficient", "init_std"},
                "SGMRLConfig": {"mode", "hessian", "score_baseline", "hidden_sizes"},
                "MEMRLConfig": {"inner_init", "gradient", "hidden_sizes"}}
    for name, fields in expected.items():
        assert fields <= set(_rules(CONFIG_CLASSES[name])), name


# ---------------------------------------------------------------------------------------------------------------
# The rule builders themselves. The configs call them once, when their module is imported; these tests call them
# while they run, so that a wrong bound or message in a builder fails here and not only through one config.
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("bounds", "inside", "outside"), [
    ("(0, 1)", [1e-9, 0.5, 1 - 1e-9], [0, 1, -0.5, 1.5]),
    ("[0, 1]", [0, 0.5, 1], [-1e-9, 1 + 1e-9]),
    ("(0, 1]", [1e-9, 1], [0, 1 + 1e-9]),
    ("[-2.5,3e2)", [-2.5, 299.5], [-2.5 - 1e-9, 300]),
    ("( 1 , 2 ]", [1.5, 2], [1, 2.5]),
])
def test_interval_reads_its_bounds_as_written_in_maths(bounds, inside, outside):
    from baselines.common.agent import interval

    rule = interval(bounds)
    assert (rule.requirement, rule.convert) == (f"must lie in {bounds}", None)
    assert [rule.holds(value) for value in inside] == [True] * len(inside)
    assert [rule.holds(value) for value in outside] == [False] * len(outside)


@pytest.mark.parametrize("bounds", ["0, 1", "(0 1)", "(0, 1", "{0, 1}", "(0, 1)x"])
def test_interval_refuses_bounds_it_cannot_read(bounds):
    from baselines.common.agent import interval

    with pytest.raises(ValueError, match=f"^{re.escape(f'interval: bounds={bounds!r} must read like')} '\\(0, 1\\]'$"):
        interval(bounds)


def test_int_at_least_takes_ints_from_its_minimum_and_no_bools():
    from baselines.common.agent import COUNT, int_at_least

    rule = int_at_least(3)
    assert (rule.requirement, rule.convert) == ("must be an int ≥ 3", None)
    assert [rule.holds(value) for value in (3, 4, 10**12)] == [True, True, True]
    assert [rule.holds(value) for value in (2, -3, 3.0, "3")] == [False] * 4
    assert (COUNT.requirement, COUNT.holds(1), COUNT.holds(True), COUNT.holds(0)) == ("must be an int ≥ 1", True,
                                                                                     False, False)


@pytest.mark.parametrize("empty", [True, False])
def test_sizes_are_tuples_of_widths_of_at_least_one(empty):
    from baselines.common.agent import sizes

    rule = sizes(empty=empty)
    assert rule.requirement == ("must be ints ≥ 1" if empty else "must be one or more ints ≥ 1")
    converted = rule.convert([64, 32.0])
    assert converted == (64, 32) and type(converted) is tuple and all(type(w) is int for w in converted)
    assert [rule.holds(value) for value in ((1,), (64, 64), ())] == [True, True, empty]
    assert [rule.holds(value) for value in ((0,), (64, 0), (-1, 5))] == [False, False, False]
    assert sizes().requirement == "must be ints ≥ 1"   # empty=True by default


def test_checked_declares_a_default_beside_its_rule():
    from baselines.common.agent import POSITIVE, checked

    field = checked(0.5, POSITIVE)
    assert (field.default, dict(field.metadata)) == (0.5, {"rule": POSITIVE})


@pytest.mark.parametrize(("hint", "requirement", "allowed", "refused"), [
    (Literal["a", "b"], "must be 'a' or 'b'", ["a", "b"], ["c", None]),
    (Literal[1, 2, 3], "must be one of (1, 2, 3)", [1, 2, 3], [0, 4, "1"]),
    (Literal["x"] | None, "must be 'x' or None", ["x", None], ["y"]),
    # typing.Optional is a typing.Union, another origin than `X | None` (types.UnionType)
    (Optional[Literal["x", "y"]], "must be one of ('x', 'y', None)", ["x", "y", None], ["z"]),  # noqa: UP045
    (Literal["solo"], "must be one of ('solo',)", ["solo"], ["other"]),
])
def test_a_literal_annotation_becomes_a_choice_rule(hint, requirement, allowed, refused):
    from baselines.common.agent import _choice_rule

    rule = _choice_rule(hint)
    assert (rule.requirement, rule.convert) == (requirement, None)
    assert [rule.holds(value) for value in allowed] == [True] * len(allowed)
    assert [rule.holds(value) for value in refused] == [False] * len(refused)


@pytest.mark.parametrize("hint", [int, float | None, Optional[int], type(None), tuple[int, ...]])  # noqa: UP045
def test_other_annotations_have_no_choice_rule(hint):
    from baselines.common.agent import _choice_rule

    assert _choice_rule(hint) is None
