"""Page furniture that changes by itself, and so is no part of a statement's text: kept, each re-read
of an unchanged page would be an "edit". What a page-view, who-is-online or comment counter, a relative
time or a block of visitor statistics says moves with every visit, comment or passing day, while the
statement stays as it was. Each rule was found on real pages (the trafilatura and htmldate sets) or in
the markup of the CMSs that write them, and leaves out a short element or line, never a paragraph.

COUNTERS are XPath expressions for trafilatura's `prune_xpath` (elements); `without_furniture` takes
the lines of the text trafilatura wrote."""

from __future__ import annotations

import re

# A page-view counter in the article ("Hits: 1234", Joomla's default article info; "Post Views: 1,234";
# "Просмотров: 57") changes with every visit: kept in the text, each re-read would be an "edit". It is an
# element of one of these classes holding a short text with a digit, so no paragraph or table goes with it.
_COUNTER_CLASSES = ("hits", "hit-count", "hitcount", "item-hits", "article-hits", "views", "view-count",
                    "views-count", "viewcount", "post-views", "post-views-count", "page-views", "pageviews",
                    "views-counter", "view-counter", "statistics-counter", "read-count", "reads-count",
                    # who is online: uCoz's "Insgesamt online: 1 / Gäste: 1 / Benutzer: 0", visitor counters
                    "tOnline", "gOnline", "uOnline", "online-users", "users-online", "who-is-online", "whos-online",
                    "whosonline", "visitors-online", "online-visitors", "visitor-counter", "visitors-counter",
                    "visitorcounter", "vcounter")
COUNTERS = ["//*[(" + " or ".join([f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"
                                   for name in _COUNTER_CLASSES]
                                  + ["contains(concat(normalize-space(@class), ' '), '-views ')",  # news-views
                                     "contains(concat(normalize-space(@class), ' '), '-hits ')"])
            + ") and string-length(normalize-space(.)) <= 60"
            " and translate(normalize-space(.), '0123456789', '') != normalize-space(.)]"]
# A count of the page's comments or ratings ("12 comments", "Comments (3)", "Kommentare insgesamt: 0",
# "(2 Bewertungen)") grows with every reader who writes one, whatever its class: an element whose whole
# short text is such a count, its digits aside, goes the same way. Vote tallies are not among them: a
# table of results holds those.
_COUNT_WORDS = ("{} comment", "{} comments", "comments: {}", "comments ({})", "no comments", "{} replies",
                "{} responses", "{} kommentar", "{} kommentare", "kommentare: {}", "kommentare ({})",
                "kommentare insgesamt: {}", "keine kommentare", "{} commentaire", "{} commentaires",
                "commentaires ({})", "aucun commentaire", "{} comentario", "{} comentarios", "comentarios ({})",
                "{} commenti", "{} reacties", "({} bewertung)", "({} bewertungen)", "{} bewertungen",
                "({} ratings)", "{} ratings")
_UPPER, _LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜÉÈ", "abcdefghijklmnopqrstuvwxyzäöüéè"
_SHAPE = f"translate(normalize-space(.), '{_UPPER}0123456789', '{_LOWER}')"  # lower case, digits dropped
COUNTERS.append("//*[string-length(normalize-space(.)) <= 40 and ("
                + " or ".join(f'{_SHAPE} = "{words.format("")}"' for words in _COUNT_WORDS) + ")]")
# In the text as trafilatura writes it (a block a line, a table row as `| cell | cell |`), a relative
# time ("3 hours ago", "il y a 2 jours", "vor 5 Minuten"), which the same page says otherwise when re-read
# a day later, is a line of its own:
_AGO = re.compile(
    r"(?:(?:posted|updated|published|last updated|modified)\s*:?\s*)?(?:"
    r"(?:\d+|an?|a few|few)\s*(?:s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?|mos?|months?"
    r"|y|yrs?|years?)\s+ago|just now|moments? ago"
    r"|il y a\s+(?:\d+|une?|quelques)\s+(?:secondes?|minutes?|min|heures?|h|jours?|semaines?|mois|ans?|années?)"
    r"|vor\s+(?:\d+|einer?|einem|wenigen)\s+(?:sekunden?|minuten?|min\.?|stunden?|std\.?|tag(?:en)?|wochen?|monat(?:en)?"
    r"|jahr(?:en)?)"
    r"|hace\s+(?:\d+|una?|unos|unas)\s+(?:segundos?|minutos?|min|horas?|h|d[ií]as?|semanas?|mes(?:es)?|años?)"
    r"|há\s+(?:\d+|uma?|alguns|algumas)\s+(?:segundos?|minutos?|min|horas?|h|dias?|semanas?|mes(?:es)?|mês|anos?)"
    r"|(?:\d+|un|una|pochi)\s+(?:second[io]|minut[io]|ore|ora|giorn[io]|settiman[ae]|mes[ei]|ann[io])\s+fa"
    r"|(?:\d+\s+)?(?:секунд[уы]?|минут[уы]?|час(?:а|ов)?|дн(?:я|ей)|день|недел[юиь]|месяц(?:а|ев)?|год(?:а)?|лет)\s+назад"
    r")\.?", re.IGNORECASE)
# and a visitor statistics block (a Joomla counter module's "Heute 29 / Gestern 21 / Woche 29 / Monat 220 /
# Total 77776"), which every visit moves, is a run of lines of a period and a count, one of them the day's
_COUNTED_LINE = re.compile(r"\|?\s*(?P<label>[^|\d]{2,40}?)\s*(?:[:|]\s*)?\d+(?:[.,\u00a0 ]\d+)*\s*\|?\s*")
_VISIT_WORDS = re.compile(r"\b(?:visitors?|visits|hits|views|besucher|visiteurs|visites|visitas|посетителей)\b"
                          r"|'s\b|’s\b|:")
_VISIT_DAYS = frozenset({"today", "yesterday", "heute", "gestern", "aujourd'hui", "aujourd’hui", "hier", "hoy",
                         "ayer", "hoje", "ontem", "oggi", "ieri", "vandaag", "gisteren", "dzisiaj", "wczoraj",
                         "сегодня", "вчера"})
_VISIT_PERIODS = _VISIT_DAYS | frozenset({
    "this week", "last week", "week", "this month", "last month", "month", "this year", "year", "total", "all",
    "all days", "all time", "online", "woche", "diese woche", "letzte woche", "monat", "dieser monat",
    "letzter monat", "jahr", "gesamt", "insgesamt", "semaine", "cette semaine", "mois", "ce mois", "en ligne",
    "semana", "esta semana", "mes", "este mes", "en línea", "settimana", "mese", "totale", "maand", "totaal",
    "tydzień", "miesiąc", "razem", "неделя", "за неделю", "месяц", "за месяц", "всего", "онлайн"})


def without_furniture(text: str) -> str:
    """The text without its lines of page furniture that change by themselves: relative times, and runs
    of visitor statistics."""
    kept: list[str] = []
    run: list[tuple[str, str]] = []  # the lines of a period and a count read last, not yet kept

    def end_run() -> None:
        if len(run) < 2 or not any(label in _VISIT_DAYS for _, label in run):
            kept.extend(line for line, _ in run)
        run.clear()

    for line in text.split("\n"):
        if (label := _visit_period(line)) is not None:
            run.append((line, label))
            continue
        end_run()
        if not _AGO.fullmatch(line.strip().strip("|").strip().removeprefix("- ").strip()):
            kept.append(line)
    end_run()
    return "\n".join(kept).strip()


def _visit_period(line: str) -> str | None:
    """The period a line of visitor statistics counts (`| Heute | 29 |`, `Today: 29`), or None."""
    found = _COUNTED_LINE.fullmatch(line.strip())
    if found is None:
        return None
    label = " ".join(_VISIT_WORDS.sub(" ", found["label"].lower()).split())
    return label if label in _VISIT_PERIODS else None
