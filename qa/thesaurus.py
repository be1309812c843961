"""Everyday words readers use for the report's own terms: slang, nicknames and American usage."""

from __future__ import annotations

import re

# Reader's word or phrase -> the words a British police report uses for the same thing. Only
# unambiguous, general usage of policing and drugs; never tied to one report's sentences, its
# acronyms or its city (no "the Met" -> MPS: a report's own names come from its own text).
EVERYDAY_TERMS: dict[str, str] = {
    "cop": "police officer",
    "cops": "police officers",
    "copper": "police officer",
    "coppers": "police officers",
    "bobbies": "police officers",
    "old bill": "police",
    "policemen": "police officers",
    "junkie": "problem drug user addict",
    "junkies": "problem drug users addicts",
    "druggie": "drug user",
    "druggies": "drug users",
    "smackhead": "heroin user",
    "smackheads": "heroin users",
    "crackhead": "crack user",
    "crackheads": "crack users",
    "weed": "cannabis",
    "skunk": "cannabis",
    "marijuana": "cannabis",
    "marihuana": "cannabis",
    "ganja": "cannabis",
    "hashish": "cannabis",
    "smack": "heroin",
    "coke": "cocaine",
    "meth": "methamphetamine",
    "crystal meth": "methamphetamine",
    "narcotics": "drugs",
    "narcotic": "drug",
    "dealer": "drug dealing supply",
    "dealers": "drug dealing supply",
    "pusher": "drug dealing supply",
    "pushers": "drug dealing supply",
    "drug den": "crackhouse",
    "drug dens": "crackhouses",
    "crack den": "crackhouse",
    "crack dens": "crackhouses",
    "grow house": "cannabis factory",
    "grow houses": "cannabis factories",
    "cannabis farm": "cannabis factory",
    "cannabis farms": "cannabis factories",
    "weed farm": "cannabis factory",
    "weed farms": "cannabis factories",
    "gang": "organised criminal network",
    "gangs": "organised criminal networks",
    "mafia": "organised criminal networks",
    "lawbreakers": "offenders",
    "criminals": "offenders",
    "crooks": "offenders",
    "convicts": "offenders",
    "nicked": "arrested",
    "busted": "arrested",
    "locked up": "arrested",
    "raid": "warrant operation",
    "raids": "warrants operations",
    "jail": "prison",
    "jails": "prison",
    "rehab": "treatment",
    "detox": "treatment",
    "cash": "funding money",
    "dosh": "funding money",
    "downing street": "Prime Minister's Office",
    "number 10": "Prime Minister's Office",
    "no 10": "Prime Minister's Office",
    "govt": "government",
    "scorecard": "performance indicators",
    "scorecards": "performance indicators",
    "kpi": "performance indicators",
    "kpis": "performance indicators",
    "metrics": "performance indicators",
    "league table": "performance indicators",
    "league tables": "performance indicators",
    "look again at": "review",
    "look into": "review",
    "looking into": "review",
    "sting": "test purchase operation",
    "stings": "test purchase operations",
    "undercover buys": "test purchase operations",
    "joined up": "coordinated",
    "joined-up": "coordinated",
    "wrote": "author",  # "who wrote the report?": reports name their author, not their writer
    "written by": "author",
    "writer": "author",
    "penned": "author",
    "stop and frisk": "stop and search",
    "stop-and-frisk": "stop and search",
    # Plain phrasal verbs and informal words -> the formal words official reports use for them.
    "set up": "established",
    "took over from": "replaced",
    "take over from": "replace",
    "took the place of": "replaced",
    "asked for": "requested",
    "keep tabs on": "monitor",
    "keep an eye on": "monitor",
    "keep track of": "monitor",
    "check up on": "monitor",
    "pay for": "fund",
    "paid for": "funded",
    "confiscate": "seize",
    "confiscated": "seized",
    "confiscates": "seizes",
    "haul": "seizure",
    "hauls": "seizures",
    "sort out": "resolve",
    "sorted out": "resolved",
    "get rid of": "remove",
    "cut down on": "reduce",
    "bring down": "reduce",
    "brought in": "introduced",
    "okay": "approve",
    "okayed": "approved",
    "okaying": "approving",
    "sign off": "approve",
    "signed off": "approved",
    "go-ahead": "approval",
    "stop-gap": "interim",
    "stopgap": "interim",
}

_PATTERN = re.compile(
    r"\b(?:" + "|".join(re.escape(term) for term in sorted(EVERYDAY_TERMS, key=len, reverse=True)) + r")\b",
    re.I,
)


def everyday_phrases(question: str) -> list[str]:
    """The everyday terms a question uses, as written ('Downing Street')."""
    return [match.group(0) for match in _PATTERN.finditer(question)]


def report_terms(question: str) -> list[str]:
    """The report's words for the everyday terms a question uses, in order, without repeats."""
    found: list[str] = []
    for match in _PATTERN.finditer(question):
        terms = EVERYDAY_TERMS[match.group(0).lower()]
        if terms not in found:
            found.append(terms)
    return found


def in_report_terms(text: str) -> str:
    """The text with each everyday term replaced by the report's words for it."""
    return _PATTERN.sub(lambda match: EVERYDAY_TERMS[match.group(0).lower()], text)
