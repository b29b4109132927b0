"""Would a second stage help the ranking? Cross-validation on BANKING77's train.csv only.

Measured, not shipped (docs/knowledge-base.md, "A fourth round"): each of 3 stratified folds
builds the shipped index from the other folds; for every held-out message its 10 best articles
get per-(message, article) features, and a listwise re-ranker (a conditional logit: a softmax
over the 10 candidates of a weighted sum of their features) is fitted on two folds' candidates
and measured on the third. Also: latent semantic analysis (a truncated SVD of the phrasings'
TF-IDF) as a fourth ranker beside the shipped three.

    python bench/kb_rerank.py          # about 1 minute on a quiet machine
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.kb_banking77 import DATA, articles_from, load, stratified_folds
from helpdesk.kb.features import make_vectoriser
from helpdesk.kb.index import SuggestionIndex, standardise
from helpdesk.kb.query import usable_query

CANDIDATES = 10
LSA_DIMENSIONS = 300
FEATURE_SETS = {
    "shipped score + BM25 (a re-weighting)": ("total", "bm25"),
    "lexical: + logistic, nearest, centroid, 20-nearest vote": (
        "total",
        "bm25",
        "logistic",
        "nearest",
        "centroid",
        "knn",
    ),
    "lexical + LSA nearest phrasing": ("total", "bm25", "logistic", "nearest", "lsa"),
    "all": ("total", "bm25", "logistic", "nearest", "centroid", "knn", "lsa"),
}


def fold_candidates(index: SuggestionIndex, texts: list[str]) -> dict[str, np.ndarray]:
    """Per message, the 10 best articles by the shipped score and each one's features."""
    from scipy.sparse import csr_matrix
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    docs, starts = index._docs, index._starts
    articles = len(index.articles)
    labels = np.repeat(np.arange(articles), index._ends - starts)
    union = make_vectoriser(min_df=2 if len(docs) >= 5000 else 1)
    phrasings = normalize(union.fit_transform(docs))
    queries = normalize(union.transform(texts))
    members = csr_matrix((np.ones(len(docs)), (labels, np.arange(len(docs)))))
    centroids = normalize(members @ phrasings)
    svd = TruncatedSVD(LSA_DIMENSIONS, random_state=0).fit(phrasings)
    lsa_docs = normalize(svd.transform(phrasings))
    lsa_queries = normalize(svd.transform(queries))
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("cand", "total", "bm25", "logistic")}
    for k in ("nearest", "centroid", "knn", "lsa", "lsa_ranker", "full_total"):
        out[k] = []
    weights = index.settings.weights
    for i, text in enumerate(texts):
        (logistic, nearest, bm25), _, sims = index.components(text)
        total = (
            standardise(logistic)
            + weights[1] * standardise(nearest)
            + weights[2] * standardise(bm25)
        )
        cand = np.lexsort((np.arange(articles), -total))[:CANDIDATES]
        neighbours = np.argsort(-sims)[:20]
        knn = np.bincount(labels[neighbours], weights=sims[neighbours], minlength=articles)
        lsa = np.maximum.reduceat(lsa_docs @ lsa_queries[i], starts)
        centroid = np.asarray(centroids @ queries[i].T.toarray()).ravel()
        for name, values in (
            ("cand", cand),
            ("total", total[cand]),
            ("bm25", bm25[cand]),
            ("logistic", logistic[cand]),
            ("nearest", nearest[cand]),
            ("centroid", centroid[cand]),
            ("knn", knn[cand]),
            ("lsa", lsa[cand]),
        ):
            out[name].append(values)
        out["lsa_ranker"].append(standardise(lsa))
        out["full_total"].append(total)
    return {k: np.asarray(v) for k, v in out.items()}


def design(fold: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """Each feature as it is and less the best candidate's (the re-ranker sees both)."""
    columns = []
    for name in names:
        values = fold[name].astype(float)
        columns += [values, values - values.max(axis=1, keepdims=True)]
    return np.stack(columns, axis=2)


def fit_listwise(x: np.ndarray, right: np.ndarray, l2: float = 1.0) -> Any:
    from scipy.optimize import minimize

    flat = x.reshape(-1, x.shape[2])
    mean, spread = flat.mean(axis=0), flat.std(axis=0) + 1e-9
    z = ((x - mean) / spread)[right.any(axis=1)]
    y = right[right.any(axis=1)]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = z @ w
        s = s - s.max(axis=1, keepdims=True)
        log_total = np.log(np.exp(s).sum(axis=1))
        p = np.exp(s - log_total[:, None])
        grad = -((y - p)[:, :, None] * z).sum(axis=(0, 1)) + l2 * w
        return float(-((s * y).sum(axis=1) - log_total).sum() + 0.5 * l2 * w @ w), grad

    w = minimize(loss, np.zeros(z.shape[2]), jac=True, method="L-BFGS-B").x
    return lambda q: ((q - mean) / spread) @ w


def top(scores: np.ndarray, right: np.ndarray) -> tuple[float, float]:
    order = np.argsort(-scores, axis=1, kind="stable")
    hits = np.take_along_axis(right, order, axis=1)
    return float(hits[:, 0].mean()), float(hits[:, :3].any(axis=1).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with train.csv")
    args = parser.parse_args(argv)
    rows = load(args.data / "train.csv")
    fold_of = stratified_folds(rows, 3)
    folds, truths = [], []
    for k in range(3):
        training = [row for j in range(3) if j != k for row in fold_of[j]]
        articles, ids = articles_from(training)
        index = SuggestionIndex(articles)
        position = {a.id: i for i, a in enumerate(index.articles)}
        folds.append(fold_candidates(index, [usable_query(t) or t for t, _ in fold_of[k]]))
        truths.append(np.asarray([position[ids[intent]] for _, intent in fold_of[k]]))
        print(f"fold {k + 1}/3 scored", flush=True)
    rights = [f["cand"] == t[:, None] for f, t in zip(folds, truths, strict=True)]

    def report(label: str, per_fold: list[tuple[float, float]]) -> None:
        top1 = [a for a, _ in per_fold]
        print(
            f"  {label:<66} top-1 {np.mean(top1):.4f}  top-3 "
            f"{np.mean([b for _, b in per_fold]):.4f}  folds {' '.join(f'{a:.4f}' for a in top1)}"
        )

    print(f"\n3-fold cross-validation on train.csv, {CANDIDATES} candidates a message:")
    report("shipped ranking", [top(f["total"], r) for f, r in zip(folds, rights, strict=True)])
    for weight in (0.1, 0.2, 0.3):
        per_fold = []
        for f, t in zip(folds, truths, strict=True):
            total = f["full_total"] + weight * f["lsa_ranker"]
            best = np.argsort(-total, axis=1, kind="stable")[:, :3]
            per_fold.append(
                (float((best[:, 0] == t).mean()), float((best == t[:, None]).any(axis=1).mean()))
            )
        report(f"+ LSA nearest phrasing as a fourth ranker, weight {weight}", per_fold)
    for label, names in FEATURE_SETS.items():
        per_fold = []
        for k in range(3):
            train_k = [j for j in range(3) if j != k]
            x = np.concatenate([design(folds[j], names) for j in train_k])
            y = np.concatenate([rights[j] for j in train_k])
            score = fit_listwise(x, y)(design(folds[k], names))
            per_fold.append(top(score, rights[k]))
        report(f"re-ranker: {label}", per_fold)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
