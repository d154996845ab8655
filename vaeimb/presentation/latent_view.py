"""The Latent space page's data as files: a fitted generator's latent view, exported once.

The app's server never loads torch (about 0.5 GB resident): a child process
(``vaeimb.interfaces.latent_child``) loads or trains the generator, and ``write_view``
writes what the page shows of each label it fills:

- the decoder as a ``latent_js`` spec, its weights as float32 arrays (the browser decodes
  it as you drag; ``reference_decode`` decodes it in numpy on the server),
- the latent means, spreads and KL per dimension of the images it learned the label from,
  and those images with their encoded means (the nearest-images strip, interpolations),
- their reconstructions, 32 generated samples,
- the latent map: real minority, generated and majority images with their codes (PCA is
  computed from the codes in numpy; a t-SNE projection, where made, is stored); its real
  minority images are stored as rows of the real images above,
- provenance.

A decoder array that an ``.npz`` beside the view already holds (the shipped generator's own
state, ``share``) is stored as a reference to it, not twice.

``load_view`` reads it back with numpy alone (a missing or damaged file is one
``LatentViewError`` naming it). One view is a JSON file and an ``.npz`` beside it, named
by a stem (``view`` in the app's cache folder, ``latent-<generator>-seed<n>`` beside the
shipped first-view result).
"""

from __future__ import annotations

import base64
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..declarations.errors import ConfigError, VaeimbError
from ..running.recipes import PRESETS, parse_recipe
from ..running.result_files import json_default
from . import latent
from .figures import to_uint8
from .latent_js import (
    BadDecoderWeights,
    UnsupportedDecoder,
    browser_decoder,
    decoder_spec,
    reference_decode,
)

VIEW_FORMAT = "vaeimb-latent-view/1"
#: The generators with a latent space (``vaeimb.parts.generators.LEARNED``, which loads
#: torch; a test keeps the two equal).
LATENT_GENERATORS = ("vae", "cvae", "latent-smote", "deepsmote")
#: Generated samples shown, reconstructions shown, generated images drawn for the map at
#: most, and images of each kind on the map at most.
N_SAMPLES = 32
N_RECONSTRUCTIONS = 8
MAP_GENERATED = 1000
MAP_PER_KIND = 300
_PER_LABEL = ("latent_mu", "kl_per_dim", "real", "real_codes", "reconstructions", "samples", "map_real_rows",
              "map_images", "map_kinds", "map_codes")


class LatentViewError(VaeimbError):
    """A latent view's files are missing, unreadable or inconsistent."""


def view_stem(name: str, seed: int) -> str:
    """The stem of a shipped view: ``latent-<generator>-seed<n>``."""
    return f"latent-{name}-seed{int(seed)}"


def generators_used(approaches: Iterable[str], protocol=None) -> list[str]:
    """The generators the approaches (preset names or recipe texts) use, in order, read
    from their recipes without building their parts (no torch). ``ConfigError`` for a
    name that is neither."""
    out: list[str] = []
    for spec in approaches:
        spec = str(spec).strip()
        if spec in PRESETS:
            gen = PRESETS[spec].recipe.gen
        elif "=" in spec:
            gen = parse_recipe(spec).gen
        else:
            raise ConfigError(f"Unknown approach {spec!r}: a preset ({', '.join(PRESETS)}) or a recipe "
                              "such as gen=vae,batches=balanced.")
        if gen and gen not in out:
            out.append(gen)
    return out


# --------------------------------------------------------------------------------------
# The view of one label, as the page reads it
# --------------------------------------------------------------------------------------
@dataclass
class LatentView:
    """What the Latent page shows of one label of one fitted generator (numpy only).

    Answers like a ``LatentGenerator`` where the page reads one (``latent_mu``,
    ``kl_per_dim``, ``latent_dim``, ``info``, ``uses_majority``, ``decode``), so
    ``vaeimb.presentation.latent``'s functions work on it.
    """

    name: str
    seed: int
    label: int
    latent_dim: int
    info: dict
    uses_majority: bool
    latent_mu: np.ndarray  # (n, latent) latent means of the images it learned the label from
    kl_per_dim: np.ndarray  # (latent,)
    latent_sd: np.ndarray | None  # (n, latent) posterior spreads (a VAE), else None
    real: np.ndarray  # (n, 28, 28) uint8: those images
    real_codes: np.ndarray  # (n, latent) their encoded means
    reconstructions: np.ndarray  # (k, 28, 28) uint8: the first k real images through the model
    samples: np.ndarray  # (N_SAMPLES, 28, 28) uint8
    map_images: np.ndarray  # (m, 28, 28) uint8
    map_kinds: np.ndarray  # (m,) str
    map_codes: np.ndarray  # (m, latent)
    spec: dict | None  # the decoder (``latent_js`` spec), None when it cannot be written as one
    spec_error: str = ""  # why there is no spec
    projections: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. {"tsne": (m, 2)}
    provenance: dict = field(default_factory=dict)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Latent code(s) -> image(s) in [0, 1], in numpy (``reference_decode`` of the spec)."""
        if self.spec is None:
            raise UnsupportedDecoder(self.spec_error or f"the {self.name} generator's decoder was not exported.")
        return reference_decode(self.spec, z).astype(np.float32)

    def latent_map(self, method: str, coords: np.ndarray | None = None) -> latent.LatentMap | None:
        """The map of ``method``: PCA of the codes (numpy), or the stored (or given)
        t-SNE coordinates; None when no t-SNE projection is at hand."""
        if method not in latent.MAP_METHODS:
            raise ValueError(f"Unknown map method {method!r}; choose 'pca' or 'tsne'.")
        if method == "pca":
            xy, explained = latent.pca_2d(self.map_codes)
            return latent.LatentMap(xy, self.map_kinds, self.map_images, "pca", explained)
        coords = self.projections.get(method) if coords is None else coords
        if coords is None:
            return None
        coords = np.asarray(coords, np.float32)
        if coords.shape != (len(self.map_kinds), 2):
            raise LatentViewError(f"the {method} projection has shape {coords.shape}, not ({len(self.map_kinds)}, 2).")
        return latent.LatentMap(coords, self.map_kinds, self.map_images, method)


# --------------------------------------------------------------------------------------
# Writing (in the child process: the generator is a torch model)
# --------------------------------------------------------------------------------------
def _spec_arrays(spec: dict, prefix: str, shared: Mapping[str, Mapping[bytes, str]] | None = None
                 ) -> tuple[dict, dict[str, np.ndarray]]:
    """The spec with each base64 weight replaced by the name of its float32 array, or by
    ``{"file", "array"}`` when ``shared`` (``{file name: {bytes: array name}}``) holds it."""
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for i, L in enumerate(spec["layers"]):
        L = dict(L)
        for key in ("weight", "bias"):
            if L.get(key) is not None:
                a = np.frombuffer(base64.b64decode(L[key]), dtype="<f4").copy()
                found = next(((f, names[a.tobytes()]) for f, names in (shared or {}).items() if a.tobytes() in names),
                             None)
                if found is not None:
                    L[key] = {"file": found[0], "array": found[1]}
                else:
                    name = f"{prefix}decoder/{i}/{key}"
                    arrays[name] = a
                    L[key] = name
        layers.append(L)
    return {**spec, "layers": layers}, arrays


def _shareable(path: str | os.PathLike) -> dict[str, dict[bytes, str]]:
    """``{file name: {float32 bytes: array name}}`` of an ``.npz`` a view may refer to."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as npz:
        return {path.name: {np.ascontiguousarray(npz[k], "<f4").tobytes(): k for k in npz.files
                            if npz[k].dtype == np.float32}}


def view_arrays(gen, label: int, real: np.ndarray, majority: np.ndarray, *, seed: int,
                methods: Iterable[str] = ("pca",), shared: Mapping[str, Mapping[bytes, str]] | None = None
                ) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) of label ``label`` of the fitted latent generator ``gen``: ``real``
    the images it learned the label from, ``majority`` the head class's training images;
    ``shared``: arrays of files beside the view that its decoder may refer to."""
    art = latent.for_label(gen, label)
    real = np.asarray(real, np.uint8)
    generated = art.sample(min(len(majority), MAP_GENERATED), seed=seed)
    images, kinds = latent.map_images(real, generated, majority, max_per_kind=MAP_PER_KIND, seed=seed)
    codes = latent.encode(art, images)
    real_codes = latent.encode(art, real)
    p = f"{int(label)}/"
    row_of = {img.tobytes(): i for i, img in reversed(list(enumerate(real)))}
    is_real = kinds == latent.MAP_KINDS[0]
    arrays = {
        p + "latent_mu": np.asarray(art.latent_mu, np.float32), p + "kl_per_dim": np.asarray(art.kl_per_dim, np.float32),
        p + "real": real, p + "real_codes": real_codes,
        p + "reconstructions": to_uint8(latent.decode(art, real_codes[:N_RECONSTRUCTIONS]))
        if len(real) else np.zeros((0, 28, 28), np.uint8),
        p + "samples": np.asarray(art.sample(N_SAMPLES, seed=seed), np.uint8),
        p + "map_real_rows": np.array([row_of[img.tobytes()] for img in images[is_real]], np.int64),
        p + "map_images": images[~is_real], p + "map_kinds": kinds.astype(str), p + "map_codes": codes,
    }
    spread = gen.spread_of(label) if hasattr(gen, "spread_of") else None
    if spread is not None:
        arrays[p + "latent_sd"] = np.asarray(spread, np.float32)
    for method in methods:
        if method != "pca":  # PCA is computed from the codes where the view is read
            arrays[p + method] = latent.project(codes, method, seed)[0]
    meta: dict[str, Any] = {"decoder": None, "decoder_error": ""}
    try:
        module, condition = browser_decoder(art)
        spec = decoder_spec(module, art.latent_dim, condition, browser=False)
        meta["decoder"], weights = _spec_arrays(spec, p, shared)
        arrays.update(weights)
    except (UnsupportedDecoder, BadDecoderWeights) as err:
        meta["decoder_error"] = str(err)
    return meta, arrays


def write_view(gen, images: Mapping[int, tuple[np.ndarray, np.ndarray]], folder: str | os.PathLike,
               stem: str = "view", *, seed: int, provenance: dict, methods: Iterable[str] = ("pca",),
               config: dict | None = None, share: str | os.PathLike | None = None) -> list[Path]:
    """Write the view of every label of ``images`` (``{label: (real images of that label,
    head-class images)}``) of the fitted latent generator ``gen``; returns the paths.

    ``methods``: the map projections to store beside the codes (``"tsne"``: scikit-learn,
    slow); PCA is always computed from the codes when read. ``share``: an ``.npz`` in
    ``folder`` (e.g. the generator's shipped state) whose arrays the decoder refers to
    instead of storing them again.
    """
    methods = tuple(methods)
    if share is not None and Path(share).parent.resolve() != Path(folder).resolve():
        raise ValueError(f"a view shares arrays only with a file in its own folder, not {share}.")
    shared = _shareable(share) if share is not None else None
    for m in methods:
        if m not in latent.MAP_METHODS:
            raise ValueError(f"Unknown map method {m!r}; choose 'pca' or 'tsne'.")
    labels, arrays = {}, {}
    for label, (real, majority) in images.items():
        meta, arr = view_arrays(gen, int(label), real, majority, seed=seed, methods=methods, shared=shared)
        labels[str(int(label))] = meta
        arrays.update(arr)
    doc = {
        "format": VIEW_FORMAT, "provenance": provenance, "config": config,
        "generator": gen.name, "seed": int(seed), "latent_dim": int(gen.latent_dim),
        "uses_majority": bool(gen.uses_majority), "info": dict(getattr(gen, "info", {})), "labels": labels,
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.json", folder / f"{stem}.npz"]
    np.savez_compressed(paths[1], **arrays)
    paths[0].write_text(json.dumps(doc, indent=1, default=json_default) + "\n")  # last: its presence says done
    return paths


def write_projection(coords: np.ndarray, path: str | os.PathLike) -> Path:
    """Store one map projection (``(m, 2)`` coordinates) made after the view, e.g. a t-SNE."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, np.asarray(coords, np.float32), allow_pickle=False)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------
# Reading (numpy only)
# --------------------------------------------------------------------------------------
def has_view(folder: str | os.PathLike, stem: str = "view") -> bool:
    folder = Path(folder)
    return (folder / f"{stem}.json").is_file() and (folder / f"{stem}.npz").is_file()


def _bad(path: Path, why: str) -> LatentViewError:
    return LatentViewError(f"the latent view {path} is {why}; remake it (the Latent space page exports it again "
                           "when its folder is removed; the shipped one: python bench/ship_default.py --views-only).")


def _shared_array(ref: dict, folder: Path, path: Path) -> np.ndarray:
    """The array ``{"file", "array"}`` of a file beside the view, as flat float32."""
    name = str(ref.get("file", ""))
    if not name or Path(name).name != name or not name.endswith(".npz"):
        raise _bad(path, f"referring to {name!r}, not an .npz file beside it")
    try:
        with np.load(folder / name, allow_pickle=False) as npz:
            a = npz[str(ref.get("array"))]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise _bad(path, f"referring to the decoder array {ref.get('array')!r} of {folder / name}, which cannot be "
                         f"read ({type(err).__name__}: {err})") from None
    return a.reshape(-1)


def _rebuild_spec(meta: dict, arrays: Mapping[str, np.ndarray], path: Path) -> dict:
    layers = []
    for L in meta["layers"]:
        L = dict(L)
        for key in ("weight", "bias"):
            name = L.get(key)
            if name is None:
                continue
            if isinstance(name, dict):
                a = _shared_array(name, path.parent, path)
                name = f"{name.get('file')}:{name.get('array')}"
            elif name not in arrays:
                raise _bad(path, f"missing the decoder array {name!r}")
            else:
                a = np.asarray(arrays[name])
            if a.dtype != np.dtype("<f4") or a.ndim != 1:
                raise _bad(path, f"holding a decoder array {name!r} of {a.dtype} {a.shape}, not flat float32")
            if not np.isfinite(a).all():
                raise _bad(path, f"holding NaN or infinite decoder weights ({name!r})")
            L[key] = base64.b64encode(np.ascontiguousarray(a, "<f4").tobytes()).decode("ascii")
        layers.append(L)
    return {**meta, "layers": layers}


def load_view(folder: str | os.PathLike, stem: str = "view") -> dict[int, LatentView]:
    """``{label: LatentView}`` of the view ``stem`` in ``folder``, checked; one
    ``LatentViewError`` naming the file for anything missing, unreadable or inconsistent."""
    folder = Path(folder)
    json_path, npz_path = folder / f"{stem}.json", folder / f"{stem}.npz"
    try:
        doc = json.loads(json_path.read_text())
    except (OSError, ValueError) as err:
        raise _bad(json_path, f"missing or unreadable ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != VIEW_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise _bad(json_path, f"of format {found!r}, not {VIEW_FORMAT!r}")
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise _bad(npz_path, f"missing or unreadable ({err})") from None
    try:
        latent_dim = int(doc["latent_dim"])
        name, seed, labels = str(doc["generator"]), int(doc["seed"]), doc["labels"]
        info, uses_majority = dict(doc.get("info") or {}), bool(doc.get("uses_majority", False))
        if not labels:
            raise _bad(json_path, "naming no label")
        views = {}
        for key, meta in labels.items():
            label, p = int(key), f"{int(key)}/"
            missing = [k for k in _PER_LABEL if p + k not in arrays]
            if missing:
                raise _bad(npz_path, f"missing {', '.join(p + k for k in missing)}")
            a = {k: arrays[p + k] for k in _PER_LABEL}
            n, m, r = len(a["real"]), len(a["map_kinds"]), len(a["map_real_rows"])
            expect = {"latent_mu": (n, latent_dim), "kl_per_dim": (latent_dim,), "real": (n, 28, 28),
                      "real_codes": (n, latent_dim), "samples": (N_SAMPLES, 28, 28), "map_images": (m - r, 28, 28),
                      "map_codes": (m, latent_dim)}
            if p + "latent_sd" in arrays:
                a["latent_sd"] = arrays[p + "latent_sd"]
                expect["latent_sd"] = (n, latent_dim)
            for k, shape in expect.items():
                if a[k].shape != shape:
                    raise _bad(npz_path, f"holding {p + k} of shape {a[k].shape}, not {shape}")
            if a["reconstructions"].shape[1:] != (28, 28) or len(a["reconstructions"]) > n:
                raise _bad(npz_path, f"holding {p}reconstructions of shape {a['reconstructions'].shape}")
            rows = a["map_real_rows"]
            if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer) or (r and not 0 <= rows.min() <= rows.max() < n):
                raise _bad(npz_path, f"holding {p}map_real_rows outside the {n} real images")
            if (a["map_kinds"][:r] != latent.MAP_KINDS[0]).any() or (a["map_kinds"][r:] == latent.MAP_KINDS[0]).any():
                raise _bad(npz_path, f"holding {p}map_kinds that do not start with the {r} real minority points")
            for k in ("latent_mu", "kl_per_dim", "real_codes", "map_codes"):
                if not np.isfinite(a[k]).all():
                    raise _bad(npz_path, f"holding NaN or infinite values in {p + k}")
            if not set(np.unique(a["map_kinds"]).tolist()) <= set(latent.MAP_KINDS):
                raise _bad(npz_path, f"holding unknown point kinds in {p}map_kinds")
            spec = None
            if meta.get("decoder") is not None:
                spec = _rebuild_spec(meta["decoder"], arrays, npz_path)
                if spec.get("latent_dim") != latent_dim:
                    raise _bad(json_path, f"holding a decoder of {spec.get('latent_dim')} inputs for a "
                                          f"{latent_dim}-d latent")
            projections = {m_: np.asarray(arrays[p + m_], np.float32) for m_ in latent.MAP_METHODS
                           if m_ != "pca" and p + m_ in arrays}
            views[label] = LatentView(
                name=name, seed=seed, label=label, latent_dim=latent_dim, info=info, uses_majority=uses_majority,
                latent_mu=a["latent_mu"].astype(np.float32), kl_per_dim=a["kl_per_dim"].astype(np.float32),
                latent_sd=a.get("latent_sd"), real=a["real"].astype(np.uint8), real_codes=a["real_codes"].astype(np.float32),
                reconstructions=a["reconstructions"].astype(np.uint8), samples=a["samples"].astype(np.uint8),
                map_images=np.concatenate([a["real"][rows], a["map_images"]]).astype(np.uint8),
                map_kinds=a["map_kinds"].astype(str),
                map_codes=a["map_codes"].astype(np.float32), spec=spec, spec_error=str(meta.get("decoder_error", "")),
                projections=projections, provenance=dict(doc.get("provenance") or {}),
            )
    except LatentViewError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise _bad(json_path, f"inconsistent ({type(err).__name__}: {err})") from None
    return views


def load_projection(path: str | os.PathLike) -> np.ndarray | None:
    """A projection stored by ``write_projection``, or None when there is none (or it is unreadable)."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
