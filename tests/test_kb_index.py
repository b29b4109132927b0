"""The suggestion index on its own: what an agent or the bot would get for a message."""

from __future__ import annotations

import pytest

from helpdesk.kb.index import SuggestionIndex
from helpdesk.kb.query import usable_query
from tests.kb_articles import ARTICLES


@pytest.fixture(scope="module")
def index() -> SuggestionIndex:
    return SuggestionIndex(ARTICLES)


@pytest.mark.parametrize(
    ("message", "article"),
    [
        ("I forgott my pasword", 1),  # typos
        ("my new crad still hasnt arived", 2),
        ("cancell the tranfser I just did", 3),
        ("I can't remember my password, how do I get a new one", 1),  # paraphrase
        ("it's been two weeks and still no card in the post", 2),
        ("I paid the wrong person, can I get it back?", 3),
    ],
)
def test_typos_and_paraphrases_find_the_right_article(
    index: SuggestionIndex, message: str, article: int
):
    suggestions = index.rank(message)
    assert suggestions[0].article_id == article
    assert len(suggestions) == 3
    assert all(0.0 <= s.confidence <= 1.0 for s in suggestions)
    assert suggestions[0].confidence == max(s.confidence for s in suggestions)


def test_each_suggestion_says_why(index: SuggestionIndex):
    best = index.rank("how do I reset my password?")[0]
    assert best.article_id == 1 and best.confidence > 0.5
    assert '"how do I reset my password"' in best.reason
    assert "password" in best.reason


def test_articles_in_the_customers_language_come_first(index: SuggestionIndex):
    english = index.rank("I forgot my password", language="de")
    assert english[0].article_id == 4 and english[0].language == "de"
    assert index.rank("Ich habe mein Passwort vergessen", language="en")[0].article_id == 1
    assert index.rank("I forgot my password", language="en")[0].article_id == 1


def test_a_message_no_article_covers_gets_low_confidence(index: SuggestionIndex):
    on_topic = index.rank("I forgot my password")[0].confidence
    off_topic = index.rank("what's the weather like in Lisbon tomorrow")
    assert not off_topic or off_topic[0].confidence < on_topic / 2


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   \n\t ",
        "password " * 400,
        "\x00\x01\x02\x03\ufffd\ufffd\x7f",
        "4111 1111 1111 1111",
        "\ufffd" * 50 + "card",
        "%PDF-1.7 \x00\x00\x89\x90\x91\x92 stream endstream",
    ],
)
def test_empty_huge_or_binary_messages_get_no_suggestion(index: SuggestionIndex, message: str):
    assert index.rank(message) == []


@pytest.mark.parametrize("message", ["zzqx", "__main__", "ÿÿÿÿ ÿÿÿ", "ЖЖЖ"])
def test_words_no_article_knows_get_no_suggestion(index: SuggestionIndex, message: str):
    assert usable_query(message) == message
    assert index.rank(message) == []
    assert SuggestionIndex(ARTICLES[:1]).rank(message) == []


def test_votes_move_an_article_up(index: SuggestionIndex):
    fresh = SuggestionIndex(ARTICLES)
    message = "my new card and my password"  # between two articles
    before = {s.article_id: s.confidence for s in fresh.rank(message)}
    for _ in range(20):
        fresh.add_vote(2, helped=True)
        fresh.add_vote(1, helped=False)
    after = {s.article_id: s.confidence for s in fresh.rank(message)}
    # Article 2 overtakes: its confidence rises above article 1's, which it was below.
    assert before[2] < before[1] and after[2] > before[2] and after[2] > after[1]
    assert fresh.rank(message)[0].article_id == 2


def test_an_empty_knowledge_base_suggests_nothing():
    assert SuggestionIndex([]).rank("I forgot my password") == []


def test_one_article_is_enough_to_rank():
    only = SuggestionIndex(ARTICLES[:1])
    assert only.rank("forgot my password")[0].article_id == 1
