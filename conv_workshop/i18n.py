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
# Modules whose run-time text goes through the catalog (the test scans them for text that does not).
TRANSLATED_MODULES = ("findings", "tables", "plots", "exercises", "environment", "session", "by_hand", "serve_demo",
                      "report", "i18n")

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


# How the names of experiments and variants are built (experiments.py): the name is data (a run key in
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


# Every name the experiments give their families, experiments and arms (experiments.families), marked for the
# catalog here because experiments.py is training code, which this module must not change.
NAMES = (
    N_("headline"), N_("CNN vs dense"), N_("dense baseline"), N_("CNN"), N_("dense"), N_("dense model"),
    N_("reference"), N_("kernel size"), N_("controlled"), N_("depth"), N_("2 blocks (32, 64)"), N_("1 block (32)"),
    N_("3 blocks (32, 64, 128)"), N_("1 conv per block"), N_("downsampling"), N_("max pooling"),
    N_("stride-2 conv"), N_("padding"), N_("same"), N_("valid"), N_("pooling"), N_("max"), N_("average"),
    N_("width"), N_("32 → 64 channels"), N_("32 → 32 channels"), N_("batch norm"), N_("with batch norm"),
    N_("without batch norm"), N_("head"), N_("flatten + dense 128"), N_("global average pool"),
    N_("GAP, 3 blocks (32, 64, 128)"), N_("small GAP (16, 32, 64)"), N_("augmentation"), N_("augmentation, dense"),
    N_("augmentation, CNN"), N_("no augmentation"), N_("flips"), N_("shifts"), N_("none"), N_("shifts (±2 px)"),
    N_("dense, no augmentation"), N_("dense, flips"), N_("dense, shifts"), N_("CNN, no augmentation"),
    N_("CNN, flips"), N_("CNN, shifts"), N_("schedule"), N_("dense schedule"), N_("dense baseline, CNN's epochs"),
    N_("small GAP"), N_("small GAP vs dense"), N_("scrambling"), N_("scrambled, dense"), N_("scrambled, CNN"),
    N_("dense (intact)"), N_("dense (scrambled)"), N_("CNN (intact)"), N_("CNN (scrambled)"), N_("data size"),
    # the probes' models (section 7.1) and the blocks of section 7.4
    N_("CNN (max pool)"), N_("CNN (stride-2 conv)"), N_("CNN (GAP head)"), N_("block 1"), N_("block 2"),
    N_("block 3"),
    # names the notebook gives an effects figure (Workshop.show_effects' title)
    N_("permutation"),
)


# Verdicts (stats.verdict) are data, compared by the code that reads them; they are translated where shown.
VERDICT_WORDS = (N_("better"), N_("worse"), N_("chosen"), N_("larger with fewer images"),
                 N_("smaller with fewer images"), N_("not measured"), N_("one seed: no test"))
NOT_RESOLVED = re.compile(r"^not resolved with (?P<count>\d+) seeds?$")
EQUIVALENT = re.compile(r"^equivalent within ±(?P<margin>\S+)$")
CHOSEN = re.compile(r"^(?P<mark>✓ )chosen$")
NOT_INVARIANT = re.compile(r"^not invariant: accuracy falls by (?P<drop>\S+) points \(95 % interval (?P<low>\S+) to "
                           r"(?P<high>\S+), (?P<seeds>\d+) seeds\)$")  # stats.ShiftTest.verdict


def phrase(text):
    """A word or name shown in a table cell, in the current language: a verdict, a run's name, or the text itself."""
    if _language == "en" or not isinstance(text, str):
        return text
    if match := NOT_RESOLVED.match(text):
        count = int(match["count"])
        return ngettext("not resolved with {count} seed", "not resolved with {count} seeds", count).format(
            count=count)
    if match := EQUIVALENT.match(text):
        return _("equivalent within ±{margin}").format(margin=match["margin"])
    if match := NOT_INVARIANT.match(text):
        return _("not invariant: accuracy falls by {drop} points (95 % interval {low} to {high}, {seeds} "
                 "seeds)").format(**match.groupdict())
    if match := CHOSEN.match(text):
        return match["mark"] + _("chosen")
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
