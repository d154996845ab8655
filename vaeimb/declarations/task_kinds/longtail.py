"""A long tail over several digits (all ten by default): per-digit training counts from a
named profile, an exponential profile or explicit counts; fixed balanced and imbalanced
test sets from MNIST's official test split: all of it, and a balanced and an imbalanced
subset drawn at random per digit with the protocol's test seed.

``deepsmote`` is the MNIST protocol of Dablain, Krawczyk & Chawla, "DeepSMOTE: Fusing Deep
Learning and SMOTE for Imbalanced Data" (IEEE TNNLS 2022): 4000, 2000, 1000, 750, 500, 350,
200, 100, 60, 40 images of digits 0..9 (imbalance ratio 100). Unlike the paper, which reports
5-fold cross-validation inside its training pool, we draw the training images at random per
seed from MNIST train and score every seed on the same test images of the official split.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConfigError
from .base import TaskKind, TestPlan

#: DeepSMOTE's MNIST training counts, head first (Dablain et al. 2022, section IV).
DEEPSMOTE_COUNTS = (4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40)
#: What Dablain et al. 2022 report on MNIST (ResNet-18, 5-fold cross-validation inside the
#: training pool): method -> (ACSA, macro G-mean, macro F1) in %, balanced test (Table III);
#: DeepSMOTE's imbalanced-test figures (Table II) under "DeepSMOTE (imbalanced test)".
DEEPSMOTE_REPORTED = {
    "SMOTE": (87.98, 89.99, 85.02),
    "BAGAN": (93.06, 95.98, 92.77),
    "GAMO": (95.52, 97.47, 95.47),
    "DeepSMOTE": (96.09, 97.80, 96.03),
    "DeepSMOTE (imbalanced test)": (96.16, 98.11, 96.44),
}
#: How our long tail differs from the paper's experiment (README and About page).
DEEPSMOTE_DIFFERENCES = (
    "DeepSMOTE reports 5-fold cross-validation inside its training pool; we draw the training images at random "
    "per seed from MNIST train and score every seed on the same images of the official MNIST test split, which "
    "no run ever trains or tunes on.",
    "Its test folds come from the same pool as its training images; ours are the official test split: all of it "
    "(ACSA, a mean of per-class recalls, needs no balancing), a balanced set (892 test images of each digit, 892 "
    "being what MNIST test holds of digit 5) and an imbalanced subset of that with the training proportions, "
    "both drawn at random per digit with the protocol's fixed test seed (not the first images in file order: "
    "MNIST's first 5000 test images are the cleaner, easier half).",
    "It trains ResNet-18 for every method; our default is a small CNN (2000 steps of 128 on two CPU cores), "
    "with ResNet-18 as --classifier resnet18.",
    "Its autoencoder has 64-512 conv channels and a 300-d latent (Adam 2e-4); our latent-smote uses this "
    "project's small autoencoder (16/32 channels, 20-d latent) and plain reconstruction loss.",
    "It compares resamplers only; we run plain training, post-hoc and loss-based logit adjustment and "
    "augmentation beside them, with paired seeds and corrected intervals. So our numbers are not the same "
    "experiment's numbers: read them side by side, not as a replication.",
)


def deepsmote_counts(cfg, k: int) -> tuple[int, ...]:
    if k != len(DEEPSMOTE_COUNTS):
        raise ConfigError(f"The deepsmote profile has {len(DEEPSMOTE_COUNTS)} counts, one per digit, but the digit "
                          f"order names {k}: give all ten digits, or use the exponential or counts profile.")
    return DEEPSMOTE_COUNTS


def exponential_counts(cfg, k: int) -> tuple[int, ...]:
    """``n_k = n_head * rho ** (-k / (K - 1))``, rounded (Cui et al. 2019's long-tailed CIFAR)."""
    if cfg.rho < 1:
        raise ConfigError(f"rho (the imbalance ratio, head count / tail count) must be at least 1, got {cfg.rho!r}.")
    return tuple(max(1, int(round(cfg.n_head * cfg.rho ** (-i / (k - 1))))) for i in range(k))


def explicit_counts(cfg, k: int) -> tuple[int, ...]:
    items = [t for t in str(cfg.counts).replace(";", ",").replace(" ", ",").split(",") if t]
    if not items:
        raise ConfigError("The counts profile needs --counts: one training count per digit of the order, "
                          "e.g. 4000,2000,1000,750,500,350,200,100,60,40.")
    try:
        values = tuple(int(t) for t in items)
    except ValueError:
        raise ConfigError(f"counts must be whole numbers separated by commas, got {cfg.counts!r}.") from None
    if len(values) != k:
        raise ConfigError(f"counts gives {len(values)} numbers but the digit order names {k} digits "
                          f"({cfg.order}): give one count per digit.")
    return values


#: Profile name -> (counts of a config for K digits, one line of help). One line per profile.
PROFILES: dict[str, tuple[Callable[[Any, int], tuple[int, ...]], str]] = {
    "deepsmote": (deepsmote_counts, "DeepSMOTE's counts 4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40"),
    "exponential": (exponential_counts, "n_head * rho^(-k/(K-1)) for the k-th digit of the order"),
    "counts": (explicit_counts, "explicit counts, one per digit of the order"),
}


def parse_order(text: str) -> tuple[int, ...]:
    """``"0123456789"`` or ``"0,1,2"`` -> digits; refuses non-digits, repeats and fewer than two."""
    chars = [c for c in str(text) if c not in ", "]
    if not all(c.isdigit() for c in chars):
        raise ConfigError(f"order must list digits 0-9 (head first), e.g. 0123456789, got {text!r}.")
    digits = tuple(int(c) for c in chars)
    twice = sorted({d for d in digits if digits.count(d) > 1})
    if twice:
        raise ConfigError(f"order names digit {', '.join(map(str, twice))} twice ({text!r}): each digit once.")
    if len(digits) < 2:
        raise ConfigError(f"A long tail needs at least two classes; order {text!r} names {len(digits)}.")
    return digits


class LongTail(TaskKind):
    """K digits (the order's), label 0 the largest count; tested on two fixed test sets."""

    name = "longtail"
    label = "all ten digits, long tail"
    description = ("K digits with long-tailed training counts (a profile); tested on the official test split, "
                   "with balanced and imbalanced subsets of it.")
    default_protocol = "deepsmote"
    settings = ("profile", "rho", "n_head", "order", "counts")
    #: No generator by default: one VAE per minority class would take most of the run.
    default_approaches = ("baseline", "threshold", "oversample", "augment", "oracle")
    #: What DeepSMOTE compared (SMOTE, latent SMOTE) beside what it left out (plain training,
    #: post-hoc and loss-based logit adjustment, augmentation) and the conditional VAE.
    reference_approaches = ("baseline", "threshold", "tuned", "oversample", "drw", "drs", "crt", "augment",
                            "augment-posthoc", "elastic-posthoc", "augment-mixup", "augment-remix", "remix-drw",
                            "la-loss", "la-augment", "smote", "latent-smote",
                            "cvae", "cvae-augment-posthoc", "oracle", "oracle-augment")

    def plan(self, cfg) -> tuple[tuple[int, int], ...]:
        digits = parse_order(cfg.order)
        if cfg.profile not in PROFILES:
            raise ConfigError(f"Unknown profile {cfg.profile!r}; choose one of {', '.join(PROFILES)}.")
        counts = PROFILES[cfg.profile][0](cfg, len(digits))
        ds = cfg.dataset_record
        for d in digits:
            ds.check_class(d)
        for d, n in zip(digits, counts):
            if not 1 <= n <= ds.train_counts[d]:
                raise ConfigError(f"{ds.noun} {ds.class_label(d)} would need {n} training images but {ds.title} "
                                  f"train holds {ds.train_counts[d]}: counts must be from 1 to what {ds.title} holds.")
        # label order: largest count first (stable: ties keep the order's sequence)
        return tuple(sorted(zip(digits, counts), key=lambda dn: -dn[1]))

    def test_plan(self, cfg) -> TestPlan:
        digits, counts = self.classes(cfg), self.counts(cfg)
        ds = cfg.dataset_record
        m = min(ds.test_counts[d] for d in digits)
        imbalanced = tuple(max(1, int(round(m * n / counts[0]))) for n in counts)
        seed = cfg.protocol_record.test_seed
        total = sum(ds.test_counts[d] for d in digits)
        return TestPlan("official", None, {"balanced": (m,) * len(digits), "imbalanced": imbalanced},
                        f"official: every {ds.title} test image of the {len(digits)} {ds.nouns} ({total}); balanced: "
                        f"{m} of each {ds.noun} drawn at random ({m * len(digits)}); imbalanced: the training proportions "
                        f"within those ({sum(imbalanced)}: {', '.join(map(str, imbalanced))}); both drawn once "
                        f"with test seed {seed}, the same for every experiment seed", seed)

    def data_dict(self, cfg) -> dict[str, Any]:
        plan = self.test_plan(cfg)
        return {"task": self.name, "classes": list(self.classes(cfg)), "counts": list(self.counts(cfg)),
                "test": [plan.per_class, plan.subsets, plan.seed]}

    def describe(self, cfg) -> str:
        digits, counts = self.classes(cfg), self.counts(cfg)
        ds = cfg.dataset_record
        what = f"all ten {ds.nouns}" if len(digits) == 10 else f"{len(digits)} {ds.nouns}"
        return (f"{cfg.dataset_prefix}{what}, long tail {cfg.profile} ({counts[0]} of {ds.class_label(digits[0])} ... "
                f"{counts[-1]} of {ds.class_label(digits[-1])}, ratio {counts[0] / counts[-1]:.3g})")
