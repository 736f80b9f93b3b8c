"""Data for the model zoo, all of it available without a download at run time.

* :mod:`models.data.digits`: scikit-learn's bundled 8x8 digits (upsampled to 28x28) and a
  reader for real MNIST IDX files (``train-images-idx3-ubyte`` ...), for whoever has them.
* :mod:`models.data.shd`: a synthetic spoken-digit-like spike generator and a reader for the
  real Spiking Heidelberg Digits HDF5 files (``spikes/times``, ``spikes/units``, ``labels``).
* :mod:`models.data.stereo`: stereo pairs cut from scikit-learn's bundled sample images, the
  right view warped from the left by a smooth random disparity.
* :mod:`models.data.encoding`: Poisson (Bernoulli) rate coding.
* :mod:`models.data.training`: the small training helpers every zoo module shares
  (seeding, batching, spike counting, the per-module command line).
"""
