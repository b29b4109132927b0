"""Okapi BM25 of a message against each article's known phrasings pooled into one text.

A third ranker beside the logistic regression and the nearest phrasing: it counts how often an
article's customers use each of the message's (stemmed) words, saturated (k1) and scaled by the
article's length (b), and weighs rare words most. The logistic regression learns which words
tell articles apart; BM25 adds how typical a word is of an article as a whole, which a linear
model trained to separate the phrasings under-weights. Cross-validation on BANKING77's train
split: +0.4 points top-1 and +0.25 top-3, on every fold (docs/knowledge-base.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from helpdesk.kb.features import stemmed_words

# The usual defaults of the literature; cross-validation on BANKING77 found no better pair
# (k1 0.6-2, b 0.3-0.75 within 0.001 of each other).
K1 = 1.2
B = 0.75


def _words(text: str) -> list[str]:
    return [w for w in stemmed_words(text) if " " not in w]


class ArticleBM25:
    """Built once per index; scoring a message reads a few rows of a words x articles matrix."""

    def __init__(self, docs: Sequence[str], labels: np.ndarray, articles: int) -> None:
        from scipy.sparse import csr_matrix

        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for label, doc in zip(labels.tolist(), docs, strict=True):
            for word in _words(doc):
                rows.append(label)
                cols.append(vocabulary.setdefault(word, len(vocabulary)))
        # Duplicates are summed: term counts per article, in a fixed order (articles are in
        # the index's canonical order), so the scores are the same in any input order.
        counts = csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(articles, max(len(vocabulary), 1))
        )
        counts.sum_duplicates()
        length = np.asarray(counts.sum(axis=1)).ravel()
        mean_length = float(length.mean()) if articles and length.mean() > 0 else 1.0
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        idf = np.log(1.0 + (articles - df + 0.5) / (df + 0.5))
        coo = counts.tocoo()
        saturation = coo.data + K1 * (1.0 - B + B * length[coo.row] / mean_length)
        weights = coo.data * (K1 + 1.0) / saturation * idf[coo.col]
        self._vocabulary = vocabulary
        # Transposed: a message's words are rows, summed into one score per article.
        self._by_word: Any = csr_matrix(
            (weights, (coo.col, coo.row)), shape=(counts.shape[1], articles), dtype=np.float64
        ).tocsr()
        self._articles = articles

    def scores(self, text: str) -> np.ndarray:
        """Per article; each distinct known word of the message counts once."""
        rows = sorted({self._vocabulary[w] for w in _words(text) if w in self._vocabulary})
        if not rows:
            return np.zeros(self._articles)
        return np.asarray(self._by_word[rows].sum(axis=0)).ravel()
