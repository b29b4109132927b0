"""Which learner ranks BANKING77 best? Cross-validation on train.csv only (never test.csv).

Each fold builds the index's own features (stemmed word 1-2-grams + character 2-5-grams inside
words, TF-IDF) from the other folds' rows, one article per intent, and scores the held-out rows
with several learners. Each learner's scores are standardised per message, as the index does,
and printed alone and beside the nearest known phrasing (weight 0.25, the shipped one), as
top-1, top-3 and top-1 averaged per intent (what a test set with as many questions for every
article would see). The shipped ranking is the first row.

    python bench/kb_learners.py                 # 3 folds, about 2 minutes on a quiet machine
    python bench/kb_learners.py --converged     # also lbfgs run to convergence (minutes a fold)
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.kb_banking77 import DATA, articles_from, load, stratified_folds
from helpdesk.kb.features import make_vectoriser
from helpdesk.kb.index import standardise
from helpdesk.kb.query import usable_query

Learner = Callable[[Any, np.ndarray, Any], np.ndarray]


def _logistic(**options: Any) -> Learner:
    def fit(matrix: Any, labels: np.ndarray, queries: Any) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=30.0, tol=1e-6, random_state=0, **options)
        return np.asarray(model.fit(matrix, labels).decision_function(queries))

    return fit


def _svm(matrix: Any, labels: np.ndarray, queries: Any) -> np.ndarray:
    from sklearn.svm import LinearSVC

    model = LinearSVC(C=1.0, max_iter=5000, tol=1e-5)
    return np.asarray(model.fit(matrix, labels).decision_function(queries))


def _naive_bayes(matrix: Any, labels: np.ndarray, queries: Any) -> np.ndarray:
    from sklearn.naive_bayes import ComplementNB

    return np.asarray(ComplementNB(alpha=0.3).fit(matrix, labels).predict_joint_log_proba(queries))


LEARNERS: dict[str, Learner] = {
    "logistic regression, SAG 30 passes (shipped)": _logistic(solver="sag", max_iter=30),
    "  same, classes weighted to balance": _logistic(
        solver="sag", max_iter=30, class_weight="balanced"
    ),
    "  same, no intercept": _logistic(solver="sag", max_iter=30, fit_intercept=False),
    "linear SVM (liblinear), C 1": _svm,
    "complement naive Bayes, alpha 0.3": _naive_bayes,
}
CONVERGED = {"logistic regression, lbfgs to convergence": _logistic(solver="lbfgs", max_iter=2000)}


def measure(total: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    best = np.argsort(-total, axis=1)[:, :3]
    first = best[:, 0] == truth
    per_intent = np.mean([first[truth == c].mean() for c in np.unique(truth)])
    return float(first.mean()), float((best == truth[:, None]).any(axis=1).mean()), per_intent


def main(argv: list[str] | None = None) -> int:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import normalize

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with train.csv")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--converged", action="store_true", help="also lbfgs to convergence")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    learners = {**LEARNERS, **(CONVERGED if args.converged else {})}
    rows = load(args.data / "train.csv")
    fold_of = stratified_folds(rows, args.folds)
    scores: dict[str, list[np.ndarray]] = {name: [] for name in [*learners, "nearest"]}
    truth: list[np.ndarray] = []
    for k in range(args.folds):
        training = [row for j in range(args.folds) if j != k for row in fold_of[j]]
        articles, ids = articles_from(training)
        docs = [text for a in articles for text in (a.title, *a.phrasings)]
        labels = np.repeat(np.arange(len(articles)), [1 + len(a.phrasings) for a in articles])
        union = make_vectoriser()
        matrix = normalize(union.fit_transform(docs))
        queries = normalize(union.transform([usable_query(t) or t for t, _ in fold_of[k]]))
        position = {a.id: i for i, a in enumerate(articles)}
        truth.append(np.asarray([position[ids[intent]] for _, intent in fold_of[k]]))
        sims = (queries @ matrix.T).toarray()
        starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
        scores["nearest"].append(np.maximum.reduceat(sims, starts, axis=1))
        timings = []
        for name, fit in learners.items():
            started = time.perf_counter()
            scores[name].append(fit(matrix, labels, queries))
            timings.append(f"{name.strip().split(',')[0]} {time.perf_counter() - started:.0f} s")
        print(f"fold {k + 1}/{args.folds}: {'; '.join(timings)}", flush=True)
    labels_all = np.concatenate(truth)

    def joined(name: str) -> np.ndarray:
        return np.concatenate([np.apply_along_axis(standardise, 1, s) for s in scores[name]])

    nearest = joined("nearest")
    print(f"\n{'learner':<48} {'alone: top-1 top-3 per-intent':>30} {'+ 0.25 x nearest':>24}")
    for name in learners:
        alone = measure(joined(name), labels_all)
        mixed = measure(joined(name) + 0.25 * nearest, labels_all)
        print(
            f"{name:<48} {alone[0]:>12.4f} {alone[1]:.4f} {alone[2]:.4f}"
            f" {mixed[0]:>10.4f} {mixed[1]:.4f} {mixed[2]:.4f}"
        )
    print(f"{'nearest phrasing alone':<48} {measure(nearest, labels_all)[0]:>12.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
