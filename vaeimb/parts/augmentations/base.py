"""The contract of an on-the-fly augmentation of the images in each batch.

Which classes it transforms is one parameter of every augmentation, declared here once
(``CLASSES``): ``all`` (the default) or ``minority`` (labels 1..K-1, every class but the
head, label 0). Augmenting the minority alone gives a classifier a shortcut the test
images do not have: bilinear resampling smooths the strokes, so "looks resampled" comes to
mean "minority". ``minority`` is kept to compare with the earlier recipes.

An augmentation that would change what an image of some dataset is (a mirrored digit) says
so (``needs_flips``; ``refused_on``), and a recipe asking for it there is refused before
anything trains (``vaeimb.running.recipes.build_approaches``).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

from ...declarations.datasets import DATASETS, Dataset
from ...declarations.params import Param
from ...declarations.part import Part

if TYPE_CHECKING:
    import torch

#: Which rows of a batch an augmentation transforms; every augmentation declares it.
CLASSES = Param("classes", "all", "choice", choices=("all", "minority"),
                help="all: every image of the batch (no class carries the resampling's smoothing alone); "
                     "minority: the minority classes only (labels 1..K-1, the earlier recipes').")


class Augmentation(Part):
    kind = "augmentation"
    params = (CLASSES,)
    #: It mirrors images: only a dataset whose classes survive a horizontal flip may use it.
    needs_flips: ClassVar[bool] = False

    @classmethod
    def refused_on(cls, ds: Dataset, asked_as: str = "") -> str | None:
        """Why this augmentation would change the classes of dataset ``ds`` (None: it keeps
        them). ``asked_as``: how the recipe named it (``aug=flip``, ``gen.train_aug=flip``)."""
        if cls.needs_flips and not ds.flips:
            able = ", ".join(d.title for d in DATASETS.values() if d.flips) or "none here"
            return (f"{asked_as or 'aug=' + cls.name} mirrors images left-right, and flips change a {ds.noun}'s "
                    f"meaning; {ds.title} declares no flips (datasets that do: {able}).")
        return None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A batch ``x`` (B, 28, 28) float in [0, 1] with the rows of the chosen classes
        transformed (``classes``: all of them, or the minority rows y != 0); every random
        draw comes from ``generator`` (seeded per run)."""
        import torch  # torch: loaded where the part computes, its class loads torch-free

        if self.values.get("classes", "all") == "all":
            return self._transform(x, generator)
        rows = torch.nonzero(y != 0).flatten()
        if len(rows) == 0:
            return x
        out = x.clone()
        out[rows] = self._transform(x[rows], generator)
        return out

    @abstractmethod
    def _transform(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Every image of ``x`` (n, 28, 28) transformed; draws from ``generator`` only."""
