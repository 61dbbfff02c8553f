"""Discount weighting in the policy gradient: the exact ∇J against the γ^t-dropped update.

The lecture notes' "option 2" (``Σ_t γ^t ∇log π G_t``, the true gradient of the discounted
objective) against "option 1" (``Σ_t ∇log π G_t``, what nearly every implementation does). For each
problem, exactly: the angle between the two directions, the objective reached by following each
from the same θ0 = 0 for a fixed budget (and J*), and whether each field is a gradient at all
(curl and the integral around a small loop; Nota & Thomas 2020).
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="discount-weighting",
    description="Policy gradient with and without γ^t: angle, bias in J, curl (Nota & Thomas 2020)",
    figures=("discount_weighting", "discount_weighting_curl"),
)
