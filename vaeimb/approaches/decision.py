"""Approaches that keep the training and move the decision instead."""

from __future__ import annotations

import math

from ..config import ExperimentConfig
from .base import Approach


class Threshold(Approach):
    """Post-hoc logit adjustment (Menon et al., 2021) on the baseline's own model.

    Predict the minority class when its log-odds exceed ``tau * log(n_min / n_maj)``: with
    tau = 1 this is the Bayes rule for balanced error under the training prior. Nothing is
    tuned on the test set; the threshold follows from the training counts alone.
    """

    name = "threshold"
    description = (
        "The baseline's model with its threshold moved by the log class prior "
        "(post-hoc logit adjustment, nothing tuned on test)."
    )
    defaults = {"tau": 1.0}
    reuses_model_of = "baseline"

    def threshold(self, config: ExperimentConfig) -> float:
        return float(self.params(config)["tau"]) * math.log(config.n_minority / config.n_majority)
