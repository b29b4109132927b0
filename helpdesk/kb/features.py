"""Text to vectors: stemmed words and word pairs catch paraphrase, character n-grams inside
words catch typos. Settings chosen by cross-validation on BANKING77's train split
(bench/kb_banking77.py)."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import snowballstemmer

if TYPE_CHECKING:
    from sklearn.pipeline import FeatureUnion

_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"\d+")


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


def normalise(text: str) -> str:
    """Case and numbers do not change what a question asks."""
    return _DIGITS.sub("0", text.lower())


def stemmed_words(text: str) -> list[str]:
    words = [_stem(w) for w in _WORD.findall(normalise(text))]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def make_vectoriser(min_df: int = 1) -> FeatureUnion:
    """`min_df` 2 drops character n-grams seen once: noise in a large collection, but in a
    small one they are what tells articles apart."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            ("words", TfidfVectorizer(analyzer=stemmed_words, sublinear_tf=True, dtype=_f32())),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    preprocessor=normalise,
                    sublinear_tf=True,
                    min_df=min_df,
                    dtype=_f32(),
                ),
            ),
        ]
    )


def _f32() -> type:
    return np.float32


class QueryVectoriser:
    """Turns one message into the fitted feature space in a fraction of a millisecond: the same
    analysers, vocabularies and weights as the fitted union, without scikit-learn's per-call
    validation and matrix building, which cost ten times the arithmetic for a single text."""

    def __init__(self, union: FeatureUnion) -> None:
        self._parts = []
        offset = 0
        for _name, vectoriser in union.transformer_list:
            vocabulary = vectoriser.vocabulary_
            self._parts.append((vectoriser.build_analyzer(), vocabulary, vectoriser.idf_, offset))
            offset += len(vocabulary)

    def transform(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Feature indices and L2-normalised weights, as the index's matrices were built."""
        indices: list[int] = []
        weights: list[float] = []
        for analyse, vocabulary, idf, offset in self._parts:
            counts = Counter(t for t in analyse(text) if t in vocabulary)
            if not counts:
                continue
            part_idx = np.fromiter(
                (vocabulary[t] for t in counts), dtype=np.int64, count=len(counts)
            )
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            part = (1.0 + np.log(tf)) * idf[part_idx]
            part /= np.linalg.norm(part)
            indices.extend((part_idx + offset).tolist())
            weights.extend(part.tolist())
        index_array = np.asarray(indices, dtype=np.int64)
        weight_array = np.asarray(weights, dtype=np.float64)
        norm = np.linalg.norm(weight_array)
        if norm:
            weight_array /= norm
        # The index's matrices are float32: a float64 vector would make scipy copy them.
        return index_array, weight_array.astype(np.float32)
