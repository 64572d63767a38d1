"""Adversarial data for screened similarities: pairs built to sit just above or below tau.

Each pair's cosine is ``tau +- eps`` with ``1.2e-5 <= eps <= 1e-4``: outside
SPEC §9's margin (so every exact backend decides it the same way) but far
inside the error of a float16 product (about 1e-3), so a screen without the
float32 recheck decides some of them wrongly.
"""

import numpy as np

__all__ = ["near_tau_layer", "near_tau_stack"]


def near_tau_layer(n_tokens: int, n_features: int, tau: float, seed: int = 0, pairs: float = 0.4) -> np.ndarray:
    """A ``(T, d)`` float32 layer: random unit tokens, a share `pairs` of them followed by a near-tau partner.

    A partner ``y = c x + sqrt(1 - c^2) z`` (``z`` a unit vector orthogonal
    to ``x``, ``c = tau +- eps``, either sign) is placed right after its
    token ``x``, so the scan meets ``x`` first and decides the pair.
    """
    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < n_tokens:
        x = rng.standard_normal(n_features)
        x /= np.linalg.norm(x)
        rows.append(x)
        if len(rows) < n_tokens and rng.random() < pairs:
            z = rng.standard_normal(n_features)
            z -= (z @ x) * x
            z /= np.linalg.norm(z)
            eps = rng.uniform(1.2e-5, 1e-4) * rng.choice([-1.0, 1.0])
            c = (tau + eps) * rng.choice([-1.0, 1.0])
            rows.append(c * x + np.sqrt(1 - c * c) * z)
    return (np.asarray(rows) * rng.uniform(0.5, 3.0, size=(n_tokens, 1))).astype(np.float32)


def near_tau_stack(n_layers: int, n_tokens: int, n_features: int, tau: float, seed: int = 0) -> np.ndarray:
    """``(L, T, d)`` near-tau layers (a new draw a layer)."""
    return np.stack([near_tau_layer(n_tokens, n_features, tau, seed + i) for i in range(n_layers)])
