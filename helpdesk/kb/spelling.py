"""Typo repair against the articles' own words: a word no article uses is replaced by the known
word one edit away (a dropped, added, swapped or replaced letter), or split in two known words
when a space was lost. Looked up by deleting one letter from both sides (the symmetric-delete
idea), so a query costs a few dictionary reads per unknown word, not a scan of the vocabulary.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

_WORD = re.compile(r"\w+")
# Shorter words have too many neighbours one edit away: left alone.
MIN_REPAIR_LENGTH = 3
# From this length a word may be two edits away from the known one.
TWO_EDITS_LENGTH = 6


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


@dataclass(frozen=True, slots=True)
class Repaired:
    text: str
    # The words changed, as (typed, read as): shown in the bot's reason and weighed as less
    # certain evidence by the refusal.
    changes: tuple[tuple[str, str], ...]


class Speller:
    def __init__(self, texts: Iterable[str]) -> None:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_WORD.findall(text.lower()))
        self._counts = counts
        # Most used first, then alphabetical: the first of equals wins, in any article order.
        self._by_use = sorted(counts, key=lambda w: (-counts[w], w))
        by_delete: dict[str, list[str]] = {}
        for word in counts:
            if len(word) >= MIN_REPAIR_LENGTH - 1:
                for variant in _deletes(word):
                    by_delete.setdefault(variant, []).append(word)
        self._by_delete = by_delete

    def known(self, word: str) -> bool:
        return word in self._counts

    def repair(self, text: str) -> Repaired:
        words = _WORD.findall(text.lower())
        out: list[str] = []
        changes: list[tuple[str, str]] = []
        for word in words:
            fixed = word if word in self._counts else self._correct(word)
            if fixed != word:
                changes.append((word, fixed))
            out.append(fixed)
        return Repaired(" ".join(out), tuple(changes))

    def _correct(self, word: str) -> str:
        if len(word) < MIN_REPAIR_LENGTH or word.isdigit():
            return word
        deletes = _deletes(word)
        # A letter added: the word less one letter is known.
        candidates = {d for d in deletes if d in self._counts}
        # A letter dropped: the word is a known word less one letter.
        candidates.update(self._by_delete.get(word, ()))
        # A letter replaced or two swapped: both less one letter meet.
        for variant in deletes:
            candidates.update(self._by_delete.get(variant, ()))
        # Meeting after deletes at two different places is two edits, not one.
        candidates = {c for c in candidates if OSA.distance(word, c, score_cutoff=1) <= 1}
        if candidates:
            # The most used known word wins; the alphabet breaks ties so that any order of
            # the articles reads a typo the same way.
            return min(candidates, key=lambda w: (-self._counts[w], w))
        split = self._split(word)
        if split != word or len(word) < TWO_EDITS_LENGTH:
            return split
        found = process.extractOne(word, self._by_use, scorer=OSA.distance, score_cutoff=2)
        return found[0] if found is not None else word

    def _split(self, word: str) -> str:
        best: tuple[int, str] | None = None
        for i in range(1, len(word)):
            left, right = word[:i], word[i:]
            if left in self._counts and right in self._counts:
                score = min(self._counts[left], self._counts[right])
                if best is None or score > best[0]:
                    best = (score, f"{left} {right}")
        return best[1] if best else word
