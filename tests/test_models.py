import torch

from vaeimb.models import CNN, MLP, ConvVAE, classification_loss, kl_per_dimension, make_classifier, minority_logit, vae_loss


def test_classifiers_shapes():
    x = torch.rand(5, 28, 28)
    assert MLP(2)(x).shape == (5, 2) and MLP(1)(x).shape == (5, 1) and CNN(2)(x).shape == (5, 2)
    assert sum(p.numel() for p in MLP(2).parameters()) == 784 * 800 + 800 + 800 * 800 + 800 + 800 * 2 + 2


def test_minority_logit_and_loss_for_one_and_two_outputs():
    two = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    assert torch.allclose(minority_logit(two), torch.tensor([2.0, -2.0]))
    one = torch.tensor([[3.0], [-1.0]])
    assert torch.allclose(minority_logit(one), torch.tensor([3.0, -1.0]))
    y = torch.tensor([1, 0])
    # a 2-logit head with logits (0, d) is the same model as a 1-logit head with d
    assert torch.allclose(classification_loss(torch.tensor([[0.0, 2.0], [0.0, -2.0]]), y),
                          classification_loss(torch.tensor([[2.0], [-2.0]]), y), atol=1e-6)


def test_unknown_classifier():
    import pytest

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
