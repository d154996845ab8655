"""The judge: a small CNN trained once per dataset on all ten of its classes (train split), whose
penultimate-layer features are where generator quality is measured (``studies.quality``).

A classifier of all ten digits has to tell strokes, loops and slants apart, so distances
between its features follow what makes digits look different; pixel distances do not (a
one-pixel shift is a large pixel distance). Inception features, the usual choice for FID,
were learned on 299x299 photographs: they say little about 28x28 digits and need a large
download; this judge trains in about 25 s on one CPU core, once per machine (cached).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..declarations.errors import ConfigError
from .data import Images
from .models import conv_features
from .training import Progress, adam, pick_device, seeded_init, to_tensor

JUDGE_KIND = "judge"
#: Bump when the judge's architecture or training loop changes (it is part of the cache key).
JUDGE_VERSION = 1
JUDGE_EPOCHS = 2
JUDGE_BATCH_SIZE = 128
JUDGE_LR = 1e-3
JUDGE_SEED = 0
FEATURE_DIM = 128


class JudgeNet(nn.Module):
    """Two strided conv layers (16, 32 channels), a 128-unit ReLU layer (the features), 10 logits.

    The size of the experiment's own CNN: it reaches about 98% test accuracy in two epochs,
    and 32/64 channels would cost four times the CPU time per step.
    """

    def __init__(self, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.body = nn.Sequential(*conv_features(3), nn.Linear(32 * 7 * 7, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.view(-1, 1, 28, 28))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def check_images(images: np.ndarray, what: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ConfigError(f"{what} must be uint8 images of shape (n, 28, 28); got {images.dtype} {images.shape}.")
    return images


@dataclass
class Judge:
    """The trained judge (on the CPU, in evaluation mode) and how it was made."""

    model: JudgeNet
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """Its accuracy on all of MNIST test: a sanity figure for the judge, used for nothing else."""
        return float(self.info["test_accuracy"])

    @property
    def feature_dim(self) -> int:
        return int(self.info["feature_dim"])

    @torch.no_grad()
    def features(self, images: np.ndarray, chunk: int = 2048) -> np.ndarray:
        """uint8 images (n, 28, 28) -> penultimate-layer features (n, feature_dim), float32."""
        images = check_images(images, "Judge.features input")
        cpu = torch.device("cpu")
        # np.array copies each chunk: MNIST's arrays are read-only views, which torch warns about.
        out = [self.model.features(to_tensor(np.array(images[i : i + chunk]), cpu))
               for i in range(0, len(images), chunk)]
        if not out:
            return np.zeros((0, self.feature_dim), np.float32)
        return torch.cat(out).numpy().astype(np.float32, copy=False)


def images_fingerprint(images: Images) -> str:
    """A cheap identity of the training data, so another dataset (or another copy) gets its own judge."""
    h = hashlib.sha256()
    h.update(str(images.train_images.shape).encode())
    h.update(np.ascontiguousarray(images.train_labels).tobytes())
    h.update(np.ascontiguousarray(images.train_images[::97]).tobytes())
    return h.hexdigest()[:16]


def judge_settings(max_train: int | None = None, epochs: int = JUDGE_EPOCHS, seed: int = JUDGE_SEED) -> dict:
    return {
        "version": JUDGE_VERSION,
        "feature_dim": FEATURE_DIM,
        "epochs": int(epochs),
        "batch_size": JUDGE_BATCH_SIZE,
        "lr": JUDGE_LR,
        "seed": int(seed),
        "max_train": None if max_train is None else int(max_train),
    }


def train_judge(images: Images, settings: dict, progress: Progress) -> tuple[dict, dict[str, np.ndarray]]:
    """Adam on shuffled mini-batches of the train split (all ten classes), then one pass over test."""
    device = pick_device()
    seed = settings["seed"]
    n = len(images.train_images)
    if settings["max_train"] is not None:
        n = min(settings["max_train"], n)
    gen = torch.Generator().manual_seed(seed + 2038074743)
    pick = torch.randperm(len(images.train_images), generator=gen)[:n].numpy()
    # The images are read where they lie (the dataset's shared, memory-mapped copy: no 47 MB
    # of MNIST train of this process's own, let alone 188 MB as floats), one batch at a time;
    # each batch becomes floats as ``to_tensor`` makes them.
    y = torch.from_numpy(images.train_labels[pick].astype(np.int64)).to(device)
    model = seeded_init(seed, lambda: JudgeNet(settings["feature_dim"]), device)
    opt = adam(model.parameters(), settings["lr"], fused=False)  # as torch.optim.Adam on a CPU, bit for bit
    bs = settings["batch_size"]
    per_epoch = -(-n // bs)
    total = settings["epochs"] * per_epoch
    t0 = time.perf_counter()
    step = 0
    for _ in range(settings["epochs"]):
        order = torch.randperm(n, generator=gen)
        rows = pick[order.numpy()]  # this epoch's images, in order, as rows of the dataset
        order = order.to(device)
        for i in range(0, n, bs):
            batch = torch.from_numpy(np.ascontiguousarray(images.train_images[rows[i : i + bs]])).to(device)
            loss = F.cross_entropy(model(batch.to(torch.float32).div_(255.0)), y[order[i : i + bs]])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if progress is not None and (step % 20 == 0 or step == total):
                progress(step, total)
    seconds = time.perf_counter() - t0
    model = model.cpu().eval()
    with torch.no_grad():
        chunks = (np.array(images.test_images[i : i + 4096]) for i in range(0, len(images.test_images), 4096))
        pred = torch.cat([model(to_tensor(c, torch.device("cpu"))).argmax(1) for c in chunks]).numpy()
    accuracy = float(np.mean(pred == images.test_labels)) if len(pred) else float("nan")
    info = {
        **settings,
        "n_train": int(n),
        "steps": int(total),
        "seconds": seconds,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "test_accuracy": accuracy,
    }
    state = {f"state/{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return {"info": info}, state
