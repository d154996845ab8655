"""The horizontal-flip augmentation (``aug=flip``): a random mirror, then the affine jitter,
seeded like every augmentation, and refused on a dataset that declares no flips."""

from __future__ import annotations

import pytest
import torch

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.datasets import DATASETS
from vaeimb.declarations.errors import ConfigError
from vaeimb.parts.augmentations import AUGMENTATIONS, FlipAffine, make_augmentation
from vaeimb.parts.augmentations.affine_ops import AFFINE_PARAMS
from vaeimb.parts.augmentations.flip import random_hflip
from vaeimb.running.recipes import PRESETS, build_approach, build_approaches, refused_augmentation
from vaeimb.running.runner import plan

STILL = {"degrees": 0.0, "translate": 0.0, "scale_low": 1.0, "scale_high": 1.0}  # the jitter off: the flip alone


def _batch(n=32, seed=0):
    x = torch.rand(n, 28, 28, generator=torch.Generator().manual_seed(seed))
    x[:, 4:24, 2:9] = 1.0  # a bar on the left: a mirror moves it to the right
    return x


def test_flip_is_registered_with_the_affine_parameters_and_its_own():
    assert AUGMENTATIONS["flip"] is FlipAffine and list(AUGMENTATIONS)[-1] == "flip"
    names = [p.name for p in FlipAffine.params]
    assert names == ["p_flip", *(p.name for p in AFFINE_PARAMS), "classes"]
    aug = make_augmentation("flip")
    assert aug.values["p_flip"] == 0.5 and aug.values["classes"] == "all" and aug.needs_flips
    assert aug.key() != make_augmentation("affine").key()  # a cache key of its own
    assert make_augmentation("flip", p_flip=0.2).key() != aug.key()
    with pytest.raises(ConfigError, match="p_flip must be float in \\[0, 1\\], got 1.5"):
        make_augmentation("flip", p_flip=1.5)
    with pytest.raises(ConfigError, match="augmentation 'flip': scale_low .* must not exceed"):
        make_augmentation("flip", scale_low=1.2, scale_high=1.1)


def test_each_image_is_itself_or_its_mirror_about_half_of_them_mirrored():
    x = _batch(400)
    out = make_augmentation("flip", **STILL)(x, torch.zeros(400, dtype=torch.int64), torch.Generator().manual_seed(1))
    same = torch.isclose(out, x, atol=1e-5).flatten(1).all(1)
    mirrored = torch.isclose(out, x.flip(-1), atol=1e-5).flatten(1).all(1)
    assert bool((same ^ mirrored).all())  # exactly one of the two, for every image
    assert 150 < int(mirrored.sum()) < 250  # p_flip 0.5


def test_p_flip_one_mirrors_every_image_and_zero_none_drawing_alike():
    x = _batch(8)
    y = torch.zeros(8, dtype=torch.int64)
    always, never = make_augmentation("flip", p_flip=1.0, **STILL), make_augmentation("flip", p_flip=0.0, **STILL)
    assert torch.allclose(always(x, y, torch.Generator().manual_seed(0)), x.flip(-1), atol=1e-5)
    assert torch.allclose(never(x, y, torch.Generator().manual_seed(0)), x, atol=1e-5)
    g0, g1 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    random_hflip(x, g0, p=0.0)
    random_hflip(x, g1, p=1.0)
    assert torch.equal(g0.get_state(), g1.get_state())  # one draw per image whatever p: later draws stay put
    assert random_hflip(x[:0], torch.Generator(), p=0.5).shape == (0, 28, 28)


def test_flip_is_deterministic_per_seed_within_01_and_leaves_its_input():
    x = _batch(16)
    y = torch.tensor([0, 1] * 8)
    aug = make_augmentation("flip")
    a = aug(x, y, torch.Generator().manual_seed(7))
    b = aug(x, y, torch.Generator().manual_seed(7))
    c = aug(x, y, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    before = x.clone()
    aug(x, y, torch.Generator().manual_seed(7))
    assert torch.equal(x, before)
    # the flip's draws first, then the affine jitter's, from the one generator
    g = torch.Generator().manual_seed(7)
    expected = aug.jitter(random_hflip(x, g, p=0.5), g)
    assert torch.equal(a, expected)


def test_classes_minority_leaves_the_head_rows():
    x = _batch(12)
    y = torch.tensor([0, 0, 1] * 4)
    aug = make_augmentation("flip", p_flip=1.0, classes="minority")
    out = aug(x, y, torch.Generator().manual_seed(2))
    assert torch.equal(out[y == 0], x[y == 0])
    assert torch.equal(out[y == 1], aug._transform(x[y == 1], torch.Generator().manual_seed(2)))


@pytest.mark.parametrize("name, noun", [("mnist", "digit"), ("kmnist", "class")])
def test_flip_is_refused_where_the_dataset_declares_no_flips(name, noun):
    ds = DATASETS[name]
    reason = FlipAffine.refused_on(ds)
    assert reason == (f"aug=flip mirrors images left-right, and flips change a {noun}'s meaning; {ds.title} declares "
                      "no flips (datasets that do: Fashion-MNIST).")
    assert FlipAffine.refused_on(DATASETS["fashion-mnist"]) is None
    for other in AUGMENTATIONS.values():
        if other is not FlipAffine:
            assert other.refused_on(ds) is None, other.name


def test_a_recipe_asking_for_flips_on_mnist_is_one_config_error_line():
    with pytest.raises(ConfigError) as e:
        plan(ExperimentConfig(), ["baseline", "batches=balanced,aug=flip"])
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("approach 'batches=balanced,aug=flip': aug=flip mirrors")
    assert "flips change a digit's meaning; MNIST declares no flips" in msg
    with pytest.raises(ConfigError, match="Kuzushiji-MNIST declares no flips"):
        plan(ExperimentConfig(dataset="kmnist"), ["aug=flip"])
    # a generator trained on mirrored digits is refused alike
    cfg = ExperimentConfig(approach_params={"cvae": {"gen.train_aug": "flip"}})
    with pytest.raises(ConfigError, match="approach 'cvae': gen.train_aug=flip mirrors .* MNIST declares no flips"):
        plan(cfg, ["cvae"])


def test_fashion_mnist_takes_flips_and_no_preset_asks_for_them():
    chosen, _ = plan(ExperimentConfig(dataset="fashion-mnist"), ["baseline", "batches=balanced,aug=flip"])
    assert [a.name for a in chosen] == ["baseline", "batches=balanced,aug=flip"]
    assert chosen[1].part("aug").values["p_flip"] == 0.5
    fashion = ExperimentConfig(dataset="fashion-mnist", approach_params={"cvae": {"gen.train_aug": "flip"}})
    assert [a.name for a in build_approaches(["cvae"], fashion)] == ["cvae"]
    for name in PRESETS:  # every preset runs on MNIST: none mirrors
        assert refused_augmentation(build_approach(name), DATASETS["mnist"]) is None, name
