"""How typical a message is of an article's phrasings: the refusal's "none of these" signal.

The phrasings' TF-IDF vectors are reduced to a few hundred latent dimensions (a truncated SVD,
latent semantic analysis), where each article's phrasings gather around their mean. A message's
squared Mahalanobis distance to the best article's mean, with the covariance the phrasings have
around their own articles' means (shared, shrunk by Ledoit-Wolf), says whether it sits where
that article's questions sit or off to one side, as a question about a neighbouring topic no
article covers does. The distance is turned into a number from 0 to 1 against the distance the
phrasings themselves have: 1 / (1 + distance / their mean distance).

Measured on the open-set evaluation (bench/kb_open_set.py, whole intents held out): beside the
other four signals it answers more in-scope questions at fewer out-of-scope ones
(docs/knowledge-base.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_DIMENSIONS = 200
# Fewer phrasings than this per latent dimension over-fits the space to the phrasings.
PHRASINGS_PER_DIMENSION = 5
MIN_DIMENSIONS = 20


class Typicality:
    """Built once per index from its normalised phrasing matrix (phrasings x features)."""

    def __init__(self, matrix: Any, labels: np.ndarray, articles: int) -> None:
        from scipy.sparse import csr_matrix
        from sklearn.covariance import LedoitWolf
        from sklearn.decomposition import TruncatedSVD
        from sklearn.preprocessing import normalize

        rows, columns = matrix.shape
        dimensions = min(MAX_DIMENSIONS, rows // PHRASINGS_PER_DIMENSION, columns - 1)
        self._ready = dimensions >= MIN_DIMENSIONS and articles >= 2
        if not self._ready:
            return
        # A fixed seed and the index's canonical order: the same articles give the same space.
        # Two power iterations (scikit-learn's default is 7): the space need not be the exact
        # top singular one, and it costs a second of rebuild instead of several.
        svd = TruncatedSVD(dimensions, n_iter=2, random_state=0).fit(matrix)
        # Features x dimensions: a message is projected through its few features' rows.
        self._projection = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
        latent = normalize(np.asarray(matrix @ self._projection, dtype=np.float64))
        members = csr_matrix(
            (np.ones(rows), (labels, np.arange(rows))), shape=(articles, rows), dtype=np.float64
        )
        counts = np.asarray(members.sum(axis=1)).ravel()
        self._means = np.asarray(members @ latent) / np.maximum(counts, 1.0)[:, None]
        residuals = latent - self._means[labels]
        self._precision = LedoitWolf(assume_centered=True).fit(residuals).precision_
        own = ((residuals @ self._precision) * residuals).sum(axis=1)
        self._scale = max(float(own.mean()), 1e-9)

    def of(self, features: np.ndarray, weights: np.ndarray, article: int) -> float:
        """From 0 to 1; 1 at the article's mean, 0.5 as far as its phrasings are on average.
        0.5 too when the knowledge base is too small to have a latent space (and the index
        builds none above `linear_max_articles`)."""
        if not self._ready or not len(features):
            return 0.5
        point = (weights @ self._projection[features]).astype(np.float64)
        norm = float(np.linalg.norm(point))
        if norm == 0.0:
            return 0.0
        offset = point / norm - self._means[article]
        distance = float(offset @ self._precision @ offset)
        return 1.0 / (1.0 + max(distance, 0.0) / self._scale)
