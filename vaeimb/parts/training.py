"""Training loops: a classifier trained with a recipe's batches, augmentation and loss.

Every random choice comes from generators seeded by the run's seed, so the same config
and seed reproduce the same numbers on the same machine.

This module loads torch-free: torch is imported where something is computed, so the
identity a cache key needs (threads, precision, device) is known without it and a run
whose results are all cached never loads torch.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from ..declarations.errors import ConfigError
from ..declarations.jobs import Identity
from .augmentations.none import NoAugmentation
from .data import label_counts
from .losses.base import LossContext
from .mixing.none import NoMixing

if TYPE_CHECKING:
    import torch

#: ``progress(done, total)``: called during training; it may raise to abort the run.
Progress = Optional[Callable[[int, int], None]]

#: Weight initialisation draws from torch's global RNG; two sessions training at once (two
#: browser tabs share one process) must not interleave their seeding and initialisation.
_INIT_LOCK = threading.Lock()


def no_grad(fn: Callable) -> Callable:
    """``torch.no_grad()`` as a decorator that imports torch when ``fn`` runs, not when the
    module defining ``fn`` loads (a part's class stays importable without torch)."""

    @functools.wraps(fn)
    def without_gradients(*args, **kwargs):
        import torch  # torch: loaded when the decorated code computes

        with torch.no_grad():
            return fn(*args, **kwargs)

    return without_gradients


def seeded_init(seed: int, build: Callable[[], torch.nn.Module], device: torch.device) -> torch.nn.Module:
    """Build a model with weights that depend on ``seed`` alone, whatever other threads do."""
    import torch  # torch: a model is being built

    with _INIT_LOCK:
        torch.manual_seed(seed)
        return build().to(device)


def pick_device() -> torch.device:
    """The GPU when one is present (and not disabled by ``VAEIMB_DEVICE=cpu``), else the CPU:
    ``device_type``'s choice, as a torch device."""
    import torch  # torch: the device something is computed on

    wanted = os.environ.get("VAEIMB_DEVICE", "").strip().lower()
    return torch.device(wanted or device_type())


def device_type() -> str:
    """The type of the device jobs train on and are keyed by ("cpu", "cuda"):
    ``$VAEIMB_DEVICE``'s, else "cuda" when ``cuda_available``, else "cpu". Torch-free."""
    wanted = os.environ.get("VAEIMB_DEVICE", "").strip().lower()
    if wanted:
        return wanted.partition(":")[0]
    return "cuda" if cuda_available() else "cpu"


def _torch_build() -> dict | None:
    """The constants of the installed torch's ``version.py`` (``cuda``, ``hip``: the toolkit
    it was built for, or None), read without importing torch; None when there is none to read."""
    spec = importlib.util.find_spec("torch")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    try:
        tree = ast.parse((Path(folders[0]) / "version.py").read_text())
    except (IndexError, OSError, SyntaxError):
        return None
    out = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else getattr(node, "target", None)
        if isinstance(target, ast.Name) and getattr(node, "value", None) is not None:
            try:
                out[target.id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


def _cuda_driver(major: int) -> bool:
    """Whether the CUDA driver (libcuda, through ctypes) supports toolkit ``major`` and sees
    a device: what CUDA's runtime asks the driver when torch asks it for the device count
    (``cuInit``, ``cuDriverGetVersion``, ``cuDeviceGetCount``; ``CUDA_VISIBLE_DEVICES`` honoured)."""
    import ctypes

    for name in ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so", "libcuda.dylib"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        version, count = ctypes.c_int(0), ctypes.c_int(0)
        return (lib.cuInit(0) == 0 and lib.cuDriverGetVersion(ctypes.byref(version)) == 0
                and version.value // 1000 >= major
                and lib.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0)
    return False


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    """``torch.cuda.is_available()``, told without importing torch where it can be: a torch
    built without CUDA has none; a CUDA build has one when the driver supports its toolkit
    and sees a device (``_cuda_driver``). Any other build (ROCm) asks torch itself. Asked
    once per process: the answer decides the device in every cache key it computes."""
    build = _torch_build()
    if build is not None and not build.get("hip"):
        cuda = build.get("cuda")
        if not cuda:
            return False
        try:
            return _cuda_driver(int(str(cuda).split(".")[0]))
        except ValueError:
            pass
    import torch  # torch: a build this module cannot read asks torch itself

    return torch.cuda.is_available()


def usable_cores() -> int:
    """Cores this process may use (containers often report more with nproc)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


#: Torch threads per job: ``$VAEIMB_THREADS``, else one.
THREADS_ENV = "VAEIMB_THREADS"


def threads_from_env() -> int:
    """Torch threads every job runs with: ``$VAEIMB_THREADS`` (a positive integer), else 1.

    One rule for every backend: a job's thread count never depends on where it runs, so
    in-process, local worker processes and Ray compute the same cache entry; parallelism
    comes from running jobs side by side (one worker per core).
    """
    wanted = os.environ.get(THREADS_ENV, "").strip()
    return int(wanted) if wanted.isdigit() and int(wanted) > 0 else 1


def set_threads(n: int) -> None:
    """Fix torch's thread count for this process (the one place that does). The count
    enters every cache key (reductions are ordered by thread)."""
    import torch  # torch: its thread count is set before it computes

    if torch.get_num_threads() != max(1, int(n)):
        torch.set_num_threads(max(1, int(n)))


#: ``--precision``: fp32; bf16 autocast (CPU with native bf16, or GPU); auto = what
#: ``auto_precision`` picks for the device.
PRECISIONS = ("fp32", "bf16", "auto")
_precision = "fp32"


def auto_precision(device: str | torch.device) -> str:
    """What ``auto`` means on ``device`` (a device type, or a torch device): bf16 only where a paired-seed benchmark showed
    it faster with equal errors. On this project's CPUs (AMD EPYC, Zen 4) bf16 autocast
    made steps 3-5x slower (BENCHMARKS.md), and no GPU has been measured yet: fp32."""
    return "fp32"


def set_precision(name: str) -> str:
    """Set this process's training precision (it enters every cache key); returns the
    resolved one (``auto`` -> fp32 or bf16)."""
    global _precision
    if name not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}.")
    _precision = auto_precision(device_type()) if name == "auto" else name
    return _precision


def precision() -> str:
    return _precision


def current_identity() -> Identity:
    """The identity a job started from this process gets: ``threads_from_env()`` torch
    threads, the precision set by ``--precision``, and the device ``pick_device`` chooses."""
    return Identity(threads=threads_from_env(), precision=precision(), device=device_type())


def use_identity(identity: Identity) -> None:
    """Compute with ``identity``'s threads and precision (the runner calls this before it
    trains anything, so an entry's numbers match its key whichever process computes it)."""
    global _precision
    set_threads(identity.threads)
    _precision = identity.precision


def autocast(device: torch.device):
    """The forward passes' precision context (a no-op in fp32)."""
    import torch  # torch: a forward pass is being computed

    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=_precision == "bf16")


def fast_layout(model: torch.nn.Module) -> torch.nn.Module:
    """A conv model in channels-last layout for training: oneDNN's kernels (the VAE's
    transposed convolutions above all) then run about twice as fast on a CPU. The same
    arithmetic in another order, so errors stay equal within noise (BENCHMARKS.md);
    ``standard_layout`` puts a trained model back before it is kept or sampled."""
    import torch  # torch: a model is being trained

    if any(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in model.modules()):
        model = model.to(memory_format=torch.channels_last)
    return model


def standard_layout(model: torch.nn.Module) -> torch.nn.Module:
    import torch  # torch: a trained model is being kept

    return model.to(memory_format=torch.contiguous_format)


class Adam:
    """Adam (Kingma & Ba 2015) as ``torch.optim.Adam(params, lr)`` computes it on a CPU, with
    ``fused=True`` (``kernel="fused"``: ``torch._fused_adam_``, one pass over the weights) or
    without (``kernel="single"``: torch's loop over the weights, one at a time): the same
    state (``exp_avg``, ``exp_avg_sq``, a float32 step per weight, made at the weight's first
    gradient) and the same operations in the same order, so the same weights bit for bit.

    Why not ``torch.optim.Adam`` itself: in torch 2.x every ``Optimizer.step`` (and the first
    ``zero_grad``) imports ``torch._dynamo``, and with it sympy and triton: 150 MB more Pss in
    every training process (505 -> 655 MB with the default wheel) for a compiler nothing here
    uses (BENCHMARKS.md, "App on one core").
    """

    KERNELS = ("fused", "single")

    def __init__(self, params, lr: float, *, kernel: str = "fused", betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        if kernel not in self.KERNELS:
            raise ValueError(f"kernel must be one of {self.KERNELS}, got {kernel!r}")
        self.params = list(params)
        self.kernel = kernel
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.state: dict = {}  # weight -> (exp_avg, exp_avg_sq, step)

    def zero_grad(self) -> None:
        """Drop the gradients (``torch.optim``'s default, ``set_to_none=True``)."""
        for p in self.params:
            p.grad = None

    def _state(self, p) -> tuple:
        import torch  # torch: a model is being trained

        if p not in self.state:
            # the fused kernel keeps its step on the weight's device, torch's loop on the CPU
            where = p.device if self.kernel == "fused" else torch.device("cpu")
            self.state[p] = (torch.zeros_like(p, memory_format=torch.preserve_format),
                             torch.zeros_like(p, memory_format=torch.preserve_format),
                             torch.zeros((), dtype=torch.float32, device=where))
        return self.state[p]

    def step(self) -> None:
        import torch  # torch: a model is being trained

        live = [p for p in self.params if p.grad is not None]
        with torch.no_grad():
            if self.kernel == "single":
                for p in live:
                    self._single(p, *self._state(p))
                return
            groups: dict = {}  # (device, dtype) -> the kernel's five lists, as torch groups them
            for p in live:
                lists = groups.setdefault((p.device, p.dtype), ([], [], [], [], []))
                for where, t in zip(lists, (p, p.grad, *self._state(p))):
                    where.append(t)
            beta1, beta2 = self.betas
            for params, grads, avgs, sqs, steps in groups.values():
                torch._foreach_add_(steps, 1)
                torch._fused_adam_(params, grads, avgs, sqs, [], steps, amsgrad=False, lr=self.lr, beta1=beta1,
                                   beta2=beta2, weight_decay=0.0, eps=self.eps, maximize=False, grad_scale=None,
                                   found_inf=None)

    def _single(self, p, avg, sq, step_t) -> None:
        """torch's ``_single_tensor_adam`` for one weight (no weight decay, amsgrad, capture)."""
        beta1, beta2 = self.betas
        grad = p.grad
        step_t += 1
        avg.lerp_(grad, 1 - beta1)
        sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = step_t.item()
        step_size = self.lr / (1 - beta1**step)
        denom = (sq.sqrt() / (1 - beta2**step) ** 0.5).add_(self.eps)
        p.addcdiv_(avg, denom, value=-step_size)


def adam(params, lr: float, *, fused: bool = True):
    """Adam without ``torch.optim``'s import of its compiler (``Adam``): with torch's fused
    kernel (one pass over the weights instead of a dozen small ones: MLP steps about 25 %
    faster on a CPU), or ``fused=False`` torch's own CPU default, one weight at a time (the
    judge's, trained so before). ``torch.optim.Adam`` where ours would not compute what it
    computes: a device without the fused kernel (an old torch), or ``fused=False`` off the CPU
    (torch then loops over the weights in groups)."""
    import torch  # torch: a model is being trained

    params = list(params)
    devices = {p.device.type for p in params}
    if not fused:
        return Adam(params, lr, kernel="single") if devices <= {"cpu"} else torch.optim.Adam(params, lr=lr)
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices  # torch: as above
        kernels = set(_get_fused_kernels_supported_devices())
    except ImportError:  # pragma: no cover - torch < 2.4
        kernels = set()
    if hasattr(torch, "_fused_adam_") and devices <= kernels:
        return Adam(params, lr)
    return torch.optim.Adam(params, lr=lr)  # pragma: no cover - torch < 2.4, or a device without the kernel


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1] on ``device``."""
    import torch  # torch: images become tensors where something computes

    return torch.from_numpy(np.ascontiguousarray(images)).to(device=device, dtype=torch.float32).div_(255.0)


def checkpoint_steps(steps: int, n_checkpoints: int) -> np.ndarray:
    """Evenly spaced steps at which the test error is recorded; always includes the last."""
    pts = np.unique(np.round(np.linspace(steps / n_checkpoints, steps, n_checkpoints)).astype(int))
    return pts[pts >= 1]


@no_grad
def predict_logits(model: torch.nn.Module, x: torch.Tensor, chunk: int = 4096, n_classes: int = 2) -> np.ndarray:
    """``models.scores`` of every row of ``x``: minority log-odds (n,) for two classes,
    logits (n, K) for more (evaluation mode, no gradients)."""
    import torch  # torch: a model is predicting

    from .models import scores  # torch: the networks load with it

    was_training = model.training
    model.eval()
    with autocast(x.device):
        out = torch.cat([scores(model(x[i : i + chunk]), n_classes).float() for i in range(0, len(x), chunk)])
    model.train(was_training)
    return out.float().cpu().numpy()


def classifier_head(model: torch.nn.Module) -> torch.nn.Linear:
    """The classifier's last layer: its last ``nn.Linear`` (the MLP's and the CNN's output
    layer, ResNet-18's ``fc``)."""
    import torch  # torch: a model is being re-trained

    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linear:
        raise ValueError(f"{type(model).__name__} has no linear output layer to re-train.")
    return linear[-1]


def retrain_head(model: torch.nn.Module, seed: int, lr: float):
    """The second stage of classifier re-training (cRT, Kang et al. 2020): every weight but
    the last layer's frozen (normalisation statistics too: the features stay as learned), the
    last layer re-initialised from ``seed``; returns the optimiser of that layer alone."""
    import torch  # torch: a model is being re-trained

    head = classifier_head(model)
    model.eval()  # batch-norm statistics (ResNet-18) stay those of the first stage
    for p in model.parameters():
        p.requires_grad_(False)
    with _INIT_LOCK:
        torch.manual_seed(seed + 104_729)
        head.reset_parameters()
    for p in head.parameters():
        p.requires_grad_(True)
    return adam(head.parameters(), lr)


def weigh_generated(loss: Callable, generated: torch.Tensor, weight: float) -> Callable:
    """``loss`` of a batch whose rows ``generated`` (bool, (B,)) are generated images, each
    weighing ``weight`` (lambda) times a real row: with ``n_r`` real and ``n_g`` generated
    rows, ``(n_r * L(real rows) + lambda * n_g * L(generated rows)) / (n_r + lambda * n_g)``,
    ``L`` the recipe's loss (a mean over the rows it is given) on that sub-batch. A batch of
    one kind is that kind's loss alone; generated rows alone with lambda = 0 give a loss of
    0 with a zero gradient. A row's kind is that of its own image, so a mixed batch
    (``Mixed.loss``) weighs each of its two label terms this way."""
    n_gen = int(generated.sum())
    n_real = len(generated) - n_gen

    def weighted(out: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        if len(out) != len(generated):
            raise ValueError(f"a batch of {len(out)} rows, but {len(generated)} rows' kinds (real or generated).")
        if n_gen == 0 or (n_real == 0 and weight > 0):
            return loss(out, y, ctx)
        if n_real == 0:
            return out.sum() * 0.0
        real = ~generated
        total = n_real * loss(out[real], y[real], ctx)
        if weight > 0:
            total = total + weight * n_gen * loss(out[generated], y[generated], ctx)
        return total / (n_real + weight * n_gen)

    return weighted


@dataclass
class ClassifierRun:
    """What a classifier's training leaves: log-odds of each evaluation set at each checkpoint."""

    steps: np.ndarray  # (C,)
    logits: dict[str, np.ndarray]  # name -> (C, n) log-odds or (C, n, K) logits; the last is the final model


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
    mixing=None,
    counts_real: tuple[int, ...] | None = None,
    n_classes: int = 2,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    n_checkpoints: int,
    progress: Progress = None,
    n_real: int | None = None,
    generated_weight: float = 1.0,
    generated_stage: str = "all",
) -> ClassifierRun:
    """Adam on batches chosen by the ``batches`` policy, the rows of the classes it names
    (every class by default) augmented by ``augmentation``, scored by ``loss`` on ``models.scores`` (the minority
    log-odds for two classes, the logits for K). ``counts_real``: real images per label
    (default: the training set's counts, nothing generated).

    ``augmentation`` and ``mixing`` default to their ``none`` parts (the batch as drawn); a
    mixing part blends the augmented batch and its labels (``mixing.base.Mixed``), from its
    own generator, so a run without mixing draws exactly what it drew before mixing existed.
    ``eval_x`` (test images, a validation split) only ever gets predictions: no label of
    an evaluation set is passed here, so nothing in training can read one.

    Rows ``0..n_real-1`` are real images, the rest generated (default: every row real;
    ``sources.TrainingSet`` puts the real rows first). ``generated_weight`` (lambda): a
    generated row's loss weighs lambda times a real one's (``weigh_generated``);
    ``generated_stage="second"``: the batch policy draws generated rows only in its second
    stage (``BatchPolicy.first_stage_rows``). At their defaults (1, "all") the loop is
    exactly the one without them: the same draws, the same arithmetic.
    """
    import torch  # torch: a classifier is being trained

    from .models import make_classifier, scores  # torch: the networks load with it

    n_real = len(train_y) if n_real is None else int(n_real)
    if not 0 <= n_real <= len(train_y):
        raise ValueError(f"n_real={n_real} must lie in 0..{len(train_y)} (the training rows).")
    if not 0.0 <= generated_weight <= 1.0:
        raise ConfigError(f"the weight of a generated image must lie in [0, 1], got {generated_weight!r}.")
    if generated_stage not in ("all", "second"):
        raise ConfigError(f"generated_stage must be all or second, got {generated_stage!r}.")
    if generated_stage == "second":
        batches.first_stage_rows(n_real)  # refuses a policy without a second stage, before anything trains
    weigh = generated_weight != 1.0 and n_real < len(train_y)
    device = pick_device()
    augmentation = augmentation if augmentation is not None else NoAugmentation()
    mixing = mixing if mixing is not None else NoMixing()
    model = fast_layout(seeded_init(seed, lambda: make_classifier(classifier, n_outputs), device))
    opt = adam(model.parameters(), lr)
    gen = torch.Generator().manual_seed(seed + 7919)
    aug_gen = torch.Generator().manual_seed(seed + 611953)
    mix_gen = torch.Generator().manual_seed(seed + 104729)
    x = to_tensor(train_x, device)
    y_np = np.asarray(train_y, dtype=np.int64)
    y = torch.from_numpy(y_np).to(device)
    evals = {name: to_tensor(ex, device) for name, ex in eval_x.items()}
    batches.prepare(y_np, n_classes=n_classes, steps=steps)
    counts_all = label_counts(y_np, n_classes)
    mixing.prepare(counts_all)
    counts = dict(counts=counts_all, counts_real=tuple(counts_real) if counts_real is not None else counts_all,
                  steps=steps)
    ckpts = checkpoint_steps(steps, n_checkpoints)
    logits: dict[str, list[np.ndarray]] = {name: [] for name in evals}
    every = max(1, steps // 100)
    head_from = batches.head_only_from()
    for step in range(1, steps + 1):
        if step == head_from:
            opt = retrain_head(model, seed, lr)
        idx = batches.indices(batch_size, gen).to(device)
        xb, yb = x[idx], y[idx]
        mixed = mixing(augmentation(xb, yb, aug_gen), yb, mix_gen)
        with autocast(device):
            logit = scores(model(mixed.x), n_classes)
        if weigh:
            weighted = weigh_generated(loss, idx >= n_real, generated_weight)
            value = mixed.loss(weighted, logit.float(), LossContext(step=step, **counts))
        else:
            value = mixed.loss(loss, logit.float(), LossContext(step=step, **counts))
        opt.zero_grad()
        value.backward()
        opt.step()
        if step in ckpts:
            for name, ex in evals.items():
                logits[name].append(predict_logits(model, ex, n_classes=n_classes))
        if progress is not None and (step % every == 0 or step == steps):
            progress(step, steps)
    return ClassifierRun(steps=ckpts, logits={k: np.stack(v).astype(np.float32) for k, v in logits.items()})
