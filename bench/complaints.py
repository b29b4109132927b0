"""The complaint detector on a labelled set of customer messages (bench/data/complaints.tsv).

The set: complaints, angry messages that are not complaints (anger at oneself, the weather,
another company) and plain questions, in English, German, French, Spanish and Russian, written
for this project. Every third message is held out; precision and recall are printed on the
held-out part, overall and per language, with the threshold of best F1 on the rest for reference.
A "positive" is a message the detector would mark for an agent to confirm, at the configured
default threshold (or `--threshold`).

    python bench/complaints.py
    python bench/complaints.py --threshold 2.0 --show-errors
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpdesk.conversation.complaint_detector import assess
from helpdesk.conversation.settings import ConversationSettings

DATA = ROOT / "bench" / "data" / "complaints.tsv"


def load() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file, delimiter="\t"))


def scores(rows: list[dict[str, str]], threshold: float) -> tuple[float, float, float]:
    tp = sum(1 for r in rows if r["label"] == "complaint" and assess(r["text"]).score >= threshold)
    fp = sum(1 for r in rows if r["label"] != "complaint" and assess(r["text"]).score >= threshold)
    fn = sum(1 for r in rows if r["label"] == "complaint" and assess(r["text"]).score < threshold)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--show-errors", action="store_true")
    options = parser.parse_args(argv)
    rows = load()
    held_out = rows[2::3]
    tuning = [r for i, r in enumerate(rows) if i % 3 != 2]
    candidates = [x / 2 for x in range(2, 9)]
    best = max(candidates, key=lambda t: scores(tuning, t)[2])
    default = ConversationSettings().complaint_threshold
    threshold = default if options.threshold is None else options.threshold
    counts = defaultdict(int)
    for r in rows:
        counts[r["label"]] += 1
    print(f"{len(rows)} messages: " + ", ".join(f"{n} {label}" for label, n in counts.items()))
    print(
        f"held out: {len(held_out)}; threshold {threshold} (the default is {default}; "
        f"best F1 on the other {len(tuning)}: {best})"
    )
    print(f"\n{'part':<12}{'n':>5}{'precision':>11}{'recall':>8}{'F1':>7}")
    precision, recall, f1 = scores(tuning, threshold)
    print(f"{'tuning':<12}{len(tuning):>5}{precision:>11.2f}{recall:>8.2f}{f1:>7.2f}")
    precision, recall, f1 = scores(held_out, threshold)
    print(f"{'held out':<12}{len(held_out):>5}{precision:>11.2f}{recall:>8.2f}{f1:>7.2f}")
    for language in sorted({r["lang"] for r in held_out}):
        part = [r for r in held_out if r["lang"] == language]
        precision, recall, f1 = scores(part, threshold)
        print(f"{'  ' + language:<12}{len(part):>5}{precision:>11.2f}{recall:>8.2f}{f1:>7.2f}")
    angry = [r for r in held_out if r["label"] == "angry"]
    marked = sum(1 for r in angry if assess(r["text"]).score >= threshold)
    print(f"\nangry but not complaints marked as complaints (held out): {marked}/{len(angry)}")
    if options.show_errors:
        print()
        for r in held_out:
            signal = assess(r["text"])
            predicted = signal.score >= threshold
            if predicted != (r["label"] == "complaint"):
                print(f"[{r['label']}/{r['lang']} score {signal.score}] {r['text']}")
                print(f"    {signal.explanation}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
