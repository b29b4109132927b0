"""Open-set BANKING77: does the answer bot keep quiet about questions no article covers?

Protocol (after BANKING77-OOS): for each of several seeded splits, 25% of the 77 intents are
held out. Articles are built from the other intents' train.csv rows; the held-out intents'
test.csv rows become questions no article covers, the kept intents' test.csv rows the in-scope
questions. Every setting is chosen on train.csv only, by cross-validation that holds out intents
too: in each inner fold a quarter of the kept intents play "not covered", and a third of the
other intents' rows play in-scope questions. From those folds come the refusal model (a logistic
regression over the signals, `helpdesk/kb/signals.py`) and the bot threshold. test.csv is read
only to measure.

Printed per split and on average: in-scope answered, the share of those answers that are right,
out-of-scope answered, the precision of all answers (out-of-scope ones count as wrong), and the
area under the answered/precision curve; then each signal alone, to show what each adds.

    python bench/kb_open_set.py                  # 3 splits (about 2 minutes on a quiet machine)
    python bench/kb_open_set.py --splits 5 --product   # also fit the shipped model on all intents
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.kb_banking77 import DATA, articles_from, load
from helpdesk.kb.index import RankerSettings, SuggestionIndex
from helpdesk.kb.signals import SIGNAL_NAMES, RefusalModel

Rows = list[tuple[str, str]]
HELD_OUT_SHARE = 0.25
INNER_FOLDS = 3
PRECISION_TARGET = 0.95
# The operating point: answer as much as possible while, on the held-out folds, at least 95% of
# in-scope answers are right and at most this share of uncovered questions is answered.
OUT_OF_SCOPE_BUDGET = 0.10


@dataclass
class Observed:
    """Per question: the signals for the best article, whether it is covered, whether the best
    article is the right one."""

    signals: np.ndarray
    in_scope: np.ndarray
    right: np.ndarray

    @staticmethod
    def join(parts: list[Observed]) -> Observed:
        return Observed(
            np.vstack([p.signals for p in parts]),
            np.concatenate([p.in_scope for p in parts]),
            np.concatenate([p.right for p in parts]),
        )


def observe(index: SuggestionIndex, ids: dict[str, int], rows: Rows, known: set[str]) -> Observed:
    signals, in_scope, right = [], [], []
    for text, intent in rows:
        ranking = index.ranking(text, limit=1)
        s = ranking.signals
        signals.append(s.vector() if s is not None else np.zeros(len(SIGNAL_NAMES)))
        in_scope.append(intent in known)
        best = ranking.suggestions[0].article_id if ranking.suggestions else None
        right.append(intent in known and best == ids.get(intent))
    return Observed(np.asarray(signals), np.asarray(in_scope), np.asarray(right))


def fit_refusal(observed: Observed) -> RefusalModel:
    """The probability that the best article is right, from the signals."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(observed.signals, observed.right)
    return RefusalModel(
        tuple(round(float(w), 4) for w in model.coef_[0]), round(float(model.intercept_[0]), 4)
    )


def confidences(model: RefusalModel, signals: np.ndarray) -> np.ndarray:
    z = model.bias + signals @ np.asarray(model.weights)
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def choose_threshold(score: np.ndarray, observed: Observed) -> float:
    """The least threshold meeting the operating point on the held-out folds."""
    inside, outside = observed.in_scope, ~observed.in_scope
    for threshold in np.unique(np.round(score, 4)):
        answered = score >= threshold
        in_answered = answered & inside
        precision = observed.right[in_answered].mean() if in_answered.any() else 1.0
        if precision >= PRECISION_TARGET and answered[outside].mean() <= OUT_OF_SCOPE_BUDGET:
            return float(threshold)
    return 1.0


def figures(score: np.ndarray, threshold: float, observed: Observed) -> dict[str, float]:
    answered = score >= threshold
    inside, outside = observed.in_scope, ~observed.in_scope
    in_answered = answered & inside
    return {
        "in-scope answered": in_answered.sum() / inside.sum(),
        "right among them": observed.right[in_answered].mean() if in_answered.any() else 1.0,
        "out-of-scope answered": answered[outside].mean(),
        "precision (all answers)": observed.right[answered].mean() if answered.any() else 1.0,
        "AUC answered/precision": area(score, observed.right),
    }


def area(score: np.ndarray, right: np.ndarray) -> float:
    """Area under precision against the share answered, answering the surest first."""
    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(right[order])
    return float(np.mean(hits / np.arange(1, len(order) + 1)))


def inner_folds(rows: Rows, known: list[str], seed: int) -> Observed:
    rng = random.Random(seed)
    intents = sorted(known)
    rng.shuffle(intents)
    by_intent: dict[str, Rows] = defaultdict(list)
    for row in rows:
        by_intent[row[1]].append(row)
    parts = []
    for k in range(INNER_FOLDS):
        hidden = set(intents[k::4])  # a quarter of the known intents, different each fold
        training: Rows = []
        evaluation: Rows = []
        for intent in intents:
            mine = by_intent[intent]
            if intent in hidden:
                evaluation.extend(mine)
                continue
            order = list(range(len(mine)))
            random.Random(f"{seed}-{intent}").shuffle(order)
            for position, i in enumerate(order):
                (evaluation if position % INNER_FOLDS == k else training).append(mine[i])
        articles, ids = articles_from(training)
        parts.append(observe(SuggestionIndex(articles), ids, evaluation, set(ids)))
    return Observed.join(parts)


def run_split(
    seed: int, train: Rows, test: Rows, intents: list[str]
) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    hidden = set(rng.sample(intents, round(len(intents) * HELD_OUT_SHARE)))
    known = [i for i in intents if i not in hidden]
    started = time.perf_counter()
    cv = inner_folds([r for r in train if r[1] not in hidden], known, seed)
    model = fit_refusal(cv)
    threshold = choose_threshold(confidences(model, cv.signals), cv)
    articles, ids = articles_from([r for r in train if r[1] not in hidden])
    index = SuggestionIndex(articles, replace(RankerSettings(), refusal=model))
    seen = observe(index, ids, test, set(known))
    print(
        f"split {seed}: {len(hidden)} intents held out, {len(articles)} articles; refusal "
        f"weights {dict(zip(SIGNAL_NAMES, model.weights, strict=True))} bias {model.bias}, "
        f"threshold {threshold:.3f} (chosen in {time.perf_counter() - started:.0f} s)"
    )
    results = {"refusal model": figures(confidences(model, seen.signals), threshold, seen)}
    for column, name in enumerate(SIGNAL_NAMES):
        # Each signal alone, its cut-off chosen the same way on the same folds.
        alone = cv.signals[:, column]
        cut = choose_threshold(alone, cv)
        results[f"{name} alone"] = figures(seen.signals[:, column], cut, seen)
    return results


def print_table(title: str, results: dict[str, dict[str, float]]) -> None:
    columns = list(next(iter(results.values())))
    print(f"  {title:<24}" + "".join(f"{c:>25}" for c in columns))
    for name, values in results.items():
        print(f"  {name:<24}" + "".join(f"{values[c]:>25.3f}" for c in columns))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--product", action="store_true", help="fit the shipped refusal model")
    args = parser.parse_args(argv)
    train, test = load(args.data / "train.csv"), load(args.data / "test.csv")
    intents = sorted({i for _, i in train})
    per_split = []
    for seed in range(1, args.splits + 1):
        results = run_split(seed, train, test, intents)
        print_table(f"split {seed}", results)
        per_split.append(results)
    average = {
        name: {c: statistics.mean(r[name][c] for r in per_split) for c in per_split[0][name]}
        for name in per_split[0]
    }
    print_table(f"average of {len(per_split)}", average)
    if args.product:
        cv = inner_folds(train, intents, 0)
        model = fit_refusal(cv)
        threshold = choose_threshold(confidences(model, cv.signals), cv)
        print(f"\nshipped model (CV on all 77 intents): {model}, threshold {threshold:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
