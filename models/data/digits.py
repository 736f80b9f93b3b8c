"""Handwritten digits without a download: scikit-learn's bundled set, and real MNIST IDX files.

scikit-learn ships ``load_digits``: 1,797 digits of 8x8 pixels with 17 grey levels (0..16)
from the UCI "optical recognition of handwritten digits" set. :func:`load_sklearn_digits`
scales them to [0, 1] and upsamples them to 28x28 with bilinear interpolation so that the
seed networks keep their 784 inputs; the result is a blurrier, smaller stand-in for MNIST
(no 4-pixel margin, no anti-aliased strokes), with a fixed held-out split.

:func:`read_idx` / :func:`load_mnist_idx` read the real MNIST files (IDX format, optionally
gzipped) for whoever has them on disk; the zoo trainers take ``mnist_dir=`` to use them.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Tuple

import numpy as np

# IDX type codes -> big-endian numpy dtypes (http://yann.lecun.com/exdb/mnist/ format).
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

DIGITS_SPLIT_SEED = 0       # the held-out split never depends on the training seed
DIGITS_TEST_FRACTION = 0.2  # 1,797 digits -> 1,438 train, 359 test


def _open(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (plain or gzipped) into a native-endian numpy array.

    Raises ``ValueError`` on a bad magic number, an unknown type code, or a payload whose
    size does not match the header (a truncated download).
    """
    path = Path(path)
    with _open(path) as fh:
        data = fh.read()
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise ValueError(f"{path}: not an IDX file (magic {data[:4].hex()})")
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
    if ndim < 1:
        raise ValueError(f"{path}: IDX file with {ndim} dimensions")
    head = 4 + 4 * ndim
    if len(data) < head:
        raise ValueError(f"{path}: truncated IDX header")
    dims = struct.unpack(">" + "I" * ndim, data[4:head])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    payload = data[head:]
    if len(payload) != expected:
        raise ValueError(f"{path}: IDX payload is {len(payload)} bytes, header {dims} needs {expected}")
    arr = np.frombuffer(payload, dtype=dtype).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem.replace("-idx", ".idx"), stem + ".gz", stem.replace("-idx", ".idx") + ".gz"):
        p = directory / name
        if p.exists():
            return p
    raise FileNotFoundError(f"{directory}: no {stem}[.gz] (MNIST IDX file)")


def load_mnist_idx(directory: str | Path, split: str = "train") -> Tuple[np.ndarray, np.ndarray]:
    """Real MNIST from IDX files in ``directory``: ``split`` is ``"train"`` or ``"t10k"``/``"test"``.

    Returns ``(images, labels)``: float32 ``[N, 784]`` in [0, 1] and int64 ``[N]``.
    """
    directory = Path(directory)
    prefix = {"train": "train", "t10k": "t10k", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 't10k'/'test', got {split!r}")
    images = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3:
        raise ValueError(f"{directory}: {prefix} images have shape {images.shape}, expected [N, rows, cols]")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{directory}: {labels.shape[0]} labels for {images.shape[0]} images")
    x = (images.reshape(images.shape[0], -1).astype(np.float32) / 255.0)
    return x, labels.astype(np.int64)


def upsample(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of ``[N, h, w]`` to ``[N, size, size]`` (torch ``interpolate``, half-pixel centres)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return out.squeeze(1).clamp(0.0, 1.0).numpy()


def load_sklearn_digits(size: int = 28) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits, ``[N, size*size]`` float32 in [0, 1], fixed 80/20 split.

    ``size=8`` keeps the native 8x8 pixels. Returns ``(x_train, y_train, x_test, y_test)``;
    the split is stratified by class and fixed (seed :data:`DIGITS_SPLIT_SEED`).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = d.images.astype(np.float32) / 16.0
    if size != 8:
        imgs = upsample(imgs, size)
    x = imgs.reshape(len(imgs), -1).astype(np.float32)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(DIGITS_SPLIT_SEED)
    test_idx = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test_idx.extend(idx[: int(round(len(idx) * DIGITS_TEST_FRACTION))].tolist())
    test_mask = np.zeros(len(y), dtype=bool)
    test_mask[test_idx] = True
    return x[~test_mask], y[~test_mask], x[test_mask], y[test_mask]


def load_digits_data(mnist_dir: str | Path | None = None, size: int = 28):
    """The zoo's digit data: real MNIST when ``mnist_dir`` holds IDX files, else sklearn digits."""
    if mnist_dir:
        xtr, ytr = load_mnist_idx(mnist_dir, "train")
        xte, yte = load_mnist_idx(mnist_dir, "t10k")
        return xtr, ytr, xte, yte, "mnist-idx"
    xtr, ytr, xte, yte = load_sklearn_digits(size)
    return xtr, ytr, xte, yte, f"sklearn-digits-8x8-upsampled-{size}" if size != 8 else "sklearn-digits-8x8"
