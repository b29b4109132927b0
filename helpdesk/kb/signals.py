"""What the refusal weighs: for the best article, how much more likely it is than the others,
how close the message comes to one of its known phrasings, how much of the message's meaning
its words cover, and how typical the message is of its phrasings taken together
(`typicality.py`). Each is a number from 0 to 1 stored with the bot's decision.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from helpdesk.kb.features import stemmed_words

# Words that carry grammar, not a topic: a message that shares only these with an article is
# not about it ("can I ..." against "I can't log in"). English only; in other languages the
# terms' rarity (IDF) does the same job less sharply.
_FUNCTION_WORDS = """a about above after again against all am an and any are as at be been
    before being below between both but by can cannot could did do does doing don down
    during each few for
    from further had has have having he her here hers herself him himself his how i if in into
    is it its itself just let me more most my myself no nor not now of off on once only or
    other ought our ours ourselves out over own please same shall she should so some such
    than thank thanks that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why
    will with would yes you your yours yourself yourselves hi hello hey dear can't won't
    isn't aren't wasn't didn't doesn't don't i'm i've i'd it's also get got still want need
    way know like one much many may might must"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())


@dataclass(frozen=True, slots=True)
class Signals:
    """The evidence for answering with the best article."""

    probability: float  # its share of the ranking's softmax
    margin: float  # its share minus the second article's
    nearest: float  # cosine similarity to its nearest known phrasing
    coverage: float  # the share of the message's informative weight found in its words
    # how typical the message is of its phrasings, in a latent space (typicality.py)
    typicality: float = 0.5

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}

    def vector(self) -> np.ndarray:
        return np.array(
            [self.probability, self.margin, self.nearest, self.coverage, self.typicality]
        )


SIGNAL_NAMES = ("probability", "margin", "nearest", "coverage", "typicality")


class InformativeTerms:
    """Each article's stemmed words, and how much each word of a message weighs: its rarity
    among the known phrasings (IDF), nothing for a function word, and the weight of a word seen
    nowhere for a word no article uses (it is what the message is about, and nothing covers
    it)."""

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, article_terms: Any) -> None:
        self._vocabulary = vocabulary
        self._idf = idf
        # The rarest a known word can be (seen once) plus a step: unknown words weigh most.
        self._unknown = float(idf.max()) + 1.0 if len(idf) else 1.0
        self._article_terms = article_terms  # CSR, articles x word features
        self._function = frozenset(w for f in FUNCTION_WORDS for w in stemmed_words(f))

    def coverage(self, text: str, article: int) -> float:
        weights: list[float] = []
        positions: list[int] = []
        # Sorted: the same sum in any order, to the last bit.
        for word in sorted({w for w in stemmed_words(text) if " " not in w}):
            if word in self._function or word.isdigit():
                continue
            position = self._vocabulary.get(word)
            weights.append(self._unknown if position is None else float(self._idf[position]))
            positions.append(-1 if position is None else position)
        total = sum(weights)
        if not total:
            return 0.0
        terms = self._article_terms
        row = terms.indices[terms.indptr[article] : terms.indptr[article + 1]]  # sorted
        wanted = np.asarray(positions)
        at = np.minimum(np.searchsorted(row, wanted), max(len(row) - 1, 0))
        found = (row[at] == wanted) if len(row) else np.zeros(len(wanted), dtype=bool)
        return float(sum(w for w, hit in zip(weights, found.tolist(), strict=True) if hit)) / total


@dataclass(frozen=True, slots=True)
class RefusalModel:
    """A logistic model over the signals: the probability that the best article is the right
    answer. Fitted in bench/kb_open_set.py with whole intents held out, so it has seen questions
    no article covers."""

    weights: tuple[float, ...]
    bias: float

    def probability(self, signals: Signals) -> float:
        z = self.bias + float(np.dot(self.weights, signals.vector()))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


# Fitted by `python bench/kb_open_set.py --product` on all of BANKING77's train.csv, a quarter
# of the intents held out in each fold (docs/knowledge-base.md).
SHIPPED_REFUSAL = RefusalModel((2.2665, 2.0789, 3.0697, 2.8045, 3.7382), -8.35)
