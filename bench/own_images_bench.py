"""How long the analyst's own file takes to validate (issue #25: an uploaded 60 000-image
.npz in at most 3 s): all of MNIST (60 000 train, 10 000 test) written as an .npz in a
temporary folder, read back as bytes (what an upload hands over) by
``vaeimb.parts.own_images.read_npz``, then kept by ``store``. Also timed: the same file
compressed, as floats in [0, 1] (compressed), and as 32×32 RGB (converted and resized).

    python bench/own_images_bench.py [--data-dir ../shared/data/mnist] [--repeat 3]

Nothing is written outside the temporary folder (the store's cache included).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from vaeimb.declarations.errors import DataUnavailableError  # noqa: E402
from vaeimb.declarations.provenance import cpu_name  # noqa: E402
from vaeimb.parts import own_images as oi  # noqa: E402
from vaeimb.parts.data import load_images  # noqa: E402

TARGET_S = 3.0


def npz_bytes(arrays: dict, compressed: bool = False) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def timed(fn, repeat: int) -> tuple[float, float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    ap.add_argument("--data-dir", default=os.environ.get("VAEIMB_DATA_DIR", str(shared)))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    images = load_images(args.data_dir, download=False)
    xtr, ytr, xte, yte = images.train_images, images.train_labels, images.test_images, images.test_labels

    def rgb32(x):
        return np.repeat(np.pad(x, ((0, 0), (2, 2), (2, 2)))[..., None], 3, axis=3)

    cases = {
        "uint8 28×28, np.savez (Keras keys)": npz_bytes({"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}),
        "uint8 28×28, np.savez_compressed (MedMNIST keys)": npz_bytes(
            {"train_images": xtr, "train_labels": ytr[:, None], "test_images": xte, "test_labels": yte[:, None]}, True),
        # uncompressed, 70 000 float32 images take 220 MB: over the 200 MB limit
        "float32 in [0, 1] 28×28, np.savez_compressed": npz_bytes(
            {"x_train": xtr.astype(np.float32) / 255, "y_train": ytr, "x_test": xte.astype(np.float32) / 255, "y_test": yte},
            True),
        "uint8 RGB 32×32 (50 000 + 10 000), np.savez": npz_bytes(
            {"x_train": rgb32(xtr[:50000]), "y_train": ytr[:50000], "x_test": rgb32(xte), "y_test": yte}),
    }
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical cores); Python {platform.python_version()}, numpy {np.__version__}")
    print(f"{'file':52} {'size':>8} {'read_npz best':>14} {'median':>8} {'store':>7}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = tmp  # the store writes here only
        for label, data in cases.items():
            path = Path(tmp) / "upload.npz"
            path.write_bytes(data)  # as written by the analyst; read back as the bytes an upload gives
            data = path.read_bytes()
            try:
                best, median, own = timed(lambda data=data: oi.read_npz(data, name="upload.npz"), args.repeat)
            except DataUnavailableError as err:
                print(f"{label:52} {len(data) / 1e6:6.0f} MB FAILED: {err}")
                worst = float("inf")
                continue
            t0 = time.perf_counter()
            oi.store(own)
            t_store = time.perf_counter() - t0
            worst = max(worst, median)
            print(f"{label:52} {len(data) / 1e6:6.0f} MB {best:12.2f} s {median:6.2f} s {t_store:5.2f} s"
                  f"   notes: {' '.join(own.notes)}")
    print(f"slowest median validation {worst:.2f} s (target <= {TARGET_S:.0f} s): {'OK' if worst <= TARGET_S else 'OVER'}")
    return 0 if worst <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
