"""Remix (Chou, Chang, Pan, Wei & Juan, "Remix: Rebalanced mixup", ECCV 2020 workshops):
mixup whose label leans to the rarer class of a pair."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...declarations.errors import ConfigError
from ...declarations.params import Param
from ...declarations.part import each_class
from .base import ALPHA, Mixing, check_alpha

if TYPE_CHECKING:
    import torch


class Remix(Mixing):
    """Images mixed as mixup's; the label of the pair (i, j), with counts ``n_i``, ``n_j``:
    all ``j``'s when ``n_i / n_j >= kappa`` and ``lam < tau`` (``i`` is the frequent class and
    contributes little of the image), all ``i``'s when ``n_i / n_j <= 1 / kappa`` and
    ``1 - lam < tau``, else mixup's ``lam`` (Chou et al., eq. 3; their defaults kappa = 3,
    tau = 0.5). The counts are the training set's (real and generated images)."""

    name = "remix"
    description = "Remix: mixup whose label goes to the rarer class when its image is the larger part."
    cite = "Chou et al., Remix: Rebalanced mixup, ECCV 2020 workshops"
    params = (
        ALPHA,
        Param("kappa", 3.0, "float", 1.0, 1000.0,
              help="Count ratio from which a pair's label leans to the rarer class."),
        Param("tau", 0.5, "float", 0.0, 1.0,
              help="The rarer class takes the label when its image weight is above 1 - tau."),
    )

    def __init__(self, **values):
        super().__init__(**values)
        check_alpha(self.values["alpha"], f"mixing '{self.name}'")

    def prepare(self, counts: tuple[int, ...]) -> None:
        super().prepare(tuple(each_class(counts, f"mixing '{self.name}'")))

    def label_weights(self, y_a: torch.Tensor, y_b: torch.Tensor, lam: float) -> torch.Tensor:
        """Each row's weight of label ``y_a`` (0, ``lam`` or 1), float64."""
        import torch  # torch: loaded where the part computes, its class loads torch-free

        if not hasattr(self, "_counts"):
            raise ConfigError(f"mixing '{self.name}': call prepare(counts) before mixing.")
        n = torch.tensor(self._counts, dtype=torch.float64, device=y_a.device)
        ratio = n[y_a] / n[y_b]
        kappa, tau = self.values["kappa"], self.values["tau"]
        w = torch.full(ratio.shape, lam, dtype=torch.float64, device=y_a.device)
        w = torch.where((ratio >= kappa) & (lam < tau), torch.zeros_like(w), w)
        w = torch.where((ratio <= 1.0 / kappa) & (1.0 - lam < tau), torch.ones_like(w), w)
        return w

    def _labels(self, y_a, y_b, lam):
        import torch  # torch: loaded where the part computes, its class loads torch-free

        w = self.label_weights(y_a.long(), y_b.long(), lam)
        # weight 0: the row's label is y_b's alone; weight 1: y_a's alone (see base.Mixed)
        return torch.where(w == 0, y_b, y_a), torch.where(w == 1, y_a, y_b)
