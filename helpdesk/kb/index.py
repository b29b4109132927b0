"""The suggestion index: ranks published articles for a customer's message, on the CPU.

Small and medium collections (up to `linear_max_articles`) are ranked by a logistic regression
trained on the articles' known phrasings and titles, plus the nearest known phrasing. Larger
ones use the nearest phrasing and the article's centroid only, which need no training. Each
score is standardised per message before adding, and the sum becomes shares by a softmax. The
best article's confidence is the refusal model's probability that it is the right answer
(`signals.py`): a message about something no article covers must not look like a match.

The articles are put in one canonical order (by their content) before anything is fitted, so
the same articles in any order give the same index, suggestions and confidences.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from helpdesk.kb.bm25 import ArticleBM25
from helpdesk.kb.features import QueryVectoriser, make_vectoriser, stemmed_words
from helpdesk.kb.query import usable_query
from helpdesk.kb.signals import SHIPPED_REFUSAL, InformativeTerms, RefusalModel, Signals
from helpdesk.kb.spelling import Speller
from helpdesk.kb.typicality import Typicality


@dataclass(frozen=True, slots=True)
class IndexedArticle:
    id: int
    title: str
    language: str
    phrasings: tuple[str, ...]
    helpful: int = 0
    not_helpful: int = 0


@dataclass(frozen=True, slots=True)
class Suggestion:
    article_id: int
    title: str
    language: str
    confidence: float
    reason: str


@dataclass(frozen=True, slots=True)
class Ranking:
    """The suggestions for a message, best first, and the evidence for the best one."""

    suggestions: list[Suggestion]
    signals: Signals | None
    # Words read as another known word ("pasword" as "password").
    repaired: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RankerSettings:
    """Defaults chosen by 5-fold cross-validation on BANKING77's train split."""

    linear_max_articles: int = 1500
    logistic_c: float = 30.0
    # Passes of the SAG solver over the phrasings: 30 rank as well as lbfgs run to 300
    # iterations did, in a fraction of the time (bench/kb_banking77.py, docs).
    logistic_epochs: int = 30
    # Logistic regression, nearest phrasing, BM25 of the pooled phrasings. A linear SVM added
    # nothing in cross-validation; BM25 added 0.4 points top-1 (bench/kb_banking77.py, docs).
    weights: tuple[float, float, float] = (1.0, 0.125, 0.3)
    temperature: float = 1.0
    # Below this cosine similarity to every known phrasing nothing is suggested at all.
    unrelated: float = 0.15
    prior_weight: float = 1.0
    # Signals (probability, margin, nearest, coverage) to the confidence; fitted by
    # bench/kb_open_set.py with whole intents held out (docs/knowledge-base.md).
    refusal: RefusalModel = SHIPPED_REFUSAL
    repair_typos: bool = True


class SuggestionIndex:
    """Immutable once built: a new index replaces the old one whole."""

    def __init__(
        self,
        articles: Sequence[IndexedArticle],
        settings: RankerSettings = RankerSettings(),
    ) -> None:
        # Canonical order: the fit's result must not depend on the order articles come in.
        self.articles = sorted(
            (
                IndexedArticle(
                    a.id, a.title, a.language, tuple(sorted(a.phrasings)), a.helpful, a.not_helpful
                )
                for a in articles
            ),
            key=lambda a: (a.title, a.language, a.phrasings, a.id),
        )
        self.settings = settings
        self.version = -1
        docs: list[str] = []
        starts: list[int] = []
        for article in self.articles:
            starts.append(len(docs))
            docs.append(article.title)
            docs.extend(article.phrasings)
        self._docs = docs
        self._starts = np.asarray(starts, dtype=np.int64)
        self._ends = np.asarray([*starts[1:], len(docs)], dtype=np.int64)
        self._languages = [a.language for a in self.articles]
        self._votes = np.array([(a.helpful, a.not_helpful) for a in self.articles], dtype=float)
        self._positions = {a.id: i for i, a in enumerate(self.articles)}
        self._prior = _prior(self._votes)
        self._linear: list[tuple[Any, Any]] = []
        self._bm25: ArticleBM25 | None = None
        self._centroids: Any = None
        if not self.articles:
            return
        from sklearn.preprocessing import normalize

        labels = np.repeat(np.arange(len(self.articles)), self._ends - self._starts)
        union = make_vectoriser(min_df=2 if len(docs) >= 5000 else 1)
        matrix = normalize(union.fit_transform(docs))
        self._vectoriser = QueryVectoriser(union)
        self._speller = Speller(docs)
        self._terms = _informative_terms(union, matrix, labels, len(self.articles))
        self._typicality: Typicality | None = None
        # Transposed once, so a message's similarities to every phrasing are one sparse product.
        self._phrasings_t = matrix.T.tocsr()
        if 2 <= len(self.articles) <= settings.linear_max_articles:
            self._linear = _train_linear(matrix, labels, settings)
            self._bm25 = ArticleBM25(docs, labels, len(self.articles))
            # Not above linear_max_articles: its SVD would take most of the rebuild budget of
            # a large collection, where the signal stays at its neutral 0.5.
            self._typicality = Typicality(matrix, labels, len(self.articles))
        else:
            from scipy.sparse import csr_matrix

            members = csr_matrix(
                (np.ones(len(docs), dtype=np.float32), (labels, np.arange(len(docs)))),
                shape=(len(self.articles), len(docs)),
            )
            self._centroids = normalize(members @ matrix).T.tocsr()

    def add_vote(self, article_id: int, helped: bool) -> None:
        position = self._positions.get(article_id)
        if position is not None:
            self._votes[position, 0 if helped else 1] += 1
            self._prior = _prior(self._votes)  # replaced whole: readers see old or new

    def __len__(self) -> int:
        return len(self.articles)

    def components(self, text: str) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Per article, each ranker's raw score (logistic regression, nearest phrasing and BM25;
        or nearest phrasing and centroid for large collections); then each phrasing's
        similarity."""
        return self._components(text, *self._vectoriser.transform(text))

    def _components(
        self, text: str, features: np.ndarray, weights_in: np.ndarray
    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        if not len(features):
            zeros = np.zeros(len(self.articles))
            rankers = 3 if self._linear else 2 if self._centroids is not None else 1
            return [zeros] * rankers, zeros, np.zeros(len(self._docs))
        # A 1 x n product over only the rows of the message's features.
        sims = np.asarray(self._phrasings_t[features].T @ weights_in).ravel()
        nearest = np.maximum.reduceat(sims, self._starts)
        if self._linear:
            parts = [weights_in @ coef_t[features] + b for coef_t, b in self._linear]
            assert self._bm25 is not None
            return [*parts, nearest, self._bm25.scores(text)], nearest, sims
        if self._centroids is not None:
            centroid = np.asarray(self._centroids[features].T @ weights_in).ravel()
            return [nearest, centroid], nearest, sims
        return [nearest], nearest, sims

    def scores(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per article: the combined score and the nearest phrasing's similarity; then each
        phrasing's similarity."""
        return self._scores(text, *self._vectoriser.transform(text))

    def _scores(
        self, text: str, features: np.ndarray, weights_in: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts, nearest, sims = self._components(text, features, weights_in)
        weights = self.settings.weights if self._linear else (1.0,) * len(parts)
        total = self.settings.prior_weight * self._prior.astype(np.float64)
        for weight, values in zip(weights, parts, strict=True):
            total += weight * standardise(values)
        return total, nearest, sims

    def rank(self, text: str, *, language: str | None = None, limit: int = 3) -> list[Suggestion]:
        return self.ranking(text, language=language, limit=limit).suggestions

    def ranking(self, text: str, *, language: str | None = None, limit: int = 3) -> Ranking:
        query = usable_query(text)
        if query is None or not self.articles:
            return Ranking([], None)
        repaired = self._speller.repair(query) if self.settings.repair_typos else None
        read = repaired.text if repaired is not None and repaired.changes else query
        features, weights_in = self._vectoriser.transform(read)
        total, nearest, sims = self._scores(read, features, weights_in)
        settings = self.settings
        if nearest.max() < settings.unrelated:
            return Ranking([], None)  # hardly a known word or character run: nothing to suggest
        share = _softmax(total / settings.temperature)
        # The few best, then ties to the canonical order, so that equal scores rank the same
        # way every time; a full sort of 10,000 articles would cost a millisecond.
        pool_size = min(len(share), max(limit * 3, 10))
        pool = (
            np.argpartition(-share, pool_size - 1)[:pool_size]
            if pool_size < len(share)
            else np.arange(len(share))
        )
        order = pool[np.lexsort((pool, -share[pool]))]
        best = int(order[0])
        second = float(share[order[1]]) if len(order) > 1 else 0.0
        signals = Signals(
            probability=float(share[best]),
            margin=float(share[best]) - second,
            nearest=float(max(nearest[best], 0.0)),
            coverage=self._terms.coverage(read, best),
            typicality=(
                self._typicality.of(features, weights_in, best) if self._typicality else 0.5
            ),
        )
        # The best article's confidence is the refusal model's; the others keep their share
        # relative to it, so the order stays the ranking's.
        confidence = share / share[best] * settings.refusal.probability(signals)
        language = (language or "").lower().split("-")[0]
        ordered = sorted(
            order.tolist(),
            key=lambda i: bool(language) and self._languages[i].split("-")[0] != language,
        )  # stable: within a language the ranking's order stays
        suggestions = [
            self._suggestion(i, float(confidence[i]), read, sims) for i in ordered[:limit]
        ]
        return Ranking(suggestions, signals, repaired.changes if repaired is not None else ())

    def _suggestion(self, i: int, confidence: float, query: str, sims: np.ndarray) -> Suggestion:
        article = self.articles[i]
        start, end = int(self._starts[i]), int(self._ends[i])
        doc = start + int(np.argmax(sims[start:end]))
        return Suggestion(
            article_id=article.id,
            title=article.title,
            language=article.language,
            confidence=round(min(max(confidence, 0.0), 1.0), 4),
            reason=_reason(query, self._docs[doc]),
        )


def _reason(query: str, phrasing: str) -> str:
    alike = fuzz.token_set_ratio(query.lower(), phrasing.lower())
    shared = sorted(
        {w for w in stemmed_words(query) if " " not in w and len(w) > 2}
        & {w for w in stemmed_words(phrasing) if " " not in w}
    )
    terms = f"; shared terms: {', '.join(shared[:6])}" if shared else ""
    return f'close to the known phrasing "{phrasing}" ({alike:.0f}% alike){terms}'


def _informative_terms(
    union: Any, matrix: Any, labels: np.ndarray, articles: int
) -> InformativeTerms:
    from scipy.sparse import csr_matrix

    words = union.transformer_list[0][1]
    width = len(words.vocabulary_)
    members = csr_matrix(
        (np.ones(len(labels), dtype=np.float32), (labels, np.arange(len(labels)))),
        shape=(articles, len(labels)),
    )
    article_terms = (members @ matrix[:, :width]).tocsr()
    article_terms.sort_indices()
    return InformativeTerms(words.vocabulary_, words.idf_, article_terms)


def _train_linear(matrix: Any, labels: np.ndarray, settings: RankerSettings) -> list[Any]:
    """The model as (coefficients transposed, intercepts): scoring is then one sparse-dense
    product, without the per-call checks of scikit-learn's predict."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    # A fixed budget of passes, not convergence: more changed no ranking in cross-validation.
    model = LogisticRegression(
        C=settings.logistic_c,
        solver="sag",
        max_iter=settings.logistic_epochs,
        tol=1e-6,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(matrix, labels)
    coef, intercept = model.coef_, model.intercept_
    if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row, for the second
        coef = np.vstack([-coef, coef])
        intercept = np.array([-intercept[0], intercept[0]])
    return [(np.ascontiguousarray(coef.T, dtype=np.float32), intercept.astype(np.float32))]


def _prior(votes: np.ndarray) -> np.ndarray:
    """From -1 to 1: the share of helpful votes beyond unhelpful ones, shrunk towards 0 while
    there are few votes, so one early vote moves an article only a little."""
    if not len(votes):
        return np.zeros(0)
    return (votes[:, 0] - votes[:, 1]) / (votes.sum(axis=1) + 5.0)


def standardise(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 1e-9 else values - values.mean()


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()
