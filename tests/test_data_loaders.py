"""Data loaders of the model zoo: IDX (MNIST) and SHD HDF5 readers on tiny files written here,
the synthetic SHD generator, stereo pairs, sklearn digits and Poisson coding."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from models.data import digits, shd, stereo
from models.data.encoding import poisson_encode


# ----- IDX ------------------------------------------------------------------------------------

def write_idx(path, arr: np.ndarray, code: int, dtype: str, gz: bool = False) -> None:
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = header + arr.astype(dtype).tobytes()
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", imgs, 0x08, ">u1")
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels, 0x08, ">u1")
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs[:2], 0x08, ">u1", gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[:2], 0x08, ">u1", gz=True)
    return tmp_path, imgs, labels


def test_read_idx_plain_gzip_and_wide_types(tmp_path, mnist_dir):
    d, imgs, labels = mnist_dir
    np.testing.assert_array_equal(digits.read_idx(d / "train-images-idx3-ubyte"), imgs)
    np.testing.assert_array_equal(digits.read_idx(d / "t10k-labels-idx1-ubyte.gz"), labels[:2])
    ints = np.array([[1, -2, 70000], [0, 5, -70000]], dtype=np.int32)
    write_idx(tmp_path / "ints", ints, 0x0C, ">i4")
    got = digits.read_idx(tmp_path / "ints")
    assert got.dtype == np.int32 and got.dtype.byteorder in ("=", "<", "|")
    np.testing.assert_array_equal(got, ints)
    floats = np.array([0.5, -1.25, 3.0], dtype=np.float64)
    write_idx(tmp_path / "f8", floats, 0x0E, ">f8")
    np.testing.assert_array_equal(digits.read_idx(tmp_path / "f8"), floats)


def test_load_mnist_idx(mnist_dir):
    d, imgs, labels = mnist_dir
    x, y = digits.load_mnist_idx(d, "train")
    assert x.shape == (5, 12) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x, imgs.reshape(5, -1) / 255.0, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(y, labels)
    xt, yt = digits.load_mnist_idx(d, "test")  # gzipped t10k files
    assert xt.shape == (2, 12) and list(yt) == [3, 1]
    xtr, ytr, xte, yte, source = digits.load_digits_data(d)
    assert source == "mnist-idx" and len(ytr) == 5 and len(yte) == 2


def test_idx_errors(tmp_path, mnist_dir):
    d, imgs, _ = mnist_dir
    raw = (d / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "trunc").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match="payload"):
        digits.read_idx(tmp_path / "trunc")
    (tmp_path / "magic").write_bytes(b"\x01\x00" + raw[2:])
    with pytest.raises(ValueError, match="not an IDX"):
        digits.read_idx(tmp_path / "magic")
    (tmp_path / "code").write_bytes(b"\x00\x00\x07" + raw[3:])
    with pytest.raises(ValueError, match="type code"):
        digits.read_idx(tmp_path / "code")
    with pytest.raises(FileNotFoundError):
        digits.load_mnist_idx(tmp_path / "nowhere", "train")
    write_idx(tmp_path / "train-images-idx3-ubyte", imgs, 0x08, ">u1")
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8), 0x08, ">u1")
    with pytest.raises(ValueError, match="labels"):
        digits.load_mnist_idx(tmp_path, "train")


# ----- SHD HDF5 -------------------------------------------------------------------------------

def write_shd(path, samples, labels):
    import h5py

    with h5py.File(path, "w") as f:
        g = f.create_group("spikes")
        t = g.create_dataset("times", (len(samples),), dtype=h5py.vlen_dtype(np.float32))
        u = g.create_dataset("units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (times, units) in enumerate(samples):
            t[i] = np.asarray(times, np.float32)
            u[i] = np.asarray(units, np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))


def test_shd_hdf5_binning(tmp_path):
    samples = [
        # t=0 unit 0 -> (0, 0); t=0.75 unit 699 -> (5, 6); unit 100 -> channel 1; t=1.5 dropped
        ([0.0, 0.75, 0.75, 0.31, 1.5], [0, 699, 699, 100, 5]),
        ([], []),
        ([1.39], [350]),
    ]
    path = tmp_path / "shd_tiny.h5"
    write_shd(path, samples, [7, 0, 19])
    x, y = shd.load_shd_hdf5(path, steps=10, channels=7)
    assert x.shape == (3, 10, 7) and x.dtype == np.uint8
    assert list(y) == [7, 0, 19]
    expected = np.zeros((10, 7), np.uint8)
    expected[0, 0] = expected[5, 6] = expected[2, 1] = 1
    np.testing.assert_array_equal(x[0], expected)
    assert x[1].sum() == 0
    assert x[2, 9, 3] == 1 and x[2].sum() == 1
    counts, _ = shd.load_shd_hdf5(path, steps=10, channels=7, binary=False)
    assert counts[0, 5, 6] == 2 and counts[0].sum() == 4
    first, _ = shd.load_shd_hdf5(path, steps=10, channels=7, limit=1)
    assert first.shape == (1, 10, 7)


def test_shd_hdf5_errors(tmp_path):
    import h5py

    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f.create_dataset("labels", data=np.zeros(2))
    with pytest.raises(ValueError, match="not an SHD file"):
        shd.load_shd_hdf5(tmp_path / "bad.h5")
    write_shd(tmp_path / "units.h5", [([0.1], [700])], [1])
    with pytest.raises(ValueError, match="out of range"):
        shd.load_shd_hdf5(tmp_path / "units.h5")
    with pytest.raises(ValueError, match="spike times"):
        shd.bin_spikes(np.zeros(3), np.zeros(2), 10, 7)


# ----- synthetic SHD --------------------------------------------------------------------------

def test_synthetic_shd_reproducible_and_balanced():
    a, ya = shd.synthetic_shd(40, num_classes=10, channels=64, steps=40, seed=5)
    b, yb = shd.synthetic_shd(40, num_classes=10, channels=64, steps=40, seed=5)
    c, yc = shd.synthetic_shd(40, num_classes=10, channels=64, steps=40, seed=6)
    assert a.shape == (40, 40, 64) and a.dtype == np.uint8 and set(np.unique(a)) <= {0, 1}
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a, c)
    assert np.bincount(ya, minlength=10).tolist() == [4] * 10
    assert 0.01 < a.mean() < 0.2  # sparse, but not silent


def test_synthetic_shd_class_separable_but_not_trivial():
    """A nearest-centroid classifier on coarse time x channel counts separates the classes on
    held-out samples, while the samples of one class still differ from each other."""
    x, y = shd.synthetic_shd(500, seed=11)
    xt, yt = shd.synthetic_shd(300, seed=12)

    def feats(a):
        return a.reshape(len(a), 8, 10, 16, 8).sum((2, 4)).reshape(len(a), -1).astype(float)

    f, ft = feats(x), feats(xt)
    cent = np.stack([f[y == k].mean(0) for k in range(10)])
    pred = ((ft[:, None] - cent[None]) ** 2).sum(-1).argmin(1)
    acc = (pred == yt).mean()
    assert acc > 0.8, acc
    same = x[y == 0].astype(float)
    assert np.abs(same[0] - same[1]).sum() > 0.2 * same[0].sum()  # jitter + noise: no two alike


# ----- stereo pairs ---------------------------------------------------------------------------

def test_warp_right_integer_disparity_is_a_shift():
    rng = np.random.default_rng(0)
    window = rng.random((8, 16 + 2 * 3, 3)).astype(np.float32)
    d = np.full((8, 16), 2.0, np.float32)
    right = stereo.warp_right(window, d, margin=3)
    np.testing.assert_allclose(right, window[:, 5:21], atol=1e-6)
    half = stereo.warp_right(window, np.full((8, 16), 0.5, np.float32), margin=3)
    np.testing.assert_allclose(half, 0.5 * (window[:, 3:19] + window[:, 4:20]), atol=1e-6)


def test_stereo_pairs_reproducible_and_disjoint_splits():
    l1, r1, d1 = stereo.make_stereo_pairs(6, crop=16, split="train", seed=3)
    l2, r2, d2 = stereo.make_stereo_pairs(6, crop=16, split="train", seed=3)
    lt, rt, _ = stereo.make_stereo_pairs(6, crop=16, split="test", seed=3)
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(r1, r2)
    assert l1.shape == (6, 3, 16, 16) and d1.shape == (6, 16, 16)
    assert 0.0 <= d1.min() and d1.max() <= 4.0
    assert not np.array_equal(l1, lt)
    assert 0.0 <= l1.min() and l1.max() <= 1.0
    assert not np.allclose(l1, r1)  # the right view really is warped
    # a left crop is found in its image only left of the split column
    img = stereo.sample_images()[0]
    cut = int(img.shape[1] * stereo.TRAIN_FRACTION)
    patch = lt[0].transpose(1, 2, 0)
    ys, xs = np.nonzero(np.all(img == patch[0, 0], axis=-1))
    hits = [x for y, x in zip(ys, xs) if np.array_equal(img[y:y + 16, x:x + 16], patch)]
    assert hits and min(hits) >= cut
    with pytest.raises(ValueError):
        stereo.make_stereo_pairs(1, split="val")


def test_psnr():
    a = np.zeros((4, 4))
    assert stereo.psnr(a, a) == float("inf")
    assert stereo.psnr(a, np.full((4, 4), 0.1)) == pytest.approx(20.0)


# ----- sklearn digits and Poisson coding ------------------------------------------------------

def test_sklearn_digits_split_and_upsampling():
    xtr, ytr, xte, yte = digits.load_sklearn_digits(28)
    assert xtr.shape[1] == 784 and len(xtr) + len(xte) == 1797
    assert abs(len(xte) - 0.2 * 1797) < 10
    assert 0.0 <= xtr.min() and xtr.max() <= 1.0
    assert set(np.unique(yte)) == set(range(10))
    again = digits.load_sklearn_digits(28)
    np.testing.assert_array_equal(again[2], xte)
    x8, *_ = digits.load_sklearn_digits(8)
    assert x8.shape[1] == 64
    # the upsampled image keeps the coarse one: averaging back down is close to the original
    from sklearn.datasets import load_digits

    img8 = load_digits().images[0] / 16.0
    up = digits.upsample(img8[None], 32)[0]
    down = up.reshape(8, 4, 8, 4).mean((1, 3))
    assert np.abs(down - img8).mean() < 0.1


def test_poisson_encode_rates_and_determinism():
    x = torch.tensor([[0.0, 0.25, 0.5, 1.0]])
    s = poisson_encode(x.expand(500, 4), 40, torch.Generator().manual_seed(0))
    assert s.shape == (40, 500, 4) and set(s.unique().tolist()) <= {0.0, 1.0}
    rates = s.mean((0, 1))
    assert rates[0] == 0 and rates[3] == 1
    assert abs(float(rates[1]) - 0.25) < 0.02 and abs(float(rates[2]) - 0.5) < 0.02
    a = poisson_encode(x, 5, torch.Generator().manual_seed(1))
    b = poisson_encode(x, 5, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
