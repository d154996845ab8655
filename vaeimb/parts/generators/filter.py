"""Which generated images are kept: a confidence filter on the generator's own training data.

A generator's images can be off-class (a blurred 9 that reads as a 4). The filter keeps an
image only when a classifier trained on the REAL training images of every class (those the
generator learned from: never a test image, never the judge network that measures quality)
gives its intended class a probability of at least ``q``. The filter is the experiment's
own small CNN trained on class-balanced, affine-jittered batches, so the rarest class is
learned as well as the head; it is fitted with the generator, stored in its state, and
samples are drawn in rounds until enough pass (the rejection rate is recorded).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..augmentations.affine import RandomAffine
from ..models import make_classifier
from ..training import adam, fast_layout, seeded_init, standard_layout, to_tensor

#: The filter's training: steps, batch size (split evenly over the classes), learning rate.
FILTER_STEPS, FILTER_BATCH, FILTER_LR = 1000, 64, 1e-3
#: Seed offset of the filter's weights, batches and jitter (apart from the generator's own).
FILTER_SEED = 86_028_121
#: Images classified per forward pass.
CHUNK = 2048


class ConfidenceFilter:
    """A K-class CNN on the real training images; ``keep`` says which images pass ``q``."""

    def __init__(self, n_classes: int):
        self.n_classes = int(n_classes)
        self.model = make_classifier("cnn", self.n_classes).eval()

    def fit(self, by_class: Sequence[np.ndarray], seed: int) -> "ConfidenceFilter":
        """Adam on class-balanced batches of ``by_class`` (uint8 images of each label), every
        image affine-jittered; everything seeded from ``seed``. Runs on the CPU (it is small)."""
        cpu = torch.device("cpu")
        xs = [to_tensor(x, cpu) for x in by_class]
        model = fast_layout(seeded_init(seed + FILTER_SEED, lambda: make_classifier("cnn", self.n_classes), cpu))
        opt = adam(model.parameters(), FILTER_LR)
        gen = torch.Generator().manual_seed(seed + FILTER_SEED)
        jitter = RandomAffine()
        per_class = max(1, FILTER_BATCH // self.n_classes)
        labels = torch.cat([torch.full((per_class,), c, dtype=torch.long) for c in range(self.n_classes)])
        model.train()
        for _ in range(FILTER_STEPS):
            xb = torch.cat([x[torch.randint(len(x), (per_class,), generator=gen)] for x in xs])
            xb = jitter(xb, labels, gen)
            loss = torch.nn.functional.cross_entropy(model(xb.view(-1, 1, 28, 28)), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.model = standard_layout(model).eval()
        return self

    @torch.no_grad()
    def probabilities(self, images: np.ndarray, label: int) -> np.ndarray:
        """P(``label``) of each uint8 image (n, 28, 28), float32 (n,)."""
        x = to_tensor(images, torch.device("cpu"))
        out = [torch.softmax(self.model(x[i : i + CHUNK].view(-1, 1, 28, 28)), 1)[:, label]
               for i in range(0, len(x), CHUNK)]
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    def keep(self, images: np.ndarray, label: int, q: float) -> np.ndarray:
        """Boolean mask of the images whose probability of ``label`` is at least ``q``."""
        return self.probabilities(images, label) >= q

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"filter/{k}": v.detach().cpu().numpy().astype(np.float32) for k, v in self.model.state_dict().items()}

    @classmethod
    def from_arrays(cls, n_classes: int, arrays: dict[str, np.ndarray]) -> "ConfidenceFilter":
        out = cls(n_classes)
        state = {k[len("filter/"):]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("filter/")}
        out.model.load_state_dict(state)
        out.model.eval()
        return out
