"""Does a customer's message read like a complaint? A small, explainable detector.

It never turns a ticket into a complaint by itself: it marks a likely one for an agent to
confirm. Two kinds of evidence, in English, German, French, Spanish and Russian:

* **complaint phrases**: the customer says they complain, or names a failure of ours as such
  ("I want to make a complaint", "this is the third time", "unacceptable", "Beschwerde");
* **negative tone aimed at us**: angry or disappointed words, or a failure named ("broken",
  "promised", "nobody answered"), together with "you"/"your" (the company); repetition
  ("again", "still") and shouting (capitals, "!!!") add to it.

Anger alone is not a complaint ("I'm so angry at myself, I forgot my password"), and a polite
question about a problem is not one either. The score is the sum of the evidence; the reasons
are kept in words for the agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(" + "|".join(patterns) + r")(?!\w)", re.IGNORECASE)


# Saying it is a complaint, or naming our failure in the words people use to complain.
_COMPLAINT = _words(
    # English
    r"complaint|complain(ing)?",
    r"unacceptable",
    r"(third|fourth|fifth|3rd|4th|5th)\s+time",
    r"(worst|terrible|awful|appalling|disgraceful|shocking)\s+(service|support|company|experience)",
    r"(charged|billed)\s+me\s+twice",
    r"nobody\s+(has\s+)?(answered|replied|called|responded|helped)",
    r"no\s+one\s+(has\s+)?(answered|replied|called|responded|helped)",
    r"still\s+(no|not|waiting|broken|nothing)",
    r"(never|not)\s+(buy|order|use)\w*\s+(from\s+)?(you|this)\s+again",
    r"report\s+you",
    r"ombudsman|consumer\s+protection|small\s+claims|lawyer|chargeback",
    r"waste\s+of\s+(my\s+)?(time|money)",
    r"(total|complete|absolute)\s+(joke|disgrace|scam|rip.?off)",
    r"rip.?off|scam",
    # German
    r"beschwer\w*",
    r"schlechteste\w*\s+(service|kundendienst|erfahrung)",
    r"unverschämt|inakzeptabel|unzumutbar|frechheit|skandal(ös)?",
    r"(zum\s+)?(dritten|vierten|x-ten)\s+mal",
    r"(niemand|keiner)\s+[^.!?]{0,40}?(geantwortet|reagiert|zurückgerufen|hilft)",
    r"immer\s+noch\s+(nicht|kein|keine)",
    r"verbraucherzentrale|anwalt",
    # French
    r"réclamation|plainte",
    r"(je\s+veux|je\s+voudrais|je\s+souhaite)\s+(me\s+plaindre|porter\s+plainte)",
    r"inadmissible|inacceptable|scandaleu(x|se)|honteu(x|se)",
    r"(troisième|quatrième|énième)\s+fois",
    r"personne\s+ne\s+(m'a\s+|me\s+|m')?(répond|répondu|rappelé|aide)",
    r"toujours\s+(pas|rien|aucun)",
    # Spanish
    r"queja|reclamación|reclamo",
    r"(quiero|quisiera|deseo)\s+(poner\s+una\s+queja|quejarme|reclamar)",
    r"inaceptable|vergonzoso|una\s+vergüenza|indignante|intolerable",
    r"(tercera|cuarta|enésima)\s+vez",
    r"nadie\s+(me\s+)?(responde|contesta|ha\s+respondido|ayuda)",
    r"todavía\s+(no|nada|sin)|sigue\s+sin",
    # Russian
    r"жалоб\w*",
    r"(хочу|буду)\s+(пожаловаться|жаловаться)",
    r"безобрази\w*|возмутительн\w*|отвратительн\w*|позор\w*|издевательств\w*",
    r"(третий|четвертый|четвёртый|который)\s+раз",
    r"никто\s+не\s+(отвечает|ответил|перезвонил|помог)",
    r"до\s+сих\s+пор\s+(не|нет)",
)

# Angry or disappointed words; on their own they are tone, not a complaint.
_NEGATIVE = _words(
    r"angry|furious|livid|outraged|fed\s+up|sick\s+of|tired\s+of|disappointed|disgusted",
    r"frustrat\w+|annoyed|upset|ridiculous|pathetic|useless|incompetent|horrible|terrible",
    r"awful|appalling|unbelievable|joke|nightmare|hopeless|rude",
    r"wütend|sauer|enttäuscht|verärgert|lächerlich|unmöglich|katastroph\w*|frech",
    r"furieux|furieuse|en\s+colère|déçu|déçue|énervé|ridicule|nul|lamentable|marre",
    r"enfadad[oa]|furios[oa]|harto|harta|decepcionad[oa]|molest[oa]|ridículo|pésim[oa]|fatal",
    r"зл(ой|ая|юсь)|в\s+бешенстве|разочарован\w*|надоел\w*|ужасн\w*|кошмар|бардак|хамств\w*",
)

# The company addressed: anger at "you" is aimed at us, not at the customer's own mistake.
_AT_US = _words(
    r"you|your|you're|you've|yours|company|support|service|staff|agent",
    r"sie|ihr|ihre|ihren|ihnen|euch|eure|firma|kundendienst|service",
    r"vous|votre|vos|société|service\s+client",
    r"usted|ustedes|su|sus|vuestro|vuestra|empresa|servicio",
    r"вы|вас|вам|ваш\w*|компани\w*|поддержк\w*|сервис\w*",
)

_AGAIN = _words(
    r"again|still|already|weeks?|months?|every\s+time|once\s+more",
    r"wieder|schon\s+wieder|wochen|monate|jedes\s+mal",
    r"encore|semaines?|mois|chaque\s+fois",
    r"otra\s+vez|de\s+nuevo|semanas?|meses|cada\s+vez",
    r"опять|снова|недел\w*|месяц\w*|каждый\s+раз",
)

# Something we did wrong, in plain words; with "you" it is a grievance, alone it may be news.
_FAILURE = _words(
    r"promised|rude|broken|damaged|wrong|overcharged|charged|cancell?ed|blocked|lost|badly",
    r"late|missing|ignored|hung\s+up|breach|nobody|no\s+one|never\s+(came|arrived|showed)",
    r"didn't\s+(turn|show)\s+up|not\s+(fixed|working|arrived|delivered)",
    r"versprochen|unfreundlich|kaputt|beschädigt|falsch\w*|abgebucht|gesperrt|verloren",
    r"schlecht\w*|zu\s+spät|nicht\s+gehalten|zerkratzt|dreck|niemand|keiner",
    r"promis|impoli|cassé|endommagé|mauvais|facturé|bloqué|perdu|en\s+panne|raccroché|personne",
    r"prometieron|maleducad\w*|roto|dañad\w*|equivocad\w*|cobraron|bloquea\w*|nadie",
    r"no\s+funciona|sin\s+funcionar",
    r"обещал\w*|нахамил\w*|сломал\w*|разбит\w*|не\s+тот|списал\w*|заблокировал\w*",
    r"потерял\w*|не\s+пришёл|не\s+пришел|никто",
)

_SHOUTED = re.compile(r"\b[A-ZÄÖÜА-ЯЁ]{4,}\b")


@dataclass(frozen=True, slots=True)
class ComplaintSignal:
    score: float
    reasons: list[str] = field(default_factory=list)

    def likely(self, threshold: float) -> bool:
        return self.score >= threshold

    @property
    def explanation(self) -> str:
        return "; ".join(self.reasons) or "no sign of a complaint"


def assess(text: str) -> ComplaintSignal:
    """The evidence that `text` is a complaint, and why."""
    score, reasons = 0.0, []
    phrases = sorted({m.group(0).lower() for m in _COMPLAINT.finditer(text)})
    if phrases:
        score += 2.0 + 0.5 * (len(phrases) - 1)
        reasons.append("complaint words: " + ", ".join(repr(p) for p in phrases[:4]))
    negative = sorted({m.group(0).lower() for m in _NEGATIVE.finditer(text)})
    at_us = _AT_US.search(text) is not None
    if negative and at_us:
        score += 1.0 + 0.5 * min(len(negative) - 1, 2)
        reasons.append("angry words aimed at us: " + ", ".join(repr(w) for w in negative[:4]))
    elif negative:
        score += 0.5
        reasons.append("angry words: " + ", ".join(repr(w) for w in negative[:4]))
    failures = sorted({m.group(0).lower() for m in _FAILURE.finditer(text)})
    if failures and at_us:
        # A named failure alone is often a polite question ("my parcel has not arrived, could
        # you check?"): it takes anger, repetition or complaint words as well to mark one.
        score += 1.0
        reasons.append("names a failure of ours: " + ", ".join(repr(w) for w in failures[:4]))
    elif failures:
        score += 0.5
        reasons.append("names a failure: " + ", ".join(repr(w) for w in failures[:4]))
    if (phrases or negative or failures) and _AGAIN.search(text):
        score += 0.5
        reasons.append("it has happened before")
    shouted = len(_SHOUTED.findall(text)) >= 2 or "!!" in text
    if shouted and (phrases or negative):
        score += 0.5
        reasons.append("shouting (capitals or '!!')")
    return ComplaintSignal(score, reasons)
