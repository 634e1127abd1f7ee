"""Tabular pMeta-RL: Theorem 1's contraction rate, the corrected signs, per-(s, a) aggregation, and the
gridworld run against each task's optimum."""

import numpy as np
import pytest

from baselines.common.envs import EnvProvider
from baselines.common.oracles import optimal_return, policy_return
from baselines.pmetarl import PMetaRL, PMetaRLConfig, greedy_policy, regularized_bellman
from metarl_envs.toy_text.tabular import TabularModel
from tests.baselines.trial import adapted_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ergodic_model(seed: int = 0, n_states: int = 5, n_actions: int = 3) -> TabularModel:
    rng = np.random.default_rng(seed)
    transition = rng.dirichlet(np.ones(n_states), size=(n_states, n_actions))
    return TabularModel.from_matrices(transition, rng.uniform(-1, 1, (n_states, n_actions, n_states)),
                        np.full(n_states, 1.0 / n_states), np.zeros(n_states, dtype=bool))


@pytest.mark.parametrize("lam", [0.5, 10.0])
def test_regularized_bellman_contracts_at_rate_gamma_over_one_plus_lambda(lam):
    model, gamma, rng = ergodic_model(), 0.9, np.random.default_rng(1)
    anchor = rng.normal(size=(5, 3))
    modulus = gamma / (1 + lam)
    ratios = []
    for _ in range(500):
        q1, q2 = rng.normal(size=(5, 3)) * rng.uniform(0.1, 10), rng.normal(size=(5, 3))
        ratios.append(np.abs(regularized_bellman(model, q1, anchor, lam, gamma)
                             - regularized_bellman(model, q2, anchor, lam, gamma)).max() / np.abs(q1 - q2).max())
    assert max(ratios) <= modulus + 1e-12
    q1 = rng.normal(size=(5, 3))  # a constant shift attains the modulus (no terminal states: P rows sum to 1)
    shifted = np.abs(regularized_bellman(model, q1 + 2.0, anchor, lam, gamma)
                     - regularized_bellman(model, q1, anchor, lam, gamma)).max() / 2.0
    assert shifted == pytest.approx(modulus, rel=1e-12)


GRID = "MetaRL/GridNavigation-v0"
KWARGS = {"preset": "pmeta", "obs_mode": "index"}


def grid_tasks():
    import metarl_envs

    return list(metarl_envs.task_set(GRID, "train", preset="pmeta"))


def test_expected_update_is_the_regularized_operator_and_pulls_toward_the_anchor():
    agent = PMetaRL(GRID, PMetaRLConfig(lam=10.0), KWARGS)
    task = grid_tasks()[0]
    model = agent.envs.model(task)
    inside = model.state_mask
    rng = np.random.default_rng(0)
    personal, anchor = rng.normal(size=(81, 4)), rng.normal(size=(81, 4))
    updated, _ = agent._personal_update(task, personal, anchor, rng)
    expected = regularized_bellman(model, personal, anchor, 10.0, agent.config.discount)
    np.testing.assert_allclose(updated[inside], expected[inside])
    np.testing.assert_array_equal(updated[~inside], personal[~inside])  # cells outside the 5×5 grid untouched
    heavy = PMetaRL(GRID, PMetaRLConfig(lam=1e6), KWARGS)               # corrected sign: λ → ∞ pins to the anchor
    pinned, _ = heavy._personal_update(task, personal, anchor, rng)
    np.testing.assert_allclose(pinned[inside], anchor[inside], atol=1e-4)


def test_aggregation_averages_over_the_tasks_containing_the_state():
    agent = PMetaRL(GRID, PMetaRLConfig(beta=0.5), KWARGS)
    meta = np.zeros((3, 2))
    masks = [np.array([True, True, False]), np.array([True, False, False])]
    auxiliaries = [np.full((3, 2), 2.0), np.full((3, 2), 4.0)]
    aggregated = agent._aggregate(meta, auxiliaries, masks)
    np.testing.assert_allclose(aggregated[0], 0.5 * 3.0)   # both tasks: mean 3
    np.testing.assert_allclose(aggregated[1], 0.5 * 2.0)   # only task 0 holds state 1
    np.testing.assert_allclose(aggregated[2], 0.0)         # N_s = 0 keeps Q^π


def test_gridworld_meta_and_personalized_policies_reach_each_tasks_optimum(tmp_path):
    tasks = grid_tasks()
    agent = PMetaRL(GRID, PMetaRLConfig(lam=10.0), KWARGS)
    log = agent.meta_train(tasks, iterations=10, seed=0)
    assert len(log.records) == 10
    personal, _ = adapted_params(agent, tasks, 1, np.random.default_rng(0))
    for task, adapted in zip(tasks, personal, strict=True):
        model = EnvProvider(GRID, KWARGS).model(task)
        horizon = 4 * task.size ** 2
        best = optimal_return(model, 1.0, horizon)
        meta_return = policy_return(model, agent.policy_matrix(agent.meta_params()), 1.0, horizon)
        assert "personal" in adapted
        personal_return = policy_return(model, agent.policy_matrix(adapted), 1.0, horizon)
        assert meta_return == pytest.approx(best, abs=1e-9) and personal_return == pytest.approx(best, abs=1e-9)
    untrained = policy_return(EnvProvider(GRID, KWARGS).model(tasks[-1]), greedy_policy(np.zeros((81, 4))), 1.0,
                              4 * 81)
    assert untrained < optimal_return(EnvProvider(GRID, KWARGS).model(tasks[-1]), 1.0, 4 * 81) - 1.0
    agent.save(tmp_path / "agent")
    np.testing.assert_array_equal(PMetaRL.load(tmp_path / "agent").meta_params()["meta"], agent.meta_params()["meta"])


def test_sampled_mode_runs_and_counts_env_steps():
    agent = PMetaRL(GRID, PMetaRLConfig(mode="sampled", episodes_per_update=2), KWARGS)
    log = agent.meta_train(grid_tasks()[:2], iterations=1, seed=0)
    assert log.records[0].env_steps > 0
    assert np.abs(agent.meta_params()["meta"]).max() > 0


def test_a_rounds_record_is_its_steps_values_and_largest_table_gap():
    """Each record: the env steps of every sampled update of the round (summed over the tasks), the exact
    discounted J of the greedy meta (pre) and personalized (post) policies averaged over the tasks, and the
    mean over tasks of the largest |Q_i − Q| on the task's states."""
    agent = PMetaRL(GRID, PMetaRLConfig(mode="sampled", episodes_per_update=2), KWARGS)
    tasks, steps = grid_tasks()[:2], []
    update = agent._personal_update

    def counted(*args):
        table, n = update(*args)
        steps.append(n)
        return table, n

    agent._personal_update = counted
    records = agent.meta_train(tasks, iterations=2, seed=0).records
    assert [r.env_steps for r in records] == [sum(steps[:len(steps) // 2]), sum(steps)]
    models = [agent.envs.model(t) for t in tasks]
    q_meta, discount = agent.meta_params()["meta"], agent.config.discount
    personal = [agent.q_personal[t] for t in tasks]
    last = records[-1]
    assert last.pre_adaptation_return == pytest.approx(
        np.mean([policy_return(m, greedy_policy(q_meta), discount) for m in models]), rel=1e-12)
    assert last.post_adaptation_return == pytest.approx(
        np.mean([policy_return(m, greedy_policy(q), discount) for m, q in zip(models, personal, strict=True)]),
        rel=1e-12)
    gap = np.mean([np.abs(q - q_meta)[m.state_mask].max() for m, q in zip(models, personal, strict=True)])
    assert dict(last.extra) == pytest.approx({"personal_meta_gap": gap}, rel=1e-12) and gap > 0


def test_pmeta_gridworld_quick_runs_through_the_runner(tmp_path):
    from benchmarks.experiments import EXPERIMENTS
    from benchmarks.results import load_result
    from benchmarks.runner import run_experiment

    corners = EXPERIMENTS["pmeta-gridworld"].setting(GRID, "pmeta")  # the paper's setting: every landmark a corner
    summary = run_experiment(corners, tmp_path, quick=True)
    assert len(summary.ran) == 2
    for path in summary.ran:
        data = load_result(path)
        assert len(data.meta_test.tasks) == 5 and data.variant == "quick"
        for task in data.meta_test.tasks:
            assert len(task.returns) == 2 and all(np.isfinite(task.returns))
            assert task.optimal_return < 0 and max(task.optimality_gaps) < 1e-9


@pytest.mark.parametrize("reset", [True, False])
def test_a_round_starts_each_personal_table_from_the_meta_table_or_from_the_last_one(reset):
    """Erratum 5's choice: with `reset_personal_each_round` every round's personalized table starts at Q^π
    (line 7); without it, a task's table continues from where its last round left it."""
    agent = PMetaRL(GRID, PMetaRLConfig(reset_personal_each_round=reset, personal_updates=2), KWARGS)
    tasks = grid_tasks()[:2]
    starts, personal_round = [], agent._personal_round

    def recorded(q_meta, personal, update):
        starts.append(personal.copy())
        return personal_round(q_meta, personal, update)

    agent._personal_round = recorded
    after_first = []
    agent.meta_train(tasks, iterations=2, seed=0, callback=lambda record: after_first or after_first.extend(
        [agent.q_meta.copy()] + [agent.q_personal[t].copy() for t in tasks]))
    meta, *personal = after_first
    assert len(starts) == 4 and not np.array_equal(personal[0], meta)
    for i in range(2):   # the second round's start, task by task
        np.testing.assert_array_equal(starts[2 + i], meta if reset else personal[i])
