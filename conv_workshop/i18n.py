"""The language of the text the package generates: Python's gettext, with one catalog per language in locale/.

Findings sentences, table headers and verdict words, figure titles, axis labels and legends, exercise checks and
setup labels are written in English inside `_()`; `set_language("es")` makes `_()` return the Spanish catalog's
translation (conv_workshop/locale/es/LC_MESSAGES/conv_workshop.po, compiled to .mo). English needs no catalog: a
message is its own translation. Texts defined at import time are marked with `N_()`, which only marks them for
extraction, and translated with `_()` where they are shown, so that a change of language applies at once.
`make catalogs` extracts the messages with Babel, merges them into each .po and compiles the .mo files;
tests/test_i18n.py fails on a message that bypasses `_()` or that a catalog misses.
"""

from __future__ import annotations

import gettext
import re
from contextlib import contextmanager
from pathlib import Path

DOMAIN = "conv_workshop"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = {"en": "English", "es": "español"}
# Modules whose run-time text goes through the catalog (the test scans them for text that does not), as paths in the
# package without ".py".
TRANSLATED_MODULES = ("reporting/findings", "reporting/tables", "reporting/plots", "reporting/report",
                      "lesson/exercises", "lesson/by_hand", "deployment/serve_demo", "experiments/catalogue",
                      "environment", "session", "i18n")

_active: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def set_language(language: str) -> None:
    """Choose the language of every text generated from now on ('en' or 'es')."""
    global _active, _language
    if language not in LANGUAGES:
        raise ValueError(f"no catalog for language {language!r}: send one of {', '.join(map(repr, LANGUAGES))}")
    _active = (gettext.NullTranslations() if language == "en"
               else gettext.translation(DOMAIN, LOCALE_DIR, languages=[language]))
    _language = language


def current_language() -> str:
    return _language


def _(message: str) -> str:
    """The message in the current language (the notebook calls it `translate`: used throughout sections 3–11)."""
    return _active.gettext(message) if message else message  # gettext("") is the catalog's header


translate = _  # the notebook's name for _(), which IPython keeps for the last output


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural message for `count`, in the current language."""
    return _active.ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Marks a text for the catalog without translating it yet (for texts defined at import time)."""
    return message


# How the names of experiments and variants are built (catalogue.py): the name is data (a run key in
# results/runs.csv), so it is translated only where it is shown, one known word or pattern at a time.
NAME_PARTS = re.compile(r"^(?P<head>.+?)(?P<tail> n=[\d,]+)$")


def label(name: str) -> str:
    """An experiment's or a variant's name in the current language: the catalog's entry when it has one, else the
    name itself when it has none; a data-size arm keeps its size ('dense n=500' → 'denso n=500'). Used in
    section 11 and by the tables and figures."""
    if _language == "en" or not isinstance(name, str):
        return name
    match = NAME_PARTS.match(name)  # the data-size arms ("CNN n=500") depend on the profile
    return _(match["head"]) + match["tail"] if match else _(name)


# Names shown beside the catalogue's (catalogue.py marks its own where it declares them): the reference, the kinds
# of model and the augmentations as tables show them.
NAMES = (
    N_("dense"), N_("dense model"), N_("reference"), N_("none"), N_("shifts (±2 px)"),
    # the probes' models (section 7.1) and the blocks of section 7.4
    N_("CNN (max pool)"), N_("CNN (stride-2 conv)"), N_("CNN (GAP head)"), N_("block 1"), N_("block 2"),
    N_("block 3"),
    # names the notebook gives an effects figure (Workshop.show_effects' title)
    N_("permutation"),
)


# Verdicts (stats.Verdict) are data, compared by the code that reads them; they are put into words where shown.
VERDICT_WORDS = (N_("better"), N_("worse"), N_("chosen"), N_("larger with fewer images"),
                 N_("smaller with fewer images"), N_("not measured"), N_("one seed: no test"), N_("not resolved"),
                 N_("reference"))


def verdict_words(verdict) -> str:
    """A stats.Verdict in the current language, from its fields (its kind, seeds, margin, drop)."""
    if verdict.kind == "not resolved" and verdict.seeds is not None:
        return ngettext("not resolved with {count} seed", "not resolved with {count} seeds", verdict.seeds).format(
            count=verdict.seeds)
    if verdict.kind == "equivalent":
        return _("equivalent within ±{margin}").format(margin=f"{verdict.margin:g}")
    if verdict.kind == "not invariant":
        return _("not invariant: accuracy falls by {drop} points (95 % interval {low} to {high}, {seeds} "
                 "seeds)").format(drop=f"{verdict.drop:.1f}", low=f"{verdict.low:.1f}", high=f"{verdict.high:.1f}",
                                  seeds=verdict.seeds)
    return _(verdict.kind)


def phrase(text):
    """A word or name shown in a table cell, in the current language: a verdict (stats.Verdict), a run's name or a
    table's mark (through the catalog), or the text itself."""
    if callable(getattr(text, "words", None)):
        return text.words()
    if _language == "en" or not isinstance(text, str):
        return text
    return label(text)


@contextmanager
def in_language(language: str):
    """Generate text in `language` inside the block (the README's Spanish tables), then restore the language."""
    previous = _language
    set_language(language)
    try:
        yield
    finally:
        set_language(previous)


# The hand-designed kernels of section 4.3 (by_hand.KERNELS), named in figures.
KERNEL_NAMES = (N_("vertical edge (Sobel x)"), N_("horizontal edge (Sobel y)"), N_("diagonal edge"), N_("blur (box)"),
                N_("sharpen"), N_("my experiment"), N_("default CNN"), N_("my variant"))


# Fashion-MNIST's class names (constants.CLASS_NAMES), translated where a figure or table shows them.
CLASS_WORDS = (N_("T-shirt/top"), N_("Trouser"), N_("Pullover"), N_("Dress"), N_("Coat"), N_("Sandal"), N_("Shirt"),
               N_("Sneaker"), N_("Bag"), N_("Ankle boot"))
