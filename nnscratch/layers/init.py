"""Initial values of the parameters, float32, drawn from a NumPy Generator.

Two variance-preserving schemes, chosen per layer (each layer's docstring
says which):

- He normal (He et al. 2015), for layers followed by a ReLU:
  W ~ N(0, 2 / fan_in), so the variance of the activations stays constant
  through a ReLU network (VGG-16 and the CNNs of thesis §3.4).
- Xavier (Glorot) uniform (Glorot & Bengio 2010), for tanh/sigmoid units:
  W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)), so that the variance of
  both activations and gradients is kept.
"""
import numpy as np


def default_rng(rng):
    """``rng`` itself, or a fresh ``np.random.default_rng()`` when it is None."""
    return np.random.default_rng() if rng is None else rng


def he_normal(shape, fan_in, rng):
    """float32 array of ``shape`` with entries ~ N(0, 2 / fan_in)."""
    weights = rng.standard_normal(shape, dtype=np.float32)  # drawn in float32: no float64 copy
    weights *= np.float32(np.sqrt(2.0 / fan_in))
    return weights


def xavier_uniform(shape, fan_in, fan_out, rng):
    """float32 array of ``shape`` with entries ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out))."""
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, shape).astype(np.float32)
