import pytest
import torch

from vaeimb.parts.losses import make_loss
from vaeimb.parts.losses.base import LossContext
from vaeimb.parts.models import (
    CNN,
    MLP,
    ConvVAE,
    kl_per_dimension,
    make_classifier,
    minority_logit,
    vae_loss,
)
from vaeimb.parts.judge import JudgeNet


def test_classifiers_shapes():
    x = torch.rand(5, 28, 28)
    assert MLP(2)(x).shape == (5, 2) and MLP(1)(x).shape == (5, 1) and CNN(2)(x).shape == (5, 2)
    assert sum(p.numel() for p in MLP(2).parameters()) == 784 * 800 + 800 + 800 * 800 + 800 + 800 * 2 + 2


def test_minority_logit_for_one_and_two_outputs():
    two = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    assert torch.allclose(minority_logit(two), torch.tensor([2.0, -2.0]))
    one = torch.tensor([[3.0], [-1.0]])
    assert torch.allclose(minority_logit(one), torch.tensor([3.0, -1.0]))


def test_cross_entropy_on_the_minority_log_odds_is_softmax_cross_entropy():
    """A 2-logit head scored through ``minority_logit`` gives exactly torch's softmax CE."""
    out = torch.tensor([[0.3, 2.0], [1.0, -2.0], [0.0, 0.5]])
    y = torch.tensor([1, 0, 0])
    ctx = LossContext(counts=(2, 1), counts_real=(2, 1), step=1, steps=1)
    ce = make_loss("ce")(minority_logit(out), y, ctx)
    assert torch.allclose(ce, torch.nn.functional.cross_entropy(out, y), atol=1e-6)


def test_unknown_classifier():
    with pytest.raises(ValueError, match="mlp"):
        make_classifier("svm", 2)


def test_vae_shapes_and_loss():
    torch.manual_seed(0)
    vae = ConvVAE(7)
    x = torch.rand(4, 28, 28)
    logits, mu, logvar = vae(x)
    assert logits.shape == (4, 28, 28) and mu.shape == (4, 7) and logvar.shape == (4, 7)
    loss = vae_loss(logits, x, mu, logvar)
    assert torch.isfinite(loss) and loss > 0
    out = vae.decode(torch.zeros(3, 7))
    assert out.shape == (3, 28, 28) and out.min() >= 0 and out.max() <= 1
    kl = kl_per_dimension(torch.zeros(2, 7), torch.zeros(2, 7))
    assert torch.allclose(kl, torch.zeros(7))


def test_weight_names_stay_those_of_cached_models():
    """Cached generators and the cached judge are loaded by these names: the shared conv
    layers must not rename them (or every cache entry would need a refit)."""
    assert [k for k in ConvVAE(4).state_dict() if k.endswith("weight")] == [
        "encoder.0.weight", "encoder.2.weight", "fc_mu.weight", "fc_logvar.weight", "fc_dec.weight",
        "decoder.0.weight", "decoder.2.weight"]
    assert [k for k in CNN(2).state_dict() if k.endswith("weight")] == [
        "features.0.weight", "features.2.weight", "head.0.weight", "head.2.weight"]
    assert [k for k in JudgeNet().state_dict() if k.endswith("weight")] == [
        "body.0.weight", "body.2.weight", "body.5.weight", "head.weight"]


def test_the_vae_decoder_is_the_shared_layout_with_the_vae_weights():
    torch.manual_seed(0)
    vae = ConvVAE(4)
    z = torch.randn(3, 4)
    with torch.no_grad():
        assert torch.equal(vae.decoder_sequential()(z).view(-1, 28, 28), vae.decode_logits(z))
        assert vae.decoder_sequential()[0] is vae.fc_dec


def test_resnet18_takes_one_28x28_channel():
    """torchvision's ResNet-18 (DeepSMOTE's classifier) with a one-channel first convolution."""
    model = make_classifier("resnet18", 10)
    assert model.net.conv1.in_channels == 1 and model.net.fc.out_features == 10
    out = model(torch.rand(3, 28, 28))
    assert out.shape == (3, 10)
