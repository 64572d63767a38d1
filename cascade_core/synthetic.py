"""Seeded synthetic activations with a controlled ``r/T`` and layer-to-layer drift.

Tokens are noisy copies of ``k = rep_ratio * T`` random unit directions
("clusters"). In ``d`` dimensions random directions are nearly orthogonal
(``|cos| ~ 1/sqrt(d)``), while two tokens of one cluster have ``|cos|`` near
``1 / (1 + noise**2)``; a threshold between the two (0.5 with the defaults)
makes ADA pick about one token per cluster, so ``r/T ~ rep_ratio``. At each
new layer a fraction `drift` of the tokens moves to another cluster and the
directions turn a little, which is what the cascade has to repair.

Data, not computation: this module builds NumPy arrays (for tests,
benchmarks and asv); hand them to any backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["layers", "stacked"]


def layers(
    n_layers: int,
    n_tokens: int,
    n_features: int,
    *,
    rep_ratio: float = 0.45,
    drift: float = 0.05,
    noise: float = 0.5,
    seed: int = 0,
    dtype=np.float32,
) -> Iterator[np.ndarray]:
    """Yield `n_layers` arrays of shape ``(n_tokens, n_features)``, one at a time.

    Parameters
    ----------
    n_layers, n_tokens, n_features
        ``L``, ``T`` and ``d``.
    rep_ratio
        Clusters per token: ADA at ``tau = 0.5`` gives ``r/T`` close to it.
    drift
        Fraction of tokens that change cluster from one layer to the next.
    noise
        Length of each token's random offset from its cluster direction.
    seed
        Everything is reproducible from it.
    dtype
        Floating dtype of the arrays.

    Examples
    --------
    >>> import cascade_core as cc
    >>> from cascade_core import synthetic
    >>> x = synthetic.stacked(2, 400, 256, rep_ratio=0.4)
    >>> round(cc.ada(x[0], 0.5).reps.shape[0] / 400, 2)
    0.4
    """
    rng = np.random.default_rng(seed)
    n_clusters = max(1, round(rep_ratio * n_tokens))
    centers = _unit(rng.standard_normal((n_clusters, n_features), dtype=np.float32))
    # Every cluster gets a token, the rest are spread at random.
    labels = np.concatenate([np.arange(n_clusters), rng.integers(0, n_clusters, n_tokens - n_clusters)])
    labels = rng.permutation(labels)[:n_tokens]
    for _ in range(n_layers):
        layer = _unit(rng.standard_normal((n_tokens, n_features), dtype=np.float32))
        layer *= noise
        layer += centers[labels]
        yield layer.astype(dtype, copy=False)
        moving = rng.random(n_tokens) < drift
        labels = np.where(moving, rng.integers(0, n_clusters, n_tokens), labels)
        centers = _unit(centers + 0.1 * _unit(rng.standard_normal(centers.shape, dtype=np.float32)))


def stacked(n_layers: int, n_tokens: int, n_features: int, **options) -> np.ndarray:
    """All layers of :func:`layers` in one ``(L, T, d)`` array."""
    return np.stack(list(layers(n_layers, n_tokens, n_features, **options)))


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    return x
