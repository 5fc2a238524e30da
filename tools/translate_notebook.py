"""Builds the Spanish notebook's source from the English one and a catalog, so that the two editions never drift.

  python tools/translate_notebook.py           # rewrite convolutional_layers_workshop.es.py
  python tools/translate_notebook.py --update  # add the English source's new texts to the catalog, untranslated
  python tools/translate_notebook.py --check   # exit 1 if the Spanish source is stale or the catalog misses a text

The English source (convolutional_layers_workshop.py) is the only one anybody edits. Its markdown cells and the
comments in its code cells are the entries of a gettext catalog, locale/es/notebook.po (one entry per markdown cell
and per comment); the Spanish source is the English one with those texts replaced, its code cells unchanged except
for `start_session`'s `edition`, the language of the text the package generates. Edit a
translation in the catalog (any PO editor works), then run this script: the build is deterministic, and the tests
check that the committed Spanish source is exactly its output.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tokenize
from pathlib import Path

import jupytext
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from conv_workshop.i18n import LANGUAGES as EDITIONS  # noqa: E402  (the package's languages are the editions)

SOURCE = ROOT / "convolutional_layers_workshop.py"
LANGUAGES = tuple(language for language in EDITIONS if language != "en")  # the translations of the English source
# The one line of code that differs between the editions: the parameters cell's choice of language.
EDITION_ARGUMENT = re.compile(r'\bedition="en"')  # start_session's edition: the language a translation generates
# Comments that are instructions to tools, not prose.
PRAGMA = re.compile(r"^(noqa|type:|fmt:|ruff:|%%)")


def translated_source(language: str) -> Path:
    return ROOT / f"{SOURCE.stem}.{language}.py"


def catalog_path(language: str) -> Path:
    return ROOT / "locale" / language / "notebook.po"


def comments(code: str) -> list[tokenize.TokenInfo]:
    """The prose comments of a code cell (tokenize knows a '#' inside a string from a comment)."""
    tokens = tokenize.generate_tokens(io.StringIO(code + "\n").readline)
    return [token for token in tokens if token.type == tokenize.COMMENT
            and not PRAGMA.match(token.string.lstrip("#").strip())]


def texts(notebook) -> list[tuple[str, int]]:
    """(text, cell number) for every text to translate: each markdown cell and each comment, in reading order."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            found.append((cell.source, index))
        elif cell.cell_type == "code":
            found += [(token.string.lstrip("#").strip(), index) for token in comments(cell.source)]
    return found


def load_catalog(language: str) -> Catalog:
    path = catalog_path(language)
    if not path.exists():
        return Catalog(locale=language, domain="notebook", project="conv-workshop notebook")
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def missing(catalog: Catalog, notebook) -> list[str]:
    """English texts of the source the catalog has no translation for (a new or edited cell, a new comment)."""
    return [text for text, _ in texts(notebook) if not (catalog.get(text) and catalog.get(text).string)]


def translate_code(code: str, catalog: Catalog, language: str) -> str:
    lines = code.split("\n")
    for token in reversed(comments(code)):  # from the end, so earlier columns stay valid
        row, column = token.start
        text = token.string.lstrip("#").strip()
        message = catalog.get(text)
        if message and message.string:
            line = lines[row - 1]
            lines[row - 1] = line[:column] + "# " + message.string + line[column + len(token.string):]
    return EDITION_ARGUMENT.sub(f'edition="{language}"', "\n".join(lines))


def build(language: str, catalog: Catalog | None = None) -> str:
    """The translated source's text: the English notebook with every catalogued text replaced."""
    catalog = catalog or load_catalog(language)
    notebook = jupytext.read(SOURCE)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            message = catalog.get(cell.source)
            if message and message.string:
                cell.source = message.string
        elif cell.cell_type == "code":
            cell.source = translate_code(cell.source, catalog, language)
    return jupytext.writes(notebook, fmt="py:percent")


def update(language: str) -> int:
    """Add the source's new texts to the catalog (untranslated) and mark the ones no longer used obsolete."""
    catalog = load_catalog(language)
    notebook = jupytext.read(SOURCE)
    current = texts(notebook)
    wanted = {text for text, _ in current}
    for text, where in current:
        if text not in catalog:
            catalog.add(text, "", locations=[(SOURCE.name, where)])
    for message in list(catalog):
        if message.id and message.id not in wanted:
            catalog.obsolete[message.id] = message
            del catalog[message.id]
    catalog_path(language).parent.mkdir(parents=True, exist_ok=True)
    with catalog_path(language).open("wb") as handle:
        write_po(handle, catalog, width=0, sort_output=False, include_previous=False, ignore_obsolete=True)
    return len(missing(catalog, notebook))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--language", choices=sorted(LANGUAGES), default="es")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--update", action="store_true", help="add new English texts to the catalog")
    action.add_argument("--check", action="store_true", help="exit 1 if the translated source is stale")
    args = parser.parse_args()
    if args.update:
        print(f"{update(args.language)} texts of {SOURCE.name} still need a translation in "
              f"{catalog_path(args.language).relative_to(ROOT)}")
        return 0
    untranslated = missing(load_catalog(args.language), jupytext.read(SOURCE))
    if untranslated:
        print(f"{catalog_path(args.language).relative_to(ROOT)} misses {len(untranslated)} texts of {SOURCE.name}, "
              f"the first: {untranslated[0][:80]!r}; run with --update, then translate them", file=sys.stderr)
        return 1
    target, text = translated_source(args.language), build(args.language)
    if args.check:
        stale = not target.exists() or target.read_text() != text
        if stale:
            print(f"{target.name} is stale: run python tools/translate_notebook.py", file=sys.stderr)
        return int(stale)
    target.write_text(text)
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
