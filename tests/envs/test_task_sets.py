"""Fixed, fingerprinted task sets (DESIGN.md): pinned, reproducible, disjoint, tamper-evident."""

from __future__ import annotations

import json

import numpy as np
import pytest

import metarl_envs
from metarl_envs.task_sets import TaskSet, _load, build_task_sets, env_class, split_tasks, task_set_path, tasks_match

# sha256 of each stored set's canonical JSON. A change here changes every published number on
# that set: bump the env's version instead of editing a stored set.
PINNED_TEST_FINGERPRINTS = {
    ("MetaRL/FrozenLakeHoles-v0", "bomrl-high"): "8cc0693e14aeea60bf319c7c11e1917ed62547bbe21a5951fee87258f93d9922",
    ("MetaRL/FrozenLakeHoles-v0", "bomrl-low"): "06570fb8e823e55a2dae7ce111e7d3b0bb086030f782cbd717ca674def6f9263",
    ("MetaRL/SparsePointRobot-v0", "pearl"): "953dc4910566a91ed71788bcb0309d6490fbdf749d5a6778736fb15472451d0c",
    ("MetaRL/SparsePointRobot-v0", "varibad"): "094bc7eff5505ef64cfe9b57df282f012c0dbd2c1657342d389a29e733503b2f",
    ("MetaRL/GridNavigation-v0", "memrl"): "7198297ab0fbc1f872656d6d9618dbb723385d50b86174a9a066c8bc94621ad7",
    ("MetaRL/GridNavigation-v0", "pmeta"): "455087c7470ed1dad41e6ea2af278ec29786c10ceaaf6d61cfe053dd0358252b",
    ("MetaRL/GridNavigation-v0", "pmeta-spread"): "6421c22892c9cc40209b879a7d1b9850bae22215b5b34dbf01220867733e677f",
    ("MetaRL/MountainCarParams-v0", "pmeta"): "f41b6325af81fa91a87ac5e75ade0c0a716f325d5f0c5506f1581a896453a49a",
    ("MetaRL/CartPoleParams-v0", "pmeta"): "eb97b82a8170f0fb32bc8e69031d719c4442f812dfcd265d217e78c9c756907a",
    ("MetaRL/CartPoleParams-v0", "carl"): "f1bf8378480dca5dfed514ccbbf2ab2ad24a9839d4217e7b997a1309db7e1e7a",
    ("MetaRL/Navigation2D-v0", "maml"): "ee30630819555b9d939847d103e911e0f6aa985732a663b4f48157c654b383bc",
    ("MetaRL/Navigation2D-v0", "sgmrl"): "54b57710fb177927c10058eedd6389e294b6bc2a0c92a0895b3dffe5e8925458",
    ("MetaRL/HopperParams-v0", "pearl"): "ad5e5a7a1da545d45a8e9e8a91b1442beb880522c991f2a482320cb8ea9e4d61",
    ("MetaRL/Walker2DParams-v0", "pearl"): "02d18e1d7f0c2adf802a4c0dab5145bf886d23500fb10de6bfdb4fe031c2d59c",
    ("MetaRL/AntVel-v0", "maml"): "b4c3f4de16b4fd3a5167c68643a8879eeaca68a3d5ced8cc087e7714278b2ea3",
    ("MetaRL/AntVel-v0", "pytorch-maml-rl"): "9ea05cc9e0d86f850854079dc0f289c646cc78a3e9560bbd0e6f2d6541448e99",
    ("MetaRL/AntDir-v0", "maml"): "bb53f7da6698012ee255002639d11b5e408398c727647f3c1310ca985244e54b",
    ("MetaRL/AntDir-v0", "pytorch-maml-rl"): "e41d27c4fd0d40c38f0ebc303440736ac01042e1e88a67193265636a97a9a723",
    ("MetaRL/AntDir-v0", "promp"): "e94d5a35da329e0313833bf942df17c430663f33626c0a09f88baab3c7933388",
    ("MetaRL/AntDir-v0", "pearl"): "662c14146cfdb20bc26b5450c492f333e9debbb1359fd99447f1c2a629222a4b",
    ("MetaRL/AntGoal-v0", "promp"): "851aa8dcaf2d697d66862692cfc936437f6ed36cfb82145b11b1bc4e78ea7e8c",
    ("MetaRL/AntGoal-v0", "pearl"): "e18660fa4a0e5218daf6f634e5f25eb75e154fad98b25b5cc746595a11fd95a9",
    ("MetaRL/HalfCheetahVel-v0", "maml"): "6d29477dedfa696332dac5221eaee3fa5399174ac51c9e28152fe6574f9deb3d",
    ("MetaRL/HalfCheetahVel-v0", "pytorch-maml-rl"): "3938e5b5ee616638e3cf77b007a96d311491bbee69aa4ada901e57a6e1035b22",
    ("MetaRL/HalfCheetahVel-v0", "promp"): "ef483b2b413bdfeb02109e9b280150a8c75ae2f95239aae6672fe367d616bff8",
    ("MetaRL/HalfCheetahVel-v0", "pearl"): "705aea2e8987e41a0f4f230167190d69519ffbf7ac138acb7c54fb38c2613e94",
    ("MetaRL/HalfCheetahVel-v0", "pmeta"): "c058924a6891aa01790d20922fe12c644ec8ffb2919c09c02165f02023e2ea35",
    ("MetaRL/HalfCheetahDir-v0", "maml"): "248304b8d15f9e474904025a009fea526de0d83fb8367579089ab8ce9c1511b8",
    ("MetaRL/HalfCheetahDir-v0", "pytorch-maml-rl"): "c5d8a2796af7dac045ce0971ea138d613fbba54bb85e8d8c2de95b97cf49e20c",
    ("MetaRL/HalfCheetahDir-v0", "promp"): "ed22201dc44683bd50b3e6c58617947ebef7938160e301ae66445b975d0d2317",
    ("MetaRL/HalfCheetahDir-v0", "pearl"): "e9b7871ebb63de8b4ee7579fa450e57df0750d36b691df6fb7ae29ca8d9c548f",
}


def test_every_preset_has_a_pinned_fingerprint(env_preset):
    assert env_preset in PINNED_TEST_FINGERPRINTS, f"pin the test fingerprint of {env_preset}"
    assert metarl_envs.task_set(*env_preset[:1], "test", env_preset[1]).fingerprint == \
        PINNED_TEST_FINGERPRINTS[env_preset]


def test_stored_sets_are_what_the_seeded_builder_draws(env_preset):
    """Equal up to `REBUILD_RTOL`: NumPy's SIMD exp/power round differently on different CPUs."""
    env_id, preset = env_preset
    train, test = split_tasks(env_class(env_id), preset)
    assert tasks_match(metarl_envs.task_set(env_id, "train", preset), train)
    assert tasks_match(metarl_envs.task_set(env_id, "test", preset), test)


def test_tasks_match_tolerates_last_bits_only():
    from metarl_envs.mujoco.walker2d_params import ModelParamsTask

    stored = metarl_envs.task_set("MetaRL/Walker2DParams-v0", "test")[0]
    fields = stored.to_dict()
    nudged = {k: np.nextafter(np.nextafter(np.asarray(v), np.inf), np.inf).tolist() for k, v in fields.items()}
    assert tasks_match([stored], [ModelParamsTask.from_dict(nudged)])
    moved = {**fields, "body_mass": [fields["body_mass"][0] * (1 + 1e-9), *fields["body_mass"][1:]]}
    assert not tasks_match([stored], [ModelParamsTask.from_dict(moved)])
    assert not tasks_match([stored], [])


def test_rebuilding_keeps_a_stored_file_that_matches_up_to_the_last_bits(tmp_path, monkeypatch):
    env_id, preset = "MetaRL/HalfCheetahVel-v0", "promp"
    document = json.loads(task_set_path(env_id, preset).read_text())
    for task in document["splits"]["train"] + document["splits"]["test"]:
        task["velocity"] = float(np.nextafter(task["velocity"], np.inf))  # another CPU's last bit
    cls = env_class(env_id)
    sets = {s: TaskSet(env_id, preset, s, tuple(cls.task_type.from_dict(t) for t in document["splits"][s]))
            for s in ("train", "test")}
    document["fingerprints"] = {s: t.fingerprint for s, t in sets.items()}
    text = json.dumps(document)
    (tmp_path / task_set_path(env_id, preset).name).write_text(text)
    monkeypatch.setattr("metarl_envs.task_sets._FOLDER", tmp_path)
    _load.cache_clear()
    try:
        build_task_sets([env_id])
        assert (tmp_path / task_set_path(env_id, preset).name).read_text() == text  # kept as it was
        assert (tmp_path / task_set_path(env_id, "maml").name).exists()  # a missing file is written
    finally:
        _load.cache_clear()


def test_train_and_test_are_disjoint(env_preset):
    env_id, preset = env_preset
    train = metarl_envs.task_set(env_id, "train", preset)
    test = metarl_envs.task_set(env_id, "test", preset)
    spec = env_class(env_id).presets[preset]
    assert len(train) > 0 and len(test) > 0
    if spec.finite_family:
        assert list(test) == list(train) and not test.disjoint_from_train
    else:
        assert not set(train) & set(test)
        assert (len(train), len(test)) == (spec.n_train_tasks, spec.n_test_tasks)
        assert test.disjoint_from_train


def test_task_set_is_immutable_and_ordered(env_preset):
    tset = metarl_envs.task_set(env_preset[0], "test", env_preset[1])
    assert isinstance(tset, TaskSet) and isinstance(tset.tasks, tuple)
    with pytest.raises(AttributeError):
        tset.tasks = ()  # type: ignore[misc]


def test_tampered_file_is_refused(tmp_path, monkeypatch):
    env_id, preset = "MetaRL/Navigation2D-v0", "maml"
    document = json.loads(task_set_path(env_id, preset).read_text())
    document["splits"]["test"][0]["goal"][0] += 1e-9
    fake = tmp_path / task_set_path(env_id, preset).name
    fake.write_text(json.dumps(document))
    monkeypatch.setattr("metarl_envs.task_sets._FOLDER", tmp_path)
    _load.cache_clear()
    try:
        with pytest.raises(ValueError, match="fingerprint mismatch"):
            metarl_envs.task_set(env_id, "test", preset)
    finally:
        _load.cache_clear()


def test_bad_split_and_preset_are_named():
    with pytest.raises(ValueError, match="split"):
        metarl_envs.task_set("MetaRL/Navigation2D-v0", "validation")
    with pytest.raises(ValueError, match="preset"):
        metarl_envs.task_set("MetaRL/Navigation2D-v0", "test", preset="nope")
