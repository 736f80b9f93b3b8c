"""Stereo image pairs without a download, cut from scikit-learn's bundled sample images.

``sklearn.datasets.load_sample_images`` ships two 427x640 RGB photographs (``china.jpg``,
``flower.jpg``). :func:`make_stereo_pairs` halves their resolution, cuts random ``crop`` x
``crop`` windows and synthesises the right view from the left one: every pixel moves left
by a smooth random disparity ``d(x, y)`` (a coarse random grid, bilinearly upsampled), i.e.
``right(x, y) = left(x + d(x, y), y)`` sampled with linear interpolation from a window wider
than the crop, so no border is invented. Held-out pairs come from the right 30 % of each
photograph, training pairs from the left 70 %: the two never share a pixel.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Tuple

import numpy as np

TRAIN_FRACTION = 0.7   # columns [0, 0.7 W) train, [0.7 W, W) held out


@lru_cache(maxsize=1)
def sample_images(downscale: int = 2) -> Tuple[np.ndarray, ...]:
    """The bundled photographs as float32 ``[H, W, 3]`` in [0, 1], box-downscaled by ``downscale``."""
    from sklearn.datasets import load_sample_images

    out = []
    for img in load_sample_images().images:
        a = img.astype(np.float32) / 255.0
        if downscale > 1:
            h, w = (a.shape[0] // downscale) * downscale, (a.shape[1] // downscale) * downscale
            a = a[:h, :w].reshape(h // downscale, downscale, w // downscale, downscale, 3).mean((1, 3))
        out.append(np.ascontiguousarray(a, dtype=np.float32))
    return tuple(out)


def smooth_field(rng: np.random.Generator, h: int, w: int, lo: float, hi: float, grid: int = 3) -> np.ndarray:
    """A smooth random field in [lo, hi]: a ``grid`` x ``grid`` random lattice, bilinearly upsampled."""
    g = rng.uniform(lo, hi, size=(grid, grid))
    ys = np.linspace(0, grid - 1, h)
    xs = np.linspace(0, grid - 1, w)
    y0 = np.clip(np.floor(ys).astype(int), 0, grid - 2)
    x0 = np.clip(np.floor(xs).astype(int), 0, grid - 2)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    a = g[y0][:, x0]
    b = g[y0][:, x0 + 1]
    c = g[y0 + 1][:, x0]
    d = g[y0 + 1][:, x0 + 1]
    return (a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + c * fy * (1 - fx) + d * fy * fx).astype(np.float32)


def warp_right(window: np.ndarray, disparity: np.ndarray, margin: int) -> np.ndarray:
    """Right view of the crop ``window[:, margin:margin+w]``: ``right[y, x] = window[y, margin + x + d]``.

    ``window`` is ``[h, w + 2*margin, 3]``; linear interpolation along x.
    """
    h, w = disparity.shape
    xs = margin + np.arange(w, dtype=np.float32)[None, :] + disparity
    x0 = np.floor(xs).astype(np.int64)
    f = (xs - x0)[..., None]
    x0 = np.clip(x0, 0, window.shape[1] - 2)
    rows = np.arange(h)[:, None]
    return (window[rows, x0] * (1 - f) + window[rows, x0 + 1] * f).astype(np.float32)


def make_stereo_pairs(
    n: int,
    crop: int = 32,
    split: str = "train",
    seed: int = 0,
    max_disparity: float = 4.0,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` stereo pairs: ``left``, ``right`` float32 ``[n, 3, crop, crop]`` and ``disparity`` ``[n, crop, crop]``.

    ``split`` ``"train"`` cuts from the left 70 % of each photograph, ``"test"`` from the right
    30 %. The same arguments give the same arrays.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images = sample_images()
    rng = np.random.default_rng(seed)
    margin = int(np.ceil(max_disparity)) + 1
    left = np.zeros((n, 3, crop, crop), dtype=np.float32)
    right = np.zeros_like(left)
    disp = np.zeros((n, crop, crop), dtype=np.float32)
    for i in range(n):
        img = images[i % len(images)]
        H, W = img.shape[:2]
        cut = int(W * TRAIN_FRACTION)
        x_lo, x_hi = (0, cut - crop - 2 * margin) if split == "train" else (cut, W - crop - 2 * margin)
        x = int(rng.integers(x_lo, x_hi + 1))
        y = int(rng.integers(0, H - crop + 1))
        window = img[y : y + crop, x : x + crop + 2 * margin]
        d = smooth_field(rng, crop, crop, 0.0, max_disparity)
        left[i] = window[:, margin : margin + crop].transpose(2, 0, 1)
        right[i] = warp_right(window, d, margin).transpose(2, 0, 1)
        disp[i] = d
    return left, right, disp


def psnr(a, b, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over all elements (mean squared error of the whole set)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak * peak / mse))
