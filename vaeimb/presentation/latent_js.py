"""A decoder as plain JSON, so the browser can decode latent codes at display speed.

The latent explorer redraws its image on every slider step. A server round trip per step
costs about 0.3 s; the decoders here are small enough (about 40 k weights, half a million
multiply-adds) to run in JavaScript in a millisecond. ``decoder_spec`` writes a decoder
``nn.Sequential`` as a layer list with little-endian float32 weights (base64), which
``vaeimb_app/latent_explorer.js`` evaluates; ``reference_decode`` evaluates the same spec
in numpy, so the spec itself is tested against torch and the JS against both.

The spec's decoder maps ``concat(z, condition)`` to logits and the image is
``sigmoid(logits)`` as 28x28 (a trailing ``nn.Sigmoid`` in the module is folded into that).

Importing this module loads no torch: the app's server reads a spec (``reference_decode``,
``check_browser``) that a child process wrote (``vaeimb.presentation.latent_view``); only the
functions that read a torch module import it.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from ..declarations.errors import VaeimbError

SPEC_FORMAT = "vaeimb-decoder/1"
MAX_LATENT = 256  # more sliders than anyone can steer, and the spec stays small
MAX_WEIGHTS = 4_000_000  # 16 MB of float32: beyond this the browser is not the place
IMAGE_SHAPE = (28, 28)


class UnsupportedDecoder(VaeimbError, ValueError):
    """The decoder has a layer (or a setting) the browser decoder does not implement."""


class BadDecoderWeights(VaeimbError, ValueError):
    """A decoder weight is NaN or infinite: decoding would draw garbage."""


# --------------------------------------------------------------------------------------
# torch -> spec
# --------------------------------------------------------------------------------------
def convvae_decoder(model):
    """Today's ``ConvVAE`` decoder (``fc_dec`` then ``decoder``) as one ``nn.Sequential``.

    Mirrors ``ConvVAE.decode_logits``: Linear, ReLU, reshape to 32x7x7, transposed convs.
    """
    from torch import (
        nn,  # torch: only a torch model's writer reads it (the server reads specs)
    )

    return nn.Sequential(model.fc_dec, nn.ReLU(), nn.Unflatten(1, (32, 7, 7)), *model.decoder)


def browser_decoder(model) -> tuple[object, np.ndarray | None]:
    """(decoder Sequential, condition or None) of a generator's model.

    Generators that expose ``decoder_module()`` (and optionally ``decoder_condition()``)
    say so themselves; today's ``ConvVAE`` is rebuilt by ``convvae_decoder``.
    """
    if hasattr(model, "decoder_module"):
        condition = model.decoder_condition() if hasattr(model, "decoder_condition") else None
        return model.decoder_module(), condition
    if hasattr(model, "fc_dec") and hasattr(model, "decoder"):
        return convvae_decoder(model), None
    raise UnsupportedDecoder(f"{type(model).__name__} exposes no decoder_module(); the browser cannot decode it.")


def _b64(t) -> str:
    a = np.ascontiguousarray(t.detach().cpu().numpy(), dtype="<f4")
    if not np.isfinite(a).all():
        raise BadDecoderWeights(
            "The decoder has NaN or infinite weights (did its training diverge?); retrain it "
            "with a lower learning rate or another seed."
        )
    return base64.b64encode(a.tobytes()).decode("ascii")


def _pair(v, what: str, name: str) -> list[int]:
    if isinstance(v, str):
        raise UnsupportedDecoder(f"{name} with {what}={v!r} is not supported in the browser; use integer {what}.")
    return [int(x) for x in v] if isinstance(v, (tuple, list)) else [int(v), int(v)]


def _conv_common(layer, name: str, shape: tuple[int, ...]) -> dict[str, Any]:
    if len(shape) != 3:
        raise UnsupportedDecoder(f"{name} needs a (channels, height, width) input, got shape {shape}; add an nn.Unflatten before it.")
    if layer.groups != 1 or layer.padding_mode != "zeros":
        raise UnsupportedDecoder(f"{name} with groups={layer.groups}, padding_mode={layer.padding_mode!r} is not "
                                 "supported in the browser; use groups=1 and zero padding.")
    if shape[0] != layer.in_channels:
        raise UnsupportedDecoder(f"{name} expects {layer.in_channels} input channels, the layer before gives {shape[0]}.")
    return {
        "in_channels": layer.in_channels,
        "out_channels": layer.out_channels,
        "kernel": _pair(layer.kernel_size, "kernel_size", name),
        "stride": _pair(layer.stride, "stride", name),
        "padding": _pair(layer.padding, "padding", name),
        "dilation": _pair(layer.dilation, "dilation", name),
        "weight": _b64(layer.weight),
        "bias": _b64(layer.bias) if layer.bias is not None else None,
    }


def _layer_spec(layer, shape: tuple[int, ...]) -> tuple[dict[str, Any], tuple[int, ...]]:
    """One layer's spec entry and its output shape (per sample, no batch axis)."""
    from torch import nn  # torch: see convvae_decoder
    name = type(layer).__name__
    size = int(np.prod(shape))
    if isinstance(layer, nn.Linear):
        if len(shape) != 1 or shape[0] != layer.in_features:
            raise UnsupportedDecoder(f"Linear expects {layer.in_features} flat inputs, the layer before gives shape {shape}.")
        entry = {"type": "linear", "in": layer.in_features, "out": layer.out_features, "weight": _b64(layer.weight),
                 "bias": _b64(layer.bias) if layer.bias is not None else None}
        return entry, (layer.out_features,)
    if isinstance(layer, nn.ReLU):
        return {"type": "relu"}, shape
    if isinstance(layer, nn.LeakyReLU):
        return {"type": "leaky_relu", "slope": float(layer.negative_slope)}, shape
    if isinstance(layer, nn.Sigmoid):
        return {"type": "sigmoid"}, shape
    if isinstance(layer, nn.Flatten):
        if layer.start_dim != 1 or layer.end_dim != -1:
            raise UnsupportedDecoder("Flatten is supported only as nn.Flatten() (start_dim=1, end_dim=-1).")
        return {"type": "flatten"}, (size,)
    if isinstance(layer, nn.Unflatten):
        target = tuple(int(n) for n in layer.unflattened_size)
        if layer.dim != 1 or len(shape) != 1 or int(np.prod(target)) != size:
            raise UnsupportedDecoder(f"Unflatten must turn a flat {size}-vector into a shape of the same size (dim=1); "
                                     f"got dim={layer.dim}, {shape} -> {target}.")
        return {"type": "unflatten", "shape": list(target)}, target
    if isinstance(layer, nn.ConvTranspose2d):
        entry = {"type": "conv_transpose2d", **_conv_common(layer, name, shape),
                 "output_padding": _pair(layer.output_padding, "output_padding", name)}
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = entry["kernel"], entry["stride"], entry["padding"], entry["dilation"]
        oph, opw = entry["output_padding"]
        out = (layer.out_channels, (shape[1] - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1,
               (shape[2] - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1)
        return entry, out
    if isinstance(layer, nn.Conv2d):
        entry = {"type": "conv2d", **_conv_common(layer, name, shape)}
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = entry["kernel"], entry["stride"], entry["padding"], entry["dilation"]
        out = (layer.out_channels, (shape[1] + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
               (shape[2] + 2 * pw - dw * (kw - 1) - 1) // sw + 1)
        return entry, out
    raise UnsupportedDecoder(
        f"The browser decoder does not implement {name}; supported layers: Linear, ReLU, LeakyReLU, Sigmoid, "
        "Flatten, Unflatten, Conv2d, ConvTranspose2d."
    )


def check_browser(latent_dim: int, n_weights: int) -> None:
    """Raise ``UnsupportedDecoder`` when a decoder of ``latent_dim`` inputs and
    ``n_weights`` weights is outside what the browser explorer takes (1 to ``MAX_LATENT``
    dimensions, at most ``MAX_WEIGHTS`` weights)."""
    if not 1 <= int(latent_dim) <= MAX_LATENT:
        raise UnsupportedDecoder(f"A {int(latent_dim)}-d latent cannot be explored with sliders; "
                                 f"the browser explorer takes 1 to {MAX_LATENT} dimensions.")
    if n_weights > MAX_WEIGHTS:
        raise UnsupportedDecoder(f"The decoder has {n_weights:,} weights; the browser explorer takes at most {MAX_WEIGHTS:,}.")


def spec_weights(spec: dict) -> int:
    """How many weights (and biases) a spec holds."""
    n = 0
    for L in spec["layers"]:
        for key in ("weight", "bias"):
            if L.get(key) is not None:
                n += len(base64.b64decode(L[key])) // 4
    return n


def browser_spec(spec: dict) -> dict:
    """``spec`` itself when the browser explorer takes it (``check_browser``), else
    ``UnsupportedDecoder`` saying why."""
    check_browser(spec["latent_dim"], spec_weights(spec))
    return spec


def decoder_spec(module, latent_dim: int, condition=None, *, browser: bool = True) -> dict[str, Any]:
    """A JSON-able description of ``module`` (an ``nn.Sequential``) for the browser decoder.

    ``condition`` (e.g. a one-hot class vector of a conditional decoder) is appended to
    every latent code. Raises ``UnsupportedDecoder`` naming the first layer (or setting)
    the browser cannot run, or (with ``browser``) a latent size outside 1..256 or too
    many weights (``check_browser``); ``BadDecoderWeights`` if any weight is NaN or
    infinite. Without ``browser`` the spec is for ``reference_decode`` on the server,
    whatever its size.
    """
    from torch import nn  # torch: see convvae_decoder

    latent_dim = int(latent_dim)
    n_weights = sum(p.numel() for p in module.parameters()) if isinstance(module, nn.Module) else 0
    if browser:
        check_browser(latent_dim, n_weights)
    elif latent_dim < 1:
        raise UnsupportedDecoder(f"A {latent_dim}-d latent cannot be decoded; it needs at least one dimension.")
    if not isinstance(module, nn.Sequential):
        raise UnsupportedDecoder(f"The browser decoder needs an nn.Sequential, got {type(module).__name__}.")
    cond = [] if condition is None else [float(c) for c in np.asarray(condition, dtype=np.float64).ravel()]
    if not np.isfinite(cond).all():
        raise BadDecoderWeights("The decoder's condition vector has NaN or infinite entries.")
    layers = list(module)
    # the image is always sigmoid(logits): fold a trailing Sigmoid into that output step
    if layers and isinstance(layers[-1], nn.Sigmoid):
        layers = layers[:-1]
    shape: tuple[int, ...] = (latent_dim + len(cond),)
    entries = []
    for layer in layers:
        entry, out = _layer_spec(layer, shape)
        entries.append({**entry, "in_shape": list(shape), "out_shape": list(out)})
        shape = out
    if int(np.prod(shape)) != IMAGE_SHAPE[0] * IMAGE_SHAPE[1]:
        raise UnsupportedDecoder(f"The decoder outputs shape {shape}; the explorer draws 28x28 images (784 values).")
    return {
        "format": SPEC_FORMAT,
        "latent_dim": latent_dim,
        "condition": cond or None,
        "layers": entries,
        "output": {"activation": "sigmoid", "shape": list(IMAGE_SHAPE)},
    }


# --------------------------------------------------------------------------------------
# numpy evaluation of a spec (the second implementation the JS is tested against)
# --------------------------------------------------------------------------------------
def _array(b64: str | None, shape) -> np.ndarray | None:
    if b64 is None:
        return None
    return np.frombuffer(base64.b64decode(b64), dtype="<f4").astype(np.float64).reshape(shape)


def _conv_transpose(x: np.ndarray, L: dict) -> np.ndarray:
    """Each input pixel scatters ``weight[ic, oc]`` onto the output at stride ``s``."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = L["kernel"], L["stride"], L["padding"], L["dilation"]
    ic, h, w = x.shape
    oc, oh, ow = L["out_shape"]
    wt = _array(L["weight"], (ic, oc, kh, kw))
    full = np.zeros((oc, max(oh + ph, (h - 1) * sh + dh * (kh - 1) + 1), max(ow + pw, (w - 1) * sw + dw * (kw - 1) + 1)))
    for ky in range(kh):
        for kx in range(kw):
            contrib = np.einsum("ihw,io->ohw", x, wt[:, :, ky, kx])
            full[:, ky * dh: ky * dh + (h - 1) * sh + 1: sh, kx * dw: kx * dw + (w - 1) * sw + 1: sw] += contrib
    out = full[:, ph: ph + oh, pw: pw + ow]
    bias = _array(L["bias"], (oc,))
    return out + bias[:, None, None] if bias is not None else out


def _conv(x: np.ndarray, L: dict) -> np.ndarray:
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = L["kernel"], L["stride"], L["padding"], L["dilation"]
    ic = x.shape[0]
    oc, oh, ow = L["out_shape"]
    wt = _array(L["weight"], (oc, ic, kh, kw))
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((oc, oh, ow))
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, ky * dh: ky * dh + (oh - 1) * sh + 1: sh, kx * dw: kx * dw + (ow - 1) * sw + 1: sw]
            out += np.einsum("ihw,oi->ohw", patch, wt[:, :, ky, kx])
    bias = _array(L["bias"], (oc,))
    return out + bias[:, None, None] if bias is not None else out


def _apply(L: dict, x: np.ndarray) -> np.ndarray:
    kind = L["type"]
    if kind == "linear":
        y = _array(L["weight"], (L["out"], L["in"])) @ x
        return y + _array(L["bias"], (L["out"],)) if L["bias"] is not None else y
    if kind == "relu":
        return np.maximum(x, 0.0)
    if kind == "leaky_relu":
        return np.where(x >= 0, x, x * L["slope"])
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if kind in ("flatten", "unflatten"):
        return x.reshape(L["out_shape"])
    if kind == "conv_transpose2d":
        return _conv_transpose(x, L)
    if kind == "conv2d":
        return _conv(x, L)
    raise UnsupportedDecoder(f"Unknown layer type {kind!r} in the decoder spec.")


def reference_decode(spec: dict, z) -> np.ndarray:
    """Evaluate ``spec`` in float64 numpy: (latent,) -> (28, 28), (n, latent) -> (n, 28, 28)."""
    z = np.asarray(z, dtype=np.float64)
    rows = np.atleast_2d(z)
    if rows.shape[1] != spec["latent_dim"]:
        raise ValueError(f"The code has {rows.shape[1]} values; this decoder takes {spec['latent_dim']}.")
    cond = np.asarray(spec["condition"] or [], dtype=np.float64)
    out = []
    for row in rows:
        x = np.concatenate([row, cond])
        for L in spec["layers"]:
            x = _apply(L, x)
        out.append(1.0 / (1.0 + np.exp(-x.reshape(spec["output"]["shape"]))))
    images = np.stack(out)
    return images[0] if z.ndim == 1 else images
