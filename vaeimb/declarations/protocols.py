"""Protocols: one record each, read by the config, the data draw, the recipes, the CLI and
the app. Adding a protocol is one entry here; nothing else tests protocol names.

``clean`` is the honest default. ``blog`` reproduces the original code, leak included;
``blog-clean`` is that code with the leak fixed (the generator learns from training images).
"""

from __future__ import annotations

import dataclasses
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
    #: The budget settings (``vaeimb.declarations.schema``, those marked ``budget``) this protocol sets;
    #: the others keep the schema's defaults. ``vaeimb.declarations.schema.budget(name)`` is the whole budget.
    budget: Mapping[str, Any] = field(default_factory=dict)
    #: How the app's protocol picker shows it.
    label: str = ""
    #: The task kinds (``vaeimb.declarations.task_kinds``) it serves, the first being the one it implies.
    tasks: tuple[str, ...] = ("pair",)
    #: Protocols of one family share a budget (switching within it keeps the user's).
    family: str = "clean"
    #: The fixed seed that draws a task's test subsets (the long tail's balanced and
    #: imbalanced sets) from MNIST's official test split: one draw for every experiment seed,
    #: in every cache key and result.
    test_seed: int = 20221

    @property
    def leaky(self) -> bool:
        return self.generator_images == "test"


#: The original code's budget: 1000 steps of 128 (Adam 1e-3); VAE 1000 steps of 100.
BLOG_BUDGET = dict(classifier="mlp", steps=1000, batch_size=128, lr=1e-3, latent_dim=20,
                   generator_steps=1000, generator_batch_size=100, generator_lr=1e-3)

#: This project's budget (the schema's defaults): one seed of the default approaches in
#: seconds on two CPU cores.
CLEAN = Protocol(
    "clean",
    "Random training draw per seed from MNIST train; generators learn from the minority "
    "training images; 2-logit classifier; this project's budget.",
    draw="seeded", generator_images="train", output_logits=2, generated_batches="random",
    generator_batching="random", label="clean (honest default)", tasks=("pair", "longtail"),
)
BLOG = Protocol(
    "blog",
    "LEAKY - the original code: first images in file order, VAE trained full-batch on "
    "minority images of the TEST split, 1-logit MLP, balanced batches, 1000 steps of 128.",
    draw="file-order", generator_images="test", output_logits=1, generated_batches="balanced",
    generator_batching="cycle", budget=BLOG_BUDGET, label="blog — LEAKY: VAE trained on TEST images", family="blog",
)
#: The original code with its leak fixed: ``blog`` but for where the generator's images come from.
BLOG_CLEAN = dataclasses.replace(
    BLOG, name="blog-clean", generator_images="train",
    description="The original code with its leak fixed: as 'blog', but the VAE learns from the "
    "minority training images.",
    label="blog-clean (original code, leak fixed)",
)

#: DeepSMOTE's MNIST budget on this project's small models: the small CNN, 2000 steps of 128
#: (Dablain et al. 2022 train a ResNet-18; ``--classifier resnet18`` is that).
DEEPSMOTE_BUDGET = dict(classifier="cnn", steps=2000, batch_size=128, lr=1e-3, latent_dim=20,
                        generator_steps=2000, generator_batch_size=128, generator_lr=1e-3)
DEEPSMOTE = Protocol(
    "deepsmote",
    "The ten-digit long tail on DeepSMOTE's counts (Dablain et al. 2022): a random training draw per "
    "seed from MNIST train, fixed test sets from the official test split (balanced: 892 per digit; "
    "imbalanced: the training proportions), generators learn from training images, small CNN, 2000 "
    "steps of 128.",
    draw="seeded", generator_images="train", output_logits=2, generated_batches="random",
    generator_batching="random", budget=DEEPSMOTE_BUDGET, label="deepsmote (ten-digit long tail)",
    tasks=("longtail",), family="deepsmote",
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (CLEAN, BLOG, BLOG_CLEAN, DEEPSMOTE)}
