"""A small knowledge base the knowledge-base tests share."""

from __future__ import annotations

from helpdesk.kb.index import IndexedArticle

ARTICLES = [
    IndexedArticle(
        1,
        "Reset your password",
        "en",
        (
            "I forgot my password",
            "how do I reset my password",
            "can't log in, password not accepted",
            "change my password",
        ),
    ),
    IndexedArticle(
        2,
        "Where is my card?",
        "en",
        (
            "my card has not arrived yet",
            "when will my new card be delivered",
            "card delivery is taking too long",
            "how long does the card take to arrive",
        ),
    ),
    IndexedArticle(
        3,
        "Cancel a transfer",
        "en",
        (
            "how do I cancel a transfer",
            "I sent money to the wrong account",
            "stop a payment I just made",
            "undo my transfer",
        ),
    ),
    IndexedArticle(
        4,
        "Passwort zurücksetzen",
        "de",
        ("Ich habe mein Passwort vergessen", "wie setze ich mein Passwort zurück"),
    ),
]

ARTICLE_FILES = {
    "reset-password.md": """---
title: Reset your password
language: en
tags: [account, login]
phrasings:
  - I forgot my password
  - how do I reset my password
  - change my password
---
Open **Settings → Security** and choose *Reset password*. We send a link to your email.
""",
    "card-delivery.md": """---
title: Where is my card?
language: en
status: published
tags: [cards]
phrasings:
  - my card has not arrived yet
  - when will my new card be delivered
  - how long does the card take to arrive
---
Cards arrive within **5 working days**. Track yours under [Cards](https://example.test/cards).
""",
    "cancel-transfer.md": """---
title: Cancel a transfer
phrasings:
  - how do I cancel a transfer
  - I sent money to the wrong account
  - undo my transfer
---
Transfers can be cancelled within 30 minutes under *Payments → Recent*.
""",
}
