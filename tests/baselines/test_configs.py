"""Every reference agent's config round-trips through the one `AgentConfig` (baselines/common/agent.py):
`to_dict` gives JSON's own types (tuples as lists), `from_dict` rebuilds an equal config and names an
unknown key; no config class writes the pair again."""

import json

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
