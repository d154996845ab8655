"""The training draw plus images of each minority label from the recipe's generator, and
how training uses them: the loss weight of a generated image, the stage of a two-stage
batch policy they enter, and the share of real images given the generator's artefact."""

from __future__ import annotations

import numpy as np

from ...declarations.errors import ConfigError, VaeimbError
from ...declarations.params import Param
from ..data import label_counts
from .base import DataSource, TrainingSet

#: Added to the experiment's seed for the draw of the real rows replaced by their
#: reconstruction (``artefact_share``): one fixed draw per seed, shared by every recipe.
ARTEFACT_SEED = 2_750_159


class GeneratedData(DataSource):
    """Each minority label (every label but the head's) is filled up to ``fill_to`` times
    the head's count with generated images (1: as many as the head has; the pair: up to
    the majority count), or gets exactly ``n_generate`` new images when that is set.

    ``weight``, ``stage`` and ``artefact_share`` say how training uses the generated
    images; at their defaults (1, all, 0) it uses them as every real image."""

    name = "generated"
    description = "The real training draw plus images of each minority class from the recipe's generator."
    uses_generator = True
    label = "real images + {gen}-generated minority images"
    params = (
        Param("n_generate", None, "int", 0, 200_000, optional=True,
              help="generated images to add to each minority class (none = fill up to fill_to x the head count)"),
        Param("fill_to", 1.0, "float", 0.0, 1.0,
              help="fill each minority class up to this share of the head's count (1 = as many as the head)"),
        Param("weight", 1.0, "float", 0.0, 1.0,
              help="loss weight of a generated image relative to a real one (1 = the same, 0 = no gradient)"),
        Param("stage", "all", "choice", choices=("all", "second"),
              help="when generated images enter the batches: all = every step; second = only in the second "
                   "stage of batches=deferred (DRS; cRT with stage2=head)"),
        Param("artefact_share", 0.0, "float", 0.0, 1.0,
              help="share of every class's real images replaced by their reconstruction through the generator "
                   "(the same decoded artefact in every class)"),
    )

    def batches_conflict(self, batches) -> str | None:
        if self.values["stage"] == "second" and not getattr(batches, "two_stage", False):
            return (f"data stage=second keeps generated images for a batch policy's second stage, and batches "
                    f"'{batches.name}' have none: choose batches=deferred (DRS; stage2=head for cRT) or stage=all.")
        return None

    def generator_conflict(self, generator) -> str | None:
        if self.values["artefact_share"] > 0 and not (generator.has_latent and generator.uses_majority):
            return (f"data artefact_share={self.values['artefact_share']:g} passes real images of every class through "
                    f"the generator's autoencoder, and '{generator.name}' has none that learns every class: choose "
                    "gen=cvae, latent-smote or deepsmote, or artefact_share=0.")
        return None

    def n_generate(self, counts: tuple[int, ...]) -> dict[int, int]:
        fixed = self.values["n_generate"]
        target = int(round(self.values["fill_to"] * counts[0]))
        return {k: int(fixed) if fixed is not None else max(0, target - n) for k, n in enumerate(counts) if k > 0}

    def replaced_rows(self, n: int, seed: int) -> np.ndarray:
        """Which of ``n`` real rows are replaced by their reconstruction (bool, (n,)): each
        with probability ``artefact_share``, drawn once from ``seed + ARTEFACT_SEED``."""
        return np.random.default_rng(seed + ARTEFACT_SEED).random(n) < self.values["artefact_share"]

    def with_artefact(self, draw, reconstruct, seed: int) -> tuple[np.ndarray, tuple[int, ...]]:
        """The draw's real images with the ``replaced_rows`` of every label encoded and
        decoded by the generator (a copy: the draw is left as it is), and how many were
        replaced per label."""
        share = self.values["artefact_share"]
        if reconstruct is None or seed is None:
            raise ConfigError(f"data artefact_share={share:g} needs the generator's reconstruct() and the seed.")
        chosen = self.replaced_rows(len(draw.train_y), seed)
        x = np.array(draw.train_x, copy=True)
        replaced = []
        for k in range(draw.n_classes):
            rows = np.flatnonzero(chosen & (draw.train_y == k))
            if len(rows):
                try:
                    out = np.asarray(reconstruct(x[rows], k))
                except VaeimbError as err:  # e.g. a generator without an autoencoder for label k
                    raise ConfigError(f"data artefact_share={share:g}: {err}") from err
                if out.shape != (len(rows), *x.shape[1:]) or out.dtype != np.uint8:
                    raise VaeimbError(f"data artefact_share: reconstruct returned {out.shape} {out.dtype} for "
                                      f"{len(rows)} images of label {k}, not {(len(rows), *x.shape[1:])} uint8.")
                x[rows] = out
            replaced.append(int(len(rows)))
        return x, tuple(replaced)

    def training_set(self, draw, sample=None, *, reconstruct=None, seed=None) -> TrainingSet:
        counts = label_counts(draw.train_y, draw.n_classes)
        wanted = self.n_generate(counts)
        images = {k: sample(n, k) for k, n in wanted.items()}
        real_x, replaced = draw.train_x, ()
        if self.values["artefact_share"] > 0:
            real_x, replaced = self.with_artefact(draw, reconstruct, seed)
        x = np.concatenate([real_x, *images.values()])
        y = np.concatenate([draw.train_y, *(np.full(len(v), k, np.int64) for k, v in images.items())])
        return TrainingSet(x, y, counts, (0, *(len(v) for v in images.values())),
                           weight=self.values["weight"], stage=self.values["stage"], replaced=replaced)
