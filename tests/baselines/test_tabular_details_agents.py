"""Tabular MAML's and tabular pMeta-RL's details the update-rule tests leave open: what a meta-iteration
records, the MC adaptation step of tabular MAML, pMeta-RL's later sampled rounds (from the personal
table they left), its refusal before training and its set-up on a single train task."""

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.common import tabular
from baselines.pmetarl import PMetaRL, PMetaRLConfig
from baselines.tabular_maml import TabularMAML, TabularMAMLConfig
from tests.baselines.test_tabular_details_common import hand_mc
from tests.baselines.test_tabular_update_rules import (
    GRID,
    GRID_KWARGS,
    LAKE,
    LAKE_KWARGS,
    PMETA,
    PMETA_SAMPLED,
    Exact,
    lake_tasks,
    model_of,
)
from tests.baselines.trial import recorded_rounds

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------------------------
# Tabular MAML
# --------------------------------------------------------------------------------------------
def test_tabular_maml_records_the_exact_returns_before_and_after_the_inner_step_and_no_env_steps():
    """One train task (B = 1): record k holds J(ϕ_k) (pre), J(ϕ_k + α∇J(ϕ_k)) (post), both exact, and the
    env steps so far, 0 (meta-training reads the model)."""
    config = TabularMAMLConfig(inner_lr=0.7, discount=0.7, meta_lr=0.2, tasks_per_iteration=1)
    task = lake_tasks()[1]
    agent = TabularMAML(LAKE, config, LAKE_KWARGS)
    phis = []
    records = agent.meta_train([task], iterations=2, seed=0,
                               callback=lambda record: phis.append(agent.meta_params())).records
    exact = Exact(model_of(LAKE, LAKE_KWARGS, task)[0], config.discount)
    for record, phi in zip(records, [np.zeros((16, 4)), phis[0]], strict=True):
        phi_t = torch.as_tensor(phi)
        assert record.env_steps == 0
        assert record.pre_adaptation_return == pytest.approx(float(exact.j(phi_t)), rel=1e-10)
        post = exact.j(phi_t + config.inner_lr * exact.grad_j(phi_t))
        assert record.post_adaptation_return == pytest.approx(float(post), rel=1e-10)
    assert records[1].pre_adaptation_return > records[0].pre_adaptation_return


def policy_gradient(logits: np.ndarray, q_values: np.ndarray, nu: np.ndarray, discount: float) -> np.ndarray:
    """ν(s)/(1 − γ) · π(a|s) (Q(s, a) − Σ_b π(b|s) Q(s, b)), state by state."""
    out = np.zeros_like(logits)
    for s in range(len(logits)):
        pi = np.exp(logits[s] - logits[s].max())
        pi /= pi.sum()
        out[s] = nu[s] / (1 - discount) * pi * (q_values[s] - pi @ q_values[s])
    return out


def test_tabular_maml_sampled_adaptation_is_the_mc_policy_gradient_step_of_each_tasks_own_episodes():
    config = TabularMAMLConfig(inner_lr=0.7, discount=0.7, estimator="sampled")
    agent = TabularMAML(LAKE, config, LAKE_KWARGS)
    tasks = lake_tasks(2)
    agent.phi = phi = np.random.default_rng(0).normal(size=(16, 4))
    [(before, batch, after)] = recorded_rounds(agent, tasks, 6, 1, np.random.default_rng(1))
    assert not agent.privileged
    for i in range(2):
        np.testing.assert_array_equal(before[i], phi)
        q_hat, nu_hat, _ = hand_mc(batch, tabular.softmax(phi), config.discount, task=i)
        expected = phi + config.inner_lr * policy_gradient(phi, q_hat, nu_hat, config.discount)
        np.testing.assert_allclose(after[i], expected, rtol=1e-10, atol=1e-12)
    assert not np.allclose(after[0], after[1])


# --------------------------------------------------------------------------------------------
# Tabular pMeta-RL
# --------------------------------------------------------------------------------------------
def test_pmeta_meta_parameters_before_training_are_refused_with_its_message():
    with pytest.raises(RuntimeError, match=r"^PMetaRL\.meta_params: call meta_train\(\) or load\(\) first$"):
        PMetaRL(GRID, PMETA, GRID_KWARGS).meta_params()


def test_pmeta_training_state_before_training_is_refused_with_its_message():
    """A checkpoint indexes the personal tables by the train set, which only meta_train sets up."""
    with pytest.raises(RuntimeError, match=r"^PMetaRL\.training_state: call meta_train\(\) first \(the personal "
                                           r"tables are indexed by the train set it sets up\)$"):
        PMetaRL(GRID, PMETA, GRID_KWARGS).training_state()


def test_pmeta_expected_mode_spends_no_env_steps_and_sets_up_on_a_single_train_task():
    task = metarl_envs.task_set(GRID, "train", "pmeta")[0]
    agent = PMetaRL(GRID, PMETA, GRID_KWARGS)
    records = agent.meta_train([task], iterations=2, seed=0).records
    assert [r.env_steps for r in records] == [0, 0]
    assert agent.meta_params()["meta"].shape == (81, 4) and np.abs(agent.meta_params()["meta"]).max() > 0


def equation_7_pass(batch, index: int, personal: np.ndarray, anchor: np.ndarray, cfg: PMetaRLConfig) -> np.ndarray:
    """Eq. (7) over task `index`'s transitions, episode by episode in time order, anchored at `anchor`."""
    q = personal.copy()
    for e in range(batch.episodes_per_task):
        steps = int(batch.mask[index, e].sum())
        states = [round(float(np.ravel(o)[0])) for o in batch.observations[index, e, :steps]]
        states.append(round(float(np.ravel(batch.final_observations[index, e])[0])))
        for t in range(steps):
            s, a, s_next = states[t], int(batch.actions[index, e, t]), states[t + 1]
            bootstrap = 0.0 if batch.terminated[index, e, t] else q[s_next].max()
            target = batch.rewards[index, e, t] + cfg.discount * bootstrap
            q[s, a] += cfg.personal_lr * (target - q[s, a]) - cfg.personal_lr * cfg.lam * (q[s, a] - anchor[s, a])
    return q


def test_pmeta_a_later_sampled_round_continues_from_the_personal_table_of_the_last_one():
    """Round 2 of sampled adaptation: eq. (7) from the personal table round 1 left, anchored at the meta table
    round 1 left (then eqs. (8), (9) over every state)."""
    cfg = PMETA_SAMPLED
    task = list(metarl_envs.task_set(GRID, "test", "pmeta"))[2]
    agent = PMetaRL(GRID, cfg, GRID_KWARGS)
    agent.q_meta = np.random.default_rng(4).normal(size=(81, 4))
    rounds = recorded_rounds(agent, [task], 3, 2, np.random.default_rng(0))
    (first,), batch, (second,) = rounds[1]
    assert set(first) == {"meta", "personal"} and not np.allclose(first["personal"], first["meta"])
    personal = equation_7_pass(batch, 0, first["personal"], first["meta"], cfg)
    np.testing.assert_allclose(second["personal"], personal, rtol=1e-12, atol=1e-12)
    auxiliary = first["meta"] - cfg.aux_lr * cfg.lam * (first["meta"] - personal)
    np.testing.assert_allclose(second["meta"], (1 - cfg.beta) * first["meta"] + cfg.beta * auxiliary,
                               rtol=1e-12, atol=1e-12)
