"""Hand-checked values for the pieces every SafePO algorithm shares (no environment needed)."""

import math

import numpy as np
import pytest
import torch

from alignbook.saferl.algos.base import conjugate_gradient, fisher_vector_product, kl_to
from alignbook.saferl.algos.cpo import cpo_case, cpo_direction
from alignbook.saferl.algos.focops import focops_loss
from alignbook.saferl.algos.pcpo import pcpo_direction
from alignbook.saferl.buffer import RolloutBuffer, gae
from alignbook.saferl.lagrange import Lagrange, PIDLagrange, lagrangian_advantage
from alignbook.saferl.normalizer import RunningNormalizer
from alignbook.saferl.trainer import lagrange_input


def test_lagrange_rises_above_limit_and_falls_below():
    lag = Lagrange(cost_limit=25.0, init=0.5, lr=0.1)
    up = lag.update(40.0)
    assert up == pytest.approx(0.6, abs=1e-6)  # Adam's first step moves by exactly lr
    down = lag.update(0.0)
    assert down < up


def test_lagrange_clamps_to_zero_and_upper_bound():
    lag = Lagrange(cost_limit=25.0, init=0.001, lr=0.035)
    assert lag.update(0.0) == 0.0  # would go negative
    capped = Lagrange(cost_limit=0.0, init=0.15, lr=0.1, upper=0.2)
    assert capped.update(100.0) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="lagrange_init"):
        Lagrange(25.0, init=-1.0)


def test_lagrangian_advantage():
    adv_r, adv_c = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 1.0])
    mixed = lagrangian_advantage(adv_r, adv_c, 0.5)
    assert torch.allclose(mixed, torch.tensor([(1 - 1.5) / 1.5, (-2 - 0.5) / 1.5]))
    assert torch.equal(lagrangian_advantage(adv_r, adv_c, 0.0), adv_r)


def test_pid_terms_by_hand():
    pid = PIDLagrange(cost_limit=10.0, kp=0.1, ki=0.01, kd=0.01, d_delay=10, delta_p_ema_alpha=0.5,
                      delta_d_ema_alpha=0.5, penalty_max=100.0, init=0.0)
    value = pid.update(30.0)  # violation 20
    assert pid.terms["i"] == pytest.approx(0.2)  # 0 + 0.01 * 20
    assert pid.terms["p"] == pytest.approx(0.1 * 10.0)  # EMA: 0.5 * 0 + 0.5 * 20
    assert pid.terms["d"] == pytest.approx(0.01 * 15.0)  # cost EMA 15 minus 0 ten epochs ago
    assert value == pytest.approx(0.2 + 1.0 + 0.15)
    for _ in range(50):
        value = pid.update(0.0)  # far below the limit
    assert value == 0.0 and pid.integral == 0.0


def test_gae_by_hand_termination_vs_truncation():
    gamma, lam = 0.9, 0.5
    rewards = np.array([[1.0], [2.0], [3.0]])
    values = np.array([[0.5], [1.0], [1.5]])
    boundary = np.array([[0.0], [1.0], [0.0]])
    last = np.array([4.0])
    # terminated at step 1: bootstrap 0
    adv, target = gae(rewards, values, np.zeros_like(values), boundary, last, gamma, lam)
    d2 = 3.0 + 0.9 * 4.0 - 1.5
    d1 = 2.0 + 0.0 - 1.0
    d0 = 1.0 + 0.9 * 1.0 - 0.5
    assert adv[2, 0] == pytest.approx(d2)
    assert adv[1, 0] == pytest.approx(d1)  # nothing flows back across the boundary
    assert adv[0, 0] == pytest.approx(d0 + 0.45 * d1)
    assert np.allclose(target, adv + values)
    # truncated at step 1: bootstrap from V(final obs) = 7
    boot = np.array([[0.0], [7.0], [0.0]])
    adv_t, _ = gae(rewards, values, boot, boundary, last, gamma, lam)
    assert adv_t[1, 0] == pytest.approx(2.0 + 0.9 * 7.0 - 1.0)


def test_buffer_standardises_reward_and_centres_cost_advantages():
    buf = RolloutBuffer(steps=4, num_envs=2, obs_dim=3, act_dim=1)
    rng = np.random.default_rng(0)
    for _ in range(4):
        buf.store(rng.normal(size=(2, 3)), rng.normal(size=(2, 1)), np.zeros(2), rng.normal(size=2),
                  rng.integers(0, 2, 2).astype(float), np.zeros(2), np.zeros(2))
    data = buf.get(np.zeros(2), np.zeros(2), 0.99, 0.95, 0.95)
    assert data["adv_r"].mean().abs() < 1e-5 and data["adv_r"].std(unbiased=False) == pytest.approx(1.0, abs=1e-4)
    assert data["adv_c"].mean().abs() < 1e-5 and data["adv_c"].std() != pytest.approx(1.0, abs=1e-3)
    with pytest.raises(RuntimeError, match="full epoch"):
        buf.get(np.zeros(2), np.zeros(2), 0.99, 0.95, 0.95)


@pytest.mark.parametrize(
    "c, s, b_sq, expected",
    [
        (-5.0, 1.0, 0.0, 4),  # no cost gradient, feasible: plain TRPO
        (-5.0, 1.0, 1.0, 3),  # B = 0.02 - 25 < 0 while feasible: whole region feasible
        (-0.1, 1.0, 1.0, 2),  # B = 0.02 - 0.01 >= 0, feasible
        (0.1, 1.0, 1.0, 1),  # infeasible, recoverable
        (5.0, 1.0, 1.0, 0),  # infeasible, unrecoverable: cost descent
    ],
)
def test_cpo_case_selection(c, s, b_sq, expected):
    assert cpo_case(c, s, b_sq, delta=0.01) == expected


def test_cpo_directions():
    x, p = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    delta = 0.01
    step, lam, nu = cpo_direction(3, x, p, q=4.0, r=0.0, s=1.0, c=-5.0, delta=delta)
    assert lam == pytest.approx(math.sqrt(4.0 / 0.02)) and nu == 0.0
    assert torch.allclose(step, x / lam)
    step, lam, nu = cpo_direction(0, x, p, q=4.0, r=0.0, s=4.0, c=5.0, delta=delta)
    assert torch.allclose(step, -math.sqrt(0.02 / 4.0) * p) and lam == 0.0
    step, lam, nu = cpo_direction(1, x, p, q=4.0, r=0.5, s=1.0, c=0.1, delta=delta)
    assert nu > 0  # infeasible: the step must push the cost down
    assert float(step[1]) < 0


def test_pcpo_projects_only_when_the_constraint_binds():
    x, p = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    free, corr = pcpo_direction(x, p, q=1.0, r=0.0, s=1.0, c=-1.0, delta=0.01)
    assert corr == 0.0 and torch.allclose(free, math.sqrt(0.02) * x)
    bound, corr = pcpo_direction(x, p, q=1.0, r=0.0, s=1.0, c=1.0, delta=0.01)
    assert corr == pytest.approx(1.0) and float(bound[1]) == pytest.approx(-1.0)


def test_focops_loss_drops_samples_beyond_eta():
    mean, std = torch.zeros(2, 1), torch.ones(2, 1)
    dist = torch.distributions.Normal(torch.tensor([[0.0], [1.0]]), torch.ones(2, 1))  # KL 0 and 0.5
    act, logp = torch.zeros(2, 1), dist.log_prob(torch.zeros(2, 1)).sum(-1)
    loss = focops_loss(dist, mean, std, act, logp, torch.tensor([3.0, 3.0]), torch.tensor([1.0, 1.0]),
                       nu=1.0, temperature=2.0, eta=0.02)
    # (0 − ratio·(3 − 1·1)/(1 + ν)/τ) / 2 with ν = 1, τ = 2; the second sample is masked out
    assert float(loss) == pytest.approx((0.0 - (3.0 - 1.0) / 2.0 / 2.0) / 2)


def test_focops_kl_runs_from_the_new_policy_to_the_old():
    # KL(N(0, 2²) ‖ N(0, 1)) = log(1/2) + 4/2 − 1/2 ≈ 0.807 (new ‖ old); the reverse would be ≈ 0.318
    old_mean, old_std = torch.zeros(1, 1), torch.ones(1, 1)
    dist = torch.distributions.Normal(torch.zeros(1, 1), 2 * torch.ones(1, 1))
    act = torch.zeros(1, 1)
    loss = focops_loss(dist, old_mean, old_std, act, dist.log_prob(act).sum(-1), torch.zeros(1), torch.zeros(1),
                       nu=0.0, temperature=1.5, eta=10.0)
    assert float(loss) == pytest.approx(math.log(0.5) + 2.0 - 0.5, abs=1e-6)


class _StateFreeActor(torch.nn.Module):
    """π(a|s) = N(μ, σ²) per action dimension, μ a parameter, σ fixed: the KL's Hessian is I/σ² per dimension."""

    def __init__(self, act_dim: int, std: float):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.zeros(act_dim))
        self.std = std

    def forward(self, obs):
        return torch.distributions.Normal(self.mu.expand(obs.shape[0], -1), torch.full((obs.shape[0], self.mu.numel()), self.std))


def test_fisher_product_is_the_hessian_of_the_mean_kl_over_action_dimensions():
    # mean over 3 dimensions of (μ_i − μ_old,i)² / (2σ²) has Hessian I / (3σ²); σ = 2 gives I / 12
    actor = _StateFreeActor(act_dim=3, std=2.0)
    hvp = fisher_vector_product(actor, torch.zeros(5, 4), damping=0.1)
    v = torch.tensor([1.0, -2.0, 3.0])
    assert torch.allclose(hvp(v), v / 12.0 + 0.1 * v, atol=1e-6)


def test_line_search_kl_is_the_mean_over_action_dimensions():
    # dimension 1 moves by 1 (KL 1/2), dimension 2 stays (KL 0): mean 1/4, not the sum 1/2
    actor = _StateFreeActor(act_dim=2, std=1.0)
    with torch.no_grad():
        actor.mu.copy_(torch.tensor([1.0, 0.0]))
    assert kl_to(actor, torch.zeros(4, 1), torch.zeros(4, 2), torch.ones(4, 2)) == pytest.approx(0.25)


def test_pid_multiplier_is_not_clamped_under_sum_norm():
    kw = dict(cost_limit=0.0, kp=0.0, ki=1.0, kd=0.0, penalty_max=0.5, init=0.0)
    assert PIDLagrange(**kw).update(3.0) == pytest.approx(3.0)  # SafePO/OmniSafe default sum_norm=True
    assert PIDLagrange(**kw, sum_norm=False).update(3.0) == pytest.approx(0.5)


def test_multiplier_input_follows_safepo():
    assert lagrange_input(0, [10.0, 20.0], 15.0) == 0.0  # first epoch: the logger has no EpCost yet
    assert lagrange_input(1, [10.0, 20.0], 30.0) == pytest.approx(15.0)  # mean over this epoch's episode ends
    assert lagrange_input(4, [], 7.0) == 7.0  # no episode ended: the running mean


def test_conjugate_gradient_solves_spd_system():
    a = torch.tensor([[4.0, 1.0], [1.0, 3.0]])
    b = torch.tensor([1.0, 2.0])
    x = conjugate_gradient(lambda v: a @ v, b, iters=10)
    assert torch.allclose(a @ x, b, atol=1e-5)


def test_running_normalizer_matches_numpy():
    rng = np.random.default_rng(1)
    data = rng.normal(3.0, 2.0, size=(300, 4))
    norm = RunningNormalizer((4,))
    for chunk in np.split(data, 6):
        norm.update(chunk)
    assert np.allclose(norm.mean, data.mean(0), atol=1e-4)
    assert np.allclose(norm.var, data.var(0), atol=1e-3)
    state = norm.state_dict()
    other = RunningNormalizer((4,))
    other.load_state_dict(state)
    assert np.array_equal(other(data[:3]), norm(data[:3]))
