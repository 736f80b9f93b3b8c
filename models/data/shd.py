"""Spoken-digit spike data: a synthetic generator, and a reader for the real SHD HDF5 files.

The Spiking Heidelberg Digits (SHD, Cramer et al. 2020) are spoken digits passed through a
cochlea model: 700 frequency channels ("units"), spike times in seconds, 20 classes (0-9 in
English and German). Each HDF5 file holds ragged arrays ``spikes/times`` (float),
``spikes/units`` (int) and ``labels``; :func:`load_shd_hdf5` bins them into a dense
``[N, steps, channels]`` tensor, pooling the 700 units into fewer channels.

The real files are a download, which the zoo cannot do at run time, so the shipped ``shd``
model trains on :func:`synthetic_shd`: every class is a fixed "word" of one to three
syllables, each syllable a few formant-like tracks that sweep across frequency channels
between an onset and an offset (plus, for some classes, a broadband consonant burst at the
onset). Each sample draws a speaker-like channel shift, a tempo change and time shift,
per-track jitter, Bernoulli spiking inside the tracks and background noise spikes.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

SHD_UNITS = 700          # cochlea channels in the real data
SHD_MAX_TIME = 1.4       # seconds: the real recordings end before this
TEMPLATE_SEED = 20_251   # class templates are fixed; a sample's seed only draws the variations


# ----- synthetic spoken digits --------------------------------------------------------------

def class_templates(num_classes: int, channels: int, template_seed: int = TEMPLATE_SEED) -> List[List[tuple]]:
    """One template per class: a list of tracks ``(t0, t1, c0, c1, width, kind)``.

    Times are fractions of the sample length, channels are fractions of ``channels``;
    ``kind`` is ``"formant"`` (a narrow sweep) or ``"burst"`` (a short broadband onset).
    """
    rng = np.random.default_rng(template_seed)
    templates = []
    for _ in range(num_classes):
        tracks = []
        n_syll = int(rng.integers(1, 4))
        bounds = np.sort(rng.uniform(0.05, 0.9, size=2 * n_syll))
        for s in range(n_syll):
            t0, t1 = bounds[2 * s], bounds[2 * s + 1]
            if t1 - t0 < 0.12:
                t1 = min(0.95, t0 + 0.12)
            for _f in range(int(rng.integers(2, 4))):
                c0 = rng.uniform(0.05, 0.95)
                c1 = float(np.clip(c0 + rng.uniform(-0.3, 0.3), 0.02, 0.98))
                width = rng.uniform(1.0, 2.5)
                tracks.append((float(t0), float(t1), float(c0), c1, float(width), "formant"))
            if rng.random() < 0.5:
                lo = rng.uniform(0.0, 0.5)
                tracks.append((float(t0), float(t0) + 0.05, float(lo), float(lo) + 0.4, 0.0, "burst"))
        templates.append(tracks)
    return templates


def synthetic_shd(
    n: int,
    num_classes: int = 10,
    channels: int = 128,
    steps: int = 80,
    seed: int = 0,
    p_fire: float = 0.5,
    noise_rate: float = 0.02,
    time_jitter: float = 0.12,
    channel_jitter: float = 6.0,
    template_seed: int = TEMPLATE_SEED,
) -> Tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic samples: spikes uint8 ``[n, steps, channels]`` and labels int64 ``[n]``.

    Labels are balanced (``i % num_classes``, then shuffled). The same arguments give the same
    arrays; a different ``seed`` draws different samples of the same classes.
    """
    templates = class_templates(num_classes, channels, template_seed)
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % num_classes
    rng.shuffle(labels)
    t = np.arange(steps, dtype=np.float64)[:, None]        # [T, 1]
    c = np.arange(channels, dtype=np.float64)[None, :]     # [1, C]
    out = np.zeros((n, steps, channels), dtype=np.uint8)
    for i in range(n):
        stretch = rng.uniform(0.85, 1.15)
        shift = rng.uniform(-time_jitter, time_jitter) * steps
        cshift = rng.uniform(-channel_jitter, channel_jitter)
        prob = np.zeros((steps, channels))
        for (t0, t1, c0, c1, width, kind) in templates[labels[i]]:
            a = t0 * steps * stretch + shift + rng.normal(0, 1.0)
            b = t1 * steps * stretch + shift + rng.normal(0, 1.0)
            b = max(b, a + 2.0)
            inside = (t >= a) & (t < b)
            if kind == "burst":
                band = (c >= c0 * channels + cshift) & (c < c1 * channels + cshift)
                p = np.where(inside & band, 0.5 * p_fire, 0.0)
            else:
                frac = np.clip((t - a) / (b - a), 0.0, 1.0)
                centre = (c0 + (c1 - c0) * frac) * channels + cshift + rng.normal(0, 1.0)
                p = np.where(inside, p_fire * np.exp(-0.5 * ((c - centre) / width) ** 2), 0.0)
            np.maximum(prob, p, out=prob)
        prob = 1.0 - (1.0 - prob) * (1.0 - noise_rate)
        out[i] = rng.random((steps, channels)) < prob
    return out, labels


# ----- real SHD HDF5 --------------------------------------------------------------------------

def bin_spikes(
    times: np.ndarray,
    units: np.ndarray,
    steps: int,
    channels: int,
    max_time: float = SHD_MAX_TIME,
    n_units: int = SHD_UNITS,
    binary: bool = True,
) -> np.ndarray:
    """Bin one sample's events into ``[steps, channels]``.

    Time bin ``floor(time / max_time * steps)`` (events at or after ``max_time`` are dropped),
    channel ``unit * channels // n_units`` (units pooled evenly). ``binary`` clips counts to 1.
    """
    times = np.asarray(times, dtype=np.float64)
    units = np.asarray(units, dtype=np.int64)
    if times.shape != units.shape:
        raise ValueError(f"{times.shape[0]} spike times but {units.shape[0]} units")
    if units.size and (units.min() < 0 or units.max() >= n_units):
        raise ValueError(f"unit index out of range [0, {n_units}): {units.min()}..{units.max()}")
    keep = (times >= 0) & (times < max_time)
    tb = np.floor(times[keep] / max_time * steps).astype(np.int64)
    tb = np.minimum(tb, steps - 1)  # guards float rounding just below max_time
    cb = units[keep] * channels // n_units
    dense = np.zeros((steps, channels), dtype=np.int32)
    np.add.at(dense, (tb, cb), 1)
    if binary:
        return (dense > 0).astype(np.uint8)
    return dense.astype(np.uint16) if dense.max(initial=0) < 65536 else dense


def load_shd_hdf5(
    path: str | Path,
    steps: int = 100,
    channels: int = 128,
    max_time: float = SHD_MAX_TIME,
    n_units: int = SHD_UNITS,
    binary: bool = True,
    limit: Optional[int] = None,
    budget: Optional[int] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Read a real SHD file (``shd_train.h5`` / ``shd_test.h5``) into dense bins.

    Returns ``(spikes [N, steps, channels], labels int64 [N])``; ``limit`` reads only the
    first samples. The file is checked like every HDF5 input (no external storage, links or
    virtual datasets, declared sizes within ``budget`` bytes, default the memory budget) before
    any data is read. Raises ``ValueError`` on a file without the SHD layout or that fails a check.
    """
    from snnexport.errors import SnnexportError
    from snnexport.safe_io import open_hdf5

    path = Path(path)
    try:
        with open_hdf5(path, budget, vlen_numeric=("spikes/times", "spikes/units")) as (f, reader):
            for key in ("spikes/times", "spikes/units", "labels"):
                if key not in f:
                    raise ValueError(f"{path}: not an SHD file (no {key!r})")
            times, units, labels = f["spikes/times"], f["spikes/units"], f["labels"]
            n = len(labels)
            if len(times) != n or len(units) != n:
                raise ValueError(f"{path}: {len(times)} time arrays, {len(units)} unit arrays, {n} labels")
            if limit is not None:
                n = min(n, int(limit))
            dtype = np.uint8 if binary else np.uint16
            need = n * steps * channels * np.dtype(dtype).itemsize
            if need > reader.left:
                raise ValueError(f"{path}: {n} samples of [{steps}, {channels}] need {need} bytes, more than the "
                                 f"memory budget allows")
            out = np.zeros((n, steps, channels), dtype=dtype)
            for i in range(n):  # one sample's events (one heap object each) at a time
                out[i] = bin_spikes(times[i], units[i], steps, channels, max_time, n_units, binary)
            y = np.asarray(labels[:n], dtype=np.int64)
    except SnnexportError as e:
        raise ValueError(str(e)) from None
    return out, y
