"""One-step Q-learning targets against hand-computed values."""

import numpy as np

from triad.multistep import double_q_learning_td, q_learning_td


def test_q_learning_td_golden():
    # δ = 1 + 0.9·max(2, 5) − 3 = 2.5 ; terminal: δ = 1 + 0 − 0 = 1
    q_tm1 = np.array([[3.0, 0.0], [0.0, 0.0]])
    q_t = np.array([[2.0, 5.0], [9.0, 9.0]])
    np.testing.assert_allclose(q_learning_td(q_tm1, np.array([0, 1]), np.array([1.0, 1.0]),
                                             np.array([0.9, 0.0]), q_t), [2.5, 1.0])


def test_double_q_learning_td_selects_with_one_estimate_and_evaluates_with_the_other():
    # selector picks action 0, evaluator gives 4 there: δ = 0 + 0.5·4 − 1 = 1
    delta = double_q_learning_td(np.array([[1.0, 7.0]]), np.array([0]), np.array([0.0]), np.array([0.5]),
                                 q_t_value=np.array([[4.0, 100.0]]), q_t_selector=np.array([[2.0, 1.0]]))
    np.testing.assert_allclose(delta, [1.0])
