"""The browser decoder: spec from torch, the component's own JS under Node, numpy reference.

Three implementations of one decoder must agree: torch (``vaeimb.presentation.latent.decode``), the
numpy ``reference_decode`` of the spec, and ``vaeimb_app/latent_explorer.js`` (the file the
component inlines) run by Node.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vaeimb.declarations.errors import VaeimbError
from vaeimb.parts.models import ConvVAE
from vaeimb.presentation import figures, latent
from vaeimb.presentation.latent_js import (
    BadDecoderWeights,
    UnsupportedDecoder,
    browser_decoder,
    convvae_decoder,
    decoder_spec,
    reference_decode,
)

ROOT = Path(__file__).resolve().parents[1]
JS_FILE = ROOT / "vaeimb_app" / "latent_explorer.js"
NODE = shutil.which("node")

RUNNER = """
const [moduleFile, inputFile] = process.argv.slice(2);
const fs = await import("node:fs");
const src = fs.readFileSync(moduleFile, "utf8");
const mod = await import("data:text/javascript;base64," + Buffer.from(src).toString("base64"));
const { spec, codes } = JSON.parse(fs.readFileSync(inputFile, "utf8"));
const net = mod.compileSpec(spec);
const out = codes.map((z) => {
  const p = mod.decode(net, z);
  return { probs: Array.from(p), gray: Array.from(mod.toGray(p)) };
});
process.stdout.write(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def node() -> str:
    if NODE is None:
        if os.environ.get("CI"):
            pytest.fail("node not found: the browser decoder's JS must be tested in CI (install Node 20).")
        pytest.skip("node not found; the JS decoder test needs Node (it runs the component's own JS file).")
    return NODE


def js_decode(node: str, tmp_path: Path, spec: dict, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run latent_explorer.js's compileSpec + decode on each code; (probabilities, grey levels)."""
    runner = tmp_path / "run.mjs"
    runner.write_text(RUNNER)
    inp = tmp_path / "input.json"
    inp.write_text(json.dumps({"spec": spec, "codes": np.asarray(codes, np.float64).tolist()}))
    done = subprocess.run([node, str(runner), str(JS_FILE), str(inp)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    shape = (len(rows), *spec["output"]["shape"])
    probs = np.array([r["probs"] for r in rows]).reshape(shape)
    gray = np.array([r["gray"] for r in rows], np.int64).reshape(shape)
    return probs, gray


def convvae(latent_dim: int, seed: int = 0) -> ConvVAE:
    torch.manual_seed(seed)
    return ConvVAE(latent_dim).eval()


def fixed_codes(latent_dim: int, n: int = 5) -> np.ndarray:
    codes = np.random.default_rng(7).standard_normal((n, latent_dim)) * 2
    codes[0] = 0.0
    return codes.astype(np.float32)


# --------------------------------------------------------------------------------------
# the spec
# --------------------------------------------------------------------------------------
def test_spec_is_json_with_little_endian_float32_weights():
    model = convvae(6)
    spec = decoder_spec(convvae_decoder(model), 6)
    assert json.loads(json.dumps(spec)) == spec
    assert [L["type"] for L in spec["layers"]] == ["linear", "relu", "unflatten", "conv_transpose2d", "relu", "conv_transpose2d"]
    assert spec["layers"][3]["in_shape"] == [32, 7, 7] and spec["layers"][-1]["out_shape"] == [1, 28, 28]
    w = np.frombuffer(base64.b64decode(spec["layers"][0]["weight"]), dtype="<f4").reshape(32 * 7 * 7, 6)
    np.testing.assert_array_equal(w, model.fc_dec.weight.detach().numpy())
    assert spec["latent_dim"] == 6 and spec["condition"] is None


def test_convvae_decoder_is_the_models_decoder():
    model = convvae(4)
    z = torch.from_numpy(fixed_codes(4))
    with torch.no_grad():
        np.testing.assert_allclose(convvae_decoder(model)(z).view(-1, 28, 28), model.decode_logits(z), atol=1e-6)
    module, condition = browser_decoder(model)
    assert condition is None and len(module) == 6


def torch_decode(model, codes: np.ndarray) -> np.ndarray:
    """The torch model's own decode: (latent,) -> (28, 28), (n, latent) -> (n, 28, 28)."""
    with torch.no_grad():
        out = model.decode(torch.from_numpy(np.atleast_2d(np.asarray(codes, np.float32)))).numpy()
    return out[0] if np.ndim(codes) == 1 else out


@pytest.mark.parametrize("latent_dim", [1, 6, 20])
def test_reference_decode_matches_torch(latent_dim):
    model = convvae(latent_dim, seed=latent_dim)
    codes = fixed_codes(latent_dim)
    spec = decoder_spec(convvae_decoder(model), latent_dim)
    np.testing.assert_allclose(reference_decode(spec, codes), torch_decode(model, codes), atol=1e-5)
    np.testing.assert_allclose(reference_decode(spec, codes[1]), torch_decode(model, codes[1]), atol=1e-5)


def test_js_decode_of_the_convvae_matches_torch_within_one_grey_level(node, tmp_path):
    model = convvae(6, seed=3)
    codes = fixed_codes(6)
    spec = decoder_spec(convvae_decoder(model), 6)
    probs, gray = js_decode(node, tmp_path, spec, codes)
    torch_images = torch_decode(model, codes)
    assert np.abs(probs - torch_images).max() <= 1 / 255
    assert np.abs(gray - figures.to_uint8(torch_images).astype(np.int64)).max() <= 1
    np.testing.assert_allclose(probs, reference_decode(spec, codes), atol=1e-9)  # same float64 arithmetic
    assert len({g.tobytes() for g in gray}) == len(codes)  # different codes, different images


def exotic_decoder() -> nn.Sequential:
    """Every other supported layer and setting: LeakyReLU, Conv2d with padding and dilation,
    ConvTranspose2d with output_padding and no bias, Flatten, a trailing Sigmoid."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Linear(5, 8 * 6 * 6), nn.LeakyReLU(0.2), nn.Unflatten(1, (8, 6, 6)),
        nn.Conv2d(8, 6, 3, stride=1, padding=2, dilation=2), nn.ReLU(),  # 6x6
        nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, bias=False),  # 12x12
        nn.LeakyReLU(0.1), nn.Conv2d(4, 4, 3, stride=2, padding=1),  # 6x6
        nn.Flatten(), nn.Linear(4 * 6 * 6, 784), nn.Sigmoid(),
    ).eval()


def test_other_layers_match_torch_in_numpy_and_js(node, tmp_path):
    module = exotic_decoder()
    codes = fixed_codes(5, n=3)
    with torch.no_grad():
        expected = module(torch.from_numpy(codes)).view(-1, 28, 28).numpy()
    spec = decoder_spec(module, 5)
    assert spec["layers"][-1]["type"] == "linear"  # the trailing Sigmoid is the output step
    np.testing.assert_allclose(reference_decode(spec, codes), expected, atol=1e-5)
    probs, _ = js_decode(node, tmp_path, spec, codes)
    np.testing.assert_allclose(probs, expected, atol=1e-5)


class OneHotDecoder(nn.Module):
    """A conditional generator's contract: decoder_module() over concat(z, one-hot)."""

    def __init__(self, latent_dim: int, n_classes: int, label: int):
        super().__init__()
        torch.manual_seed(2)
        self.net = nn.Sequential(nn.Linear(latent_dim + n_classes, 784))
        self.onehot = np.eye(n_classes, dtype=np.float32)[label]

    def decoder_module(self) -> nn.Sequential:
        return self.net

    def decoder_condition(self):
        return self.onehot


def test_conditional_spec_appends_the_condition(node, tmp_path):
    gen = OneHotDecoder(3, 10, label=4)
    module, condition = browser_decoder(gen)
    spec = decoder_spec(module, 3, condition)
    assert spec["condition"] == [0.0] * 4 + [1.0] + [0.0] * 5
    codes = fixed_codes(3, n=3)
    with torch.no_grad():
        z = torch.cat([torch.from_numpy(codes), torch.from_numpy(np.tile(gen.onehot, (3, 1)))], 1)
        expected = torch.sigmoid(gen.net(z)).view(-1, 28, 28).numpy()
    np.testing.assert_allclose(reference_decode(spec, codes), expected, atol=1e-5)
    probs, _ = js_decode(node, tmp_path, spec, codes)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    other = decoder_spec(module, 3, np.eye(10)[5])
    assert not np.allclose(reference_decode(other, codes), expected)  # the condition matters
    with pytest.raises(UnsupportedDecoder, match="13 flat inputs"):
        decoder_spec(module, 3)  # without its condition the first layer does not fit


# --------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_raise_bad_decoder_weights(bad):
    model = convvae(4)
    with torch.no_grad():
        model.decoder[0].weight[0, 0, 0, 0] = bad
    with pytest.raises(BadDecoderWeights, match="NaN or infinite"):
        decoder_spec(convvae_decoder(model), 4)
    assert issubclass(BadDecoderWeights, ValueError) and issubclass(BadDecoderWeights, VaeimbError)


@pytest.mark.parametrize("layer, name", [(nn.Tanh(), "Tanh"), (nn.BatchNorm1d(784), "BatchNorm1d"),
                                         (nn.Dropout(), "Dropout")])
def test_unsupported_layer_is_named(layer, name):
    module = nn.Sequential(nn.Linear(4, 784), layer)
    with pytest.raises(UnsupportedDecoder, match=name):
        decoder_spec(module, 4)


def test_unsupported_settings_and_shapes():
    with pytest.raises(UnsupportedDecoder, match="groups"):
        decoder_spec(nn.Sequential(nn.Linear(2, 4 * 14 * 14), nn.Unflatten(1, (4, 14, 14)),
                                   nn.ConvTranspose2d(4, 2, 4, 2, 1, groups=2)), 2)
    with pytest.raises(UnsupportedDecoder, match="28x28"):
        decoder_spec(nn.Sequential(nn.Linear(2, 100)), 2)
    with pytest.raises(UnsupportedDecoder, match="nn.Sequential"):
        decoder_spec(nn.Linear(2, 784), 2)


@pytest.mark.parametrize("latent_dim", [0, 257])
def test_latent_sizes_outside_1_to_256_are_refused(latent_dim):
    with pytest.raises(UnsupportedDecoder, match="1 to 256"):
        decoder_spec(nn.Sequential(nn.Linear(max(latent_dim, 1), 784)), latent_dim)


def test_a_server_spec_takes_any_size_and_the_browser_check_says_why_not():
    """The exported spec (``browser=False``) holds a decoder of any latent size; whether the
    browser takes it is checked where the page reads it (``browser_spec``)."""
    from vaeimb.presentation.latent_js import browser_spec, spec_weights

    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(300, 784))
    spec = decoder_spec(module, 300, browser=False)
    assert spec_weights(spec) == sum(p.numel() for p in module.parameters())
    z = np.random.default_rng(0).standard_normal(300).astype(np.float32)
    with torch.no_grad():
        expected = torch.sigmoid(module(torch.from_numpy(z)[None])).numpy().reshape(28, 28)
    np.testing.assert_allclose(reference_decode(spec, z), expected, atol=1e-5)
    with pytest.raises(UnsupportedDecoder, match="1 to 256"):
        browser_spec(spec)
    small = decoder_spec(nn.Sequential(nn.Linear(6, 784)), 6, browser=False)
    assert browser_spec(small) is small
    with pytest.raises(UnsupportedDecoder, match="at least one dimension"):
        decoder_spec(nn.Sequential(nn.Linear(1, 784)), 0, browser=False)


def test_reading_a_spec_loads_no_torch():
    from import_probe import heavy_modules_loaded

    code = ("import base64, numpy as np; from vaeimb.presentation import latent_js; "
            "w = base64.b64encode(np.zeros(784 * 2, '<f4').tobytes()).decode(); "
            "spec = {'latent_dim': 2, 'condition': None, 'output': {'shape': [28, 28]}, 'layers': [{'type': 'linear', "
            "'in': 2, 'out': 784, 'weight': w, 'bias': None, 'in_shape': [2], 'out_shape': [784]}]}; "
            "latent_js.browser_spec(spec); latent_js.reference_decode(spec, [0.0, 1.0])")
    assert heavy_modules_loaded(code) == []


# --------------------------------------------------------------------------------------
# the page, driven by AppTest (which cannot run the JS: it sees the component's data, and
# a value written to the component's session state stands in for the browser)
# --------------------------------------------------------------------------------------
APP_TINY = {
    "cfg_n_majority": 300, "cfg_n_minority": 20, "cfg_steps": 30, "cfg_batch_size": 32,
    "cfg_generator_steps": 20, "cfg_generator_batch_size": 16, "cfg_n_checkpoints": 3, "cfg_latent_dim": 6,
}


def test_latent_page_mounts_the_explorer_with_the_vaes_decoder(monkeypatch, tmp_path, mnist_dir):
    from streamlit.testing.v1 import AppTest

    from vaeimb.declarations.config import ExperimentConfig
    from vaeimb.running.cache import ResultCache
    from vaeimb.studies.experiment import load_generator
    from vaeimb_app.latent_explorer import COMPONENT_NAME
    from vaeimb_app.latent import generator_key_for

    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(mnist_dir))
    monkeypatch.delenv("VAEIMB_APP_PRESET", raising=False)
    monkeypatch.setenv("VAEIMB_APP_WORKERS", "0")  # train in this process: no worker start-up
    at = AppTest.from_file("../app.py", default_timeout=120)
    for k, v in APP_TINY.items():
        at.session_state[k] = v
    at.run()
    at.switch_page("pages/2_latent_space.py").run()
    next(b for b in at.button if b.label == "Train the vae generator").click().run()
    at.run()
    assert not at.exception, at.exception

    (el,) = at.get("bidi_component")
    assert el.proto.component_name == COMPONENT_NAME
    data = json.loads(el.proto.json)
    config = ExperimentConfig(n_majority=300, n_minority=20, steps=30, batch_size=32, generator_steps=20,
                              generator_batch_size=16, n_checkpoints=3, latent_dim=6)
    key = f"latent_explorer_{generator_key_for(config, 'vae', 0)}"
    assert el.proto.id.endswith(key)  # one explorer per (generator, seed)
    art = load_generator(config, "vae", 0, cache=ResultCache(tmp_path), data_dir=mnist_dir)
    # the spec is this VAE's decoder, the sliders are ordered by KL and start at the mean code
    np.testing.assert_allclose(reference_decode(data["spec"], data["mean"]),
                               latent.decode(art, np.array(data["mean"], np.float32)), atol=1e-5)
    assert [d["index"] for d in data["dims"]] == latent.dimensions_by_activity(art).tolist()
    assert 1 <= data["n_shown"] <= 6
    np.testing.assert_allclose(data["mean"], latent.mean_code(art), atol=1e-6)

    at.run()  # a rerun sends the very same payload: the browser keeps the mounted explorer
    assert at.get("bidi_component")[0].proto.json == el.proto.json

    # the browser sends a code back: the nearest-images strip and the ringed map point follow it
    far = [float(hi) for hi in (d["max"] for d in sorted(data["dims"], key=lambda d: d["index"]))]
    at.session_state[key] = {"code": far}
    at.run()
    assert not at.exception and not at.warning
    nearest = np.argsort(((art.latent_mu - np.float32(far)) ** 2).sum(1), kind="stable")
    assert at.session_state["latent_followed_code"] == tuple(np.round(np.float32(far), 4).tolist())
    assert any("nearest this code" in c for im in at.image for c in im.captions)
    assert at.session_state["latent_point"] == int(nearest[0])  # 20 real minority images: all on the map, in order

    for junk in ("junk", [1.0, 2.0], [float("nan")] * 6, [True] * 6):
        at.session_state[key] = {"code": junk}
        at.run()
        assert not at.exception
        assert "Ignored the latent code" in at.warning[0].value

    # a decoder the browser cannot run: the page says why and decodes on the server
    import vaeimb.presentation.latent_js
    from vaeimb_app.latent_explorer import cached_decoder_spec

    monkeypatch.setattr(vaeimb.presentation.latent_js, "MAX_LATENT", 4)
    cached_decoder_spec.clear()
    at.run()
    assert not at.exception
    assert not at.get("bidi_component")
    assert any("Decoding on the server instead" in w.value and "1 to 4" in w.value for w in at.warning)
    assert len([s for s in at.slider if s.key.startswith("z_")]) == 6
    assert any("decoded image" in c for im in at.image for c in im.captions)
    cached_decoder_spec.clear()


def test_leaky_protocol_captions_the_vaes_images_as_test_images(monkeypatch, tmp_path, mnist_dir):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(mnist_dir))
    monkeypatch.delenv("VAEIMB_APP_PRESET", raising=False)
    monkeypatch.setenv("VAEIMB_APP_WORKERS", "0")  # train in this process: no worker start-up
    at = AppTest.from_file("../app.py", default_timeout=120)
    for k, v in {**APP_TINY, "cfg_protocol": "blog"}.items():
        at.session_state[k] = v
    at.run()
    at.switch_page("pages/2_latent_space.py").run()
    next(b for b in at.button if b.label == "Train the vae generator").click().run()
    at.run()
    assert not at.exception, at.exception
    assert any("TEST images" in w.value and "LEAKY" in w.value for w in at.warning)
    captions = [c for im in at.image for c in im.captions]
    assert any(c.startswith("top: real TEST images (the leak)") for c in captions)
    assert not any("real training images" in c for c in captions)
    assert any(":red[**LEAK:**" in m.value for m in at.markdown)
