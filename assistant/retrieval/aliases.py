"""A small curated table of the conflict's actors and places and the other names the news gives them.

A query that names one member of a group ("Russia") also searches for the others ("Moscow", "Kremlin",
"Putin"); spellings of one name search for each other; a question's word searches for the words news
text uses for the same thing ("truce" -> "ceasefire").
"""

from __future__ import annotations

from collections.abc import Callable

# an actor or place: the names that stand for it in news text
ACTORS: dict[str, tuple[str, ...]] = {
    "russia": ("russian", "russians", "moscow", "kremlin", "putin"),
    "ukraine": ("ukrainian", "ukrainians", "kyiv", "kiev", "zelensky"),
    "usa": ("american", "americans", "america", "washington", "pentagon"),
    "germany": ("german", "berlin"),
    "france": ("french", "paris", "macron"),
    "britain": ("british", "uk", "london"),
    "china": ("chinese", "beijing"),
    "belarus": ("belarusian", "minsk", "lukashenko"),
    "turkey": ("turkish", "ankara", "istanbul", "erdogan"),
    "europe": ("european", "eu", "brussels"),
    "un": ("guterres",),
    "ceasefire": ("truce", "armistice"),
    "talks": ("negotiations", "negotiation", "negotiators"),
    "weapons": ("arms", "weaponry", "munitions"),
    "donbas": ("donetsk", "luhansk"),
}

# spellings of the same name
SPELLINGS: tuple[tuple[str, ...], ...] = (
    ("kyiv", "kiev"),
    ("zelensky", "zelenskyy", "zelenskiy", "zelenskii"),
    ("luhansk", "lugansk"),
    ("donbas", "donbass"),
    ("kharkiv", "kharkov"),
    ("odesa", "odessa"),
    ("zaporizhzhia", "zaporizhia", "zaporozhye"),
    ("mykolaiv", "nikolaev", "mykolayiv"),
    ("kherson", "herson"),
    ("dnipro", "dnepr", "dnieper"),
    ("bakhmut", "artemovsk"),
    ("shoigu", "shoygu"),
    ("peskov",),
)


# words a question uses -> words news text uses for the same thing
CONCEPTS: dict[str, tuple[str, ...]] = {
    "precondition": ("condition", "demand", "terms", "requirement", "require", "insist", "must"),
    "condition": ("demand", "terms", "requirement", "require"),
    "want": ("demand", "insist", "seek", "call"),
    "demand": ("insist", "require", "call"),
    "position": ("stance", "view", "insist", "reject"),
    "stance": ("position", "view", "insist", "reject"),
    "casualties": ("killed", "dead", "deaths", "injured", "wounded"),
    "killed": ("dead", "deaths", "casualties"),
    "attack": ("strike", "shelling", "bombardment", "assault"),
    "captured": ("capture", "seized", "control", "occupied", "took"),
    "aid": ("support", "assistance", "help"),
    "support": ("aid", "assistance"),
    "help": ("support", "aid", "assistance"),
    "deal": ("agreement", "accord", "treaty"),
    "agreement": ("deal", "accord", "treaty"),
    "meeting": ("summit", "meet", "talks"),
    "summit": ("meeting", "meet"),
    "prisoners": ("prisoner", "swap", "exchange"),
    "captives": ("prisoners", "pows"),
    "blame": ("accuse", "fault"),
    "stalled": ("deadlocked", "slowing", "stuck"),
    "chief": ("secretary", "head", "leader"),
    "give": ("cede", "surrender"),
    "immediately": ("immediate",),
    "drones": ("drone", "uav"),
    # general news wording: what a question asks in its own words, as reports put it
    "fighting": ("war", "conflict", "combat", "hostilities"),
    "war": ("conflict", "fighting", "hostilities"),
    "halt": ("ceasefire", "stop", "pause", "suspend"),
    "stop": ("halt", "end", "ceasefire"),
    "rebuild": ("reconstruction", "recovery"),
    "reconstruction": ("rebuild", "recovery"),
    "worry": ("concern", "fear", "alarm"),
    "worried": ("concern", "concerned", "fear"),
    "concern": ("worry", "fear"),
    "lawful": ("legitimate", "legitimacy", "legal"),
    "legal": ("lawful", "legitimate"),
    "legitimacy": ("legitimate", "lawful", "legal"),
    "swap": ("exchange", "trade"),
    "exchange": ("swap", "trade"),
    "offer": ("proposal", "plan", "initiative"),
    "proposal": ("offer", "plan", "initiative"),
    "breakthrough": ("progress", "deal", "agreement"),
    "progress": ("breakthrough", "advance"),
    "destroy": ("damage", "destruction"),
    "damage": ("destroy", "destruction"),
    "died": ("killed", "dead", "death"),
    "fled": ("refugees", "displaced", "evacuated"),
    "refugees": ("fled", "displaced"),
    "sanctions": ("penalties", "restrictions", "embargo"),
    "troops": ("soldiers", "forces", "army", "military"),
    "soldiers": ("troops", "forces"),
    "army": ("military", "forces", "troops"),
    "missile": ("rocket",),
    "rocket": ("missile",),
    "invasion": ("offensive", "incursion"),
    "president": ("leader",),
    "leader": ("president", "chief", "head"),
    "election": ("vote", "ballot", "poll"),
    "vote": ("election", "ballot", "referendum"),
    "funding": ("money", "funds", "aid"),
    "money": ("funds", "funding"),
    "ammunition": ("shells", "munitions"),
    "agree": ("accept", "agreement", "approve"),
    "accept": ("agree", "approve"),
    "reject": ("refuse", "oppose", "deny"),
    "refuse": ("reject", "decline"),
    "promise": ("pledge", "vow", "commit"),
    "pledge": ("promise", "vow"),
    "cooperation": ("partnership", "collaboration"),
    "partnership": ("cooperation", "collaboration"),
    "increase": ("boost", "raise", "rise", "expand"),
    "boost": ("increase", "expand"),
    "wounded": ("injured",),
    "injured": ("wounded", "hurt"),
    "hurt": ("injured", "wounded"),
    "civilians": ("residents", "population"),
}


def alias_table(normalise: Callable[[str], str]) -> dict[str, frozenset[str]]:
    """Each normalised term -> the normalised terms a query for it also searches for."""
    table: dict[str, set[str]] = {}

    def link(term: str, others: set[str]) -> None:
        key = normalise(term)
        table.setdefault(key, set()).update(normalise(o) for o in others if normalise(o) != key)

    for head, members in ACTORS.items():
        group = {head, *members}
        for name in group:
            link(name, group)
    for spellings in SPELLINGS:
        for spelling in spellings:
            link(spelling, set(spellings))
    for word, related in CONCEPTS.items():
        link(word, set(related))
    return {term: frozenset(others) for term, others in table.items() if others}
