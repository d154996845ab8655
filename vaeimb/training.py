"""Training loops: a classifier trained with a recipe's batches, augmentation and loss.

Every random choice comes from generators seeded by the run's seed, so the same config
and seed reproduce the same numbers on the same machine.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from .models import make_classifier, minority_logit

#: ``progress(done, total)``: called during training; it may raise to abort the run.
Progress = Optional[Callable[[int, int], None]]

_threads_set = False
#: Weight initialisation draws from torch's global RNG; two sessions training at once (two
#: browser tabs share one process) must not interleave their seeding and initialisation.
_INIT_LOCK = threading.Lock()


def seeded_init(seed: int, build: Callable[[], torch.nn.Module], device: torch.device) -> torch.nn.Module:
    """Build a model with weights that depend on ``seed`` alone, whatever other threads do."""
    with _INIT_LOCK:
        torch.manual_seed(seed)
        return build().to(device)


def pick_device() -> torch.device:
    """The GPU when one is present (and not disabled by ``VAEIMB_DEVICE=cpu``), else the CPU."""
    wanted = os.environ.get("VAEIMB_DEVICE", "").strip().lower()
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def use_all_cores() -> None:
    """Give torch every core this process may use, or ``$VAEIMB_THREADS`` of them.

    Containers often report more cores (nproc) than the process may use; capping the
    threads helps when several trainings share the machine (app sessions, parallel CI).
    """
    global _threads_set
    if not _threads_set:
        wanted = os.environ.get("VAEIMB_THREADS", "").strip()
        if wanted.isdigit() and int(wanted) > 0:
            n = int(wanted)
        else:
            try:
                n = len(os.sched_getaffinity(0))
            except AttributeError:  # pragma: no cover - not on Linux
                n = os.cpu_count() or 1
        torch.set_num_threads(max(1, n))
        _threads_set = True


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1] on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device=device, dtype=torch.float32).div_(255.0)


def checkpoint_steps(steps: int, n_checkpoints: int) -> np.ndarray:
    """Evenly spaced steps at which the test error is recorded; always includes the last."""
    pts = np.unique(np.round(np.linspace(steps / n_checkpoints, steps, n_checkpoints)).astype(int))
    return pts[pts >= 1]


@torch.no_grad()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, chunk: int = 4096) -> np.ndarray:
    """Minority log-odds for every row of ``x`` (evaluation mode, no gradients)."""
    was_training = model.training
    model.eval()
    out = torch.cat([minority_logit(model(x[i : i + chunk])) for i in range(0, len(x), chunk)])
    model.train(was_training)
    return out.float().cpu().numpy()


@dataclass
class ClassifierRun:
    """What a classifier's training leaves: log-odds of each evaluation set at each checkpoint."""

    steps: np.ndarray  # (C,)
    logits: dict[str, np.ndarray]  # name -> (C, n); the last row is the final model


def train_classifier(
    classifier: str,
    n_outputs: int,
    train_x: np.ndarray,
    train_y: np.ndarray,
    eval_x: dict[str, np.ndarray],
    *,
    batches,
    loss,
    augmentation=None,
    n_minority_real: int | None = None,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    n_checkpoints: int,
    progress: Progress = None,
) -> ClassifierRun:
    """Adam on batches chosen by the ``batches`` policy, minority rows augmented by
    ``augmentation``, scored by ``loss`` on the minority log-odds.

    ``eval_x`` (test images, a validation split) only ever gets predictions: no label of
    an evaluation set is passed here, so nothing in training can read one.
    """
    from .losses.base import LossContext

    use_all_cores()
    device = pick_device()
    model = seeded_init(seed, lambda: make_classifier(classifier, n_outputs), device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed + 7919)
    aug_gen = torch.Generator().manual_seed(seed + 611953)
    x = to_tensor(train_x, device)
    y_np = np.asarray(train_y, dtype=np.int64)
    y = torch.from_numpy(y_np).to(device)
    evals = {name: to_tensor(ex, device) for name, ex in eval_x.items()}
    batches.prepare(y_np)
    n_min = int(y_np.sum())
    counts = dict(n_majority=int(len(y_np) - n_min), n_minority=n_min,
                  n_minority_real=int(n_min if n_minority_real is None else n_minority_real), steps=steps)
    ckpts = checkpoint_steps(steps, n_checkpoints)
    logits: dict[str, list[np.ndarray]] = {name: [] for name in evals}
    every = max(1, steps // 100)
    for step in range(1, steps + 1):
        idx = batches.indices(batch_size, gen).to(device)
        xb, yb = x[idx], y[idx]
        if augmentation is not None:
            xb = augmentation(xb, yb, aug_gen)
        value = loss(minority_logit(model(xb)), yb, LossContext(step=step, **counts))
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        if step in ckpts:
            for name, ex in evals.items():
                logits[name].append(predict_logits(model, ex))
        if progress is not None and (step % every == 0 or step == steps):
            progress(step, steps)
    return ClassifierRun(steps=ckpts, logits={k: np.stack(v).astype(np.float32) for k, v in logits.items()})
