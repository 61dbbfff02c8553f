"""One-step Q-learning targets against hand-computed values, on numpy and torch."""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from triad.errors import ValidationError
from triad.multistep import double_q_learning_td, q_learning_td

# Two steps: (s, a = 0) → r = 1, γ = .9 into a state with Q = (2, 5); a terminal step (γ = 0).
Q_TM1 = np.array([[3.0, 0.0], [0.0, 0.0]])
A_T = np.array([0, 1])
R_T, D_T = np.array([1.0, 1.0]), np.array([0.9, 0.0])
Q_T = np.array([[2.0, 5.0], [9.0, 9.0]])


def test_q_learning_td_golden():
    # δ = 1 + 0.9·max(2, 5) − 3 = 2.5 ; terminal: δ = 1 + 0 − 0 = 1
    delta = q_learning_td(Q_TM1, A_T, R_T, D_T, Q_T)
    assert isinstance(delta, np.ndarray) and delta.dtype == np.float64
    np.testing.assert_allclose(delta, [2.5, 1.0])


def test_double_q_learning_td_selects_with_one_estimate_and_evaluates_with_the_other():
    # selector picks action 0, evaluator gives 4 there: δ = 0 + 0.5·4 − 1 = 1
    delta = double_q_learning_td(np.array([[1.0, 7.0]]), np.array([0]), np.array([0.0]), np.array([0.5]),
                                 q_t_value=np.array([[4.0, 100.0]]), q_t_selector=np.array([[2.0, 1.0]]))
    np.testing.assert_allclose(delta, [1.0])
    # A tie in the selector goes to the lowest index: 0.5·4 − 1 = 1 again.
    delta = double_q_learning_td(np.array([[1.0, 7.0]]), np.array([0]), 0.0, 0.5,
                                 q_t_value=np.array([[4.0, 100.0]]), q_t_selector=np.array([[3.0, 3.0]]))
    np.testing.assert_allclose(delta, [1.0])


def test_torch_q_learning_td_differentiates_only_the_taken_value():
    q_tm1 = torch.tensor(Q_TM1, dtype=torch.float32, requires_grad=True)
    q_t = torch.tensor(Q_T, dtype=torch.float32, requires_grad=True)
    delta = q_learning_td(q_tm1, torch.tensor(A_T), torch.tensor(R_T, dtype=torch.float32),
                          torch.tensor(D_T, dtype=torch.float32), q_t)
    assert isinstance(delta, torch.Tensor) and delta.dtype == torch.float32
    np.testing.assert_allclose(delta.detach().numpy(), [2.5, 1.0])
    delta.sum().backward()
    # ∂δ_b/∂q_tm1[b, a] = −1 at the taken action only; the target is a constant.
    np.testing.assert_array_equal(q_tm1.grad.numpy(), [[-1.0, 0.0], [0.0, -1.0]])
    assert q_t.grad is None


def test_torch_td_errors_stop_the_gradient_even_when_both_tables_come_from_one_network():
    # One network's outputs at s_t (row 0) and s_{t+1} (row 1): ½δ² is a semi-gradient loss, so its
    # gradient is −δ at Q(s_t, a_t) and nothing at s_{t+1}. δ = 1 + .9·max(2, 5) − 3 = 2.5.
    q = torch.tensor([[3.0, 0.0], [2.0, 5.0]], dtype=torch.float64, requires_grad=True)
    for td in (lambda: q_learning_td(q[:1], torch.tensor([0]), 1.0, 0.9, q[1:]),
               lambda: double_q_learning_td(q[:1], torch.tensor([0]), 1.0, 0.9, q[1:], q[1:])):
        q.grad = None
        delta = td()
        (0.5 * delta ** 2).sum().backward()
        np.testing.assert_allclose(q.grad.numpy(), [[-2.5, 0.0], [0.0, 0.0]])


def test_torch_double_q_learning_td_agrees_with_numpy_and_differentiates_only_q_tm1():
    rng = np.random.default_rng(0)
    q_tm1, value, selector = rng.normal(size=(3, 6, 4))
    a, r, d = rng.integers(0, 4, 6), rng.normal(size=6), np.full(6, 0.9)
    expected = double_q_learning_td(q_tm1, a, r, d, value, selector)
    # Plain computation: evaluate the selector's argmax with the other table.
    best = selector.argmax(1)
    np.testing.assert_allclose(expected, r + d * value[np.arange(6), best] - q_tm1[np.arange(6), a])
    tensors = [torch.tensor(x, requires_grad=True) for x in (q_tm1, value, selector)]
    delta = double_q_learning_td(tensors[0], torch.tensor(a), torch.tensor(r), torch.tensor(d), *tensors[1:])
    assert delta.dtype == torch.float64
    np.testing.assert_allclose(delta.detach().numpy(), expected, rtol=1e-12)
    delta.sum().backward()
    np.testing.assert_array_equal(tensors[0].grad.numpy(), -np.eye(4)[a])
    assert tensors[1].grad is None and tensors[2].grad is None


def test_numpy_use_does_not_import_torch():
    code = ("import sys, numpy as np, triad.multistep as ms;"
            "ms.q_learning_td(np.zeros((2, 2)), np.array([0, 1]), np.ones(2), np.ones(2), np.ones((2, 2)));"
            "ms.double_q_learning_td(np.zeros((1, 2)), np.array([0]), 1.0, 1.0, np.ones((1, 2)), np.ones((1, 2)));"
            "ms.vtrace(np.ones(3), np.ones(3), np.ones(4), np.ones(3));"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("call, message", [
    (lambda: q_learning_td(Q_TM1, np.array([0, 2]), R_T, D_T, Q_T), "q_learning_td: a_t[1] is not an action index"),
    (lambda: q_learning_td(Q_TM1, np.array([0]), R_T, D_T, Q_T), "q_tm1 has shape (2, 2), expected (1,) + (A,)"),
    (lambda: q_learning_td(Q_TM1, A_T, R_T, D_T, Q_T[:, :1]), "q_t has shape (2, 1), expected (2, 2) like q_tm1"),
    (lambda: q_learning_td(Q_TM1, A_T, R_T[:1], D_T, Q_T), "r_t has shape (1,), expected (2,) like a_t"),
    (lambda: double_q_learning_td(Q_TM1, A_T, R_T, D_T, Q_T, Q_T[:1]),
     "double_q_learning_td: q_t_selector has shape (1, 2), expected (2, 2)"),
])
def test_bad_input_names_what_is_wrong(call, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        call()
