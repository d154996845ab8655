"""Protocols: one record each, read by the config, the data draw, the recipes, the CLI and
the app. Adding a protocol is one entry here; nothing else tests protocol names.

``clean`` is the honest default. ``blog`` reproduces the original code, leak included;
``blog-clean`` is that code with the leak fixed (the generator learns from training images).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    #: "seeded": a random draw per seed from MNIST train; "file-order": the first images
    #: in file order (the original code), the same for every seed.
    draw: str
    #: Where a generator's minority images come from: "train" or "test" (the leak).
    generator_images: str
    #: Outputs of the classifier: 2 (softmax) or 1 (the original's sigmoid logit).
    output_logits: int
    #: Batches of a preset that adds generated images: the original balanced them too.
    generated_batches: str
    #: How a generator draws its training batches: "random" (with replacement) or
    #: "cycle" (the original's full batch, in order).
    generator_batching: str
    #: The training budget a config of this protocol starts from.
    budget: Mapping[str, Any] = field(default_factory=dict)

    @property
    def leaky(self) -> bool:
        return self.generator_images == "test"

    @property
    def family(self) -> str:
        """Protocols of one family share a budget (switching within it keeps the user's)."""
        return "blog" if self.draw == "file-order" else "clean"


#: This project's budget: one seed of the default approaches in seconds on two CPU cores.
CLEAN_BUDGET = dict(classifier="mlp", steps=500, batch_size=64, lr=1e-3, latent_dim=20,
                    vae_steps=400, vae_batch_size=64, vae_lr=1e-3)
#: The original code's budget: 1000 steps of 128 (Adam 1e-3); VAE 1000 steps of 100.
BLOG_BUDGET = dict(classifier="mlp", steps=1000, batch_size=128, lr=1e-3, latent_dim=20,
                   vae_steps=1000, vae_batch_size=100, vae_lr=1e-3)

CLEAN = Protocol(
    "clean",
    "Random training draw per seed from MNIST train; generators learn from the minority "
    "training images; 2-logit classifier; this project's budget.",
    draw="seeded", generator_images="train", output_logits=2, generated_batches="random",
    generator_batching="random", budget=CLEAN_BUDGET,
)
BLOG = Protocol(
    "blog",
    "LEAKY - the original code: first images in file order, VAE trained full-batch on "
    "minority images of the TEST split, 1-logit MLP, balanced batches, 1000 steps of 128.",
    draw="file-order", generator_images="test", output_logits=1, generated_batches="balanced",
    generator_batching="cycle", budget=BLOG_BUDGET,
)
BLOG_CLEAN = Protocol(
    "blog-clean",
    "The original code with its leak fixed: as 'blog', but the VAE learns from the "
    "minority training images.",
    draw="file-order", generator_images="train", output_logits=1, generated_batches="balanced",
    generator_batching="cycle", budget=BLOG_BUDGET,
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (CLEAN, BLOG, BLOG_CLEAN)}
