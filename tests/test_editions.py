"""The Spanish edition is the English notebook translated: the same code cells (comments aside), every text in the
catalog, and a committed source that is exactly what tools/translate_notebook.py builds."""

from __future__ import annotations

import importlib.util
import io
import re
import tokenize

import jupytext
import pytest

from .conftest import ROOT

spec = importlib.util.spec_from_file_location("translate_notebook", ROOT / "tools" / "translate_notebook.py")
translate_notebook = importlib.util.module_from_spec(spec)
spec.loader.exec_module(translate_notebook)

LANGUAGES = sorted(translate_notebook.LANGUAGES)


def code_without_comments(code: str) -> list[tuple[int, str]]:
    """The tokens of a cell that run: comments, blank lines and indentation-only differences dropped."""
    skipped = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
    return [(token.type, token.string) for token in tokenize.generate_tokens(io.StringIO(code + "\n").readline)
            if token.type not in skipped]


@pytest.mark.parametrize("language", LANGUAGES)
def test_code_cells_are_the_english_ones(language):
    english = jupytext.read(translate_notebook.SOURCE)
    translated = jupytext.read(translate_notebook.translated_source(language))
    assert [c.cell_type for c in english.cells] == [c.cell_type for c in translated.cells]
    for index, (a, b) in enumerate(zip(english.cells, translated.cells)):
        if a.cell_type != "code":
            continue
        expected = code_without_comments(translate_notebook.EDITION_ARGUMENT.sub(f'edition="{language}"', a.source))
        assert code_without_comments(b.source) == expected, f"code cell {index} differs from the English one"
        assert a.metadata == b.metadata


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalog_translates_every_text_and_the_source_is_current(language):
    untranslated = translate_notebook.missing(translate_notebook.load_catalog(language),
                                              jupytext.read(translate_notebook.SOURCE))
    assert not untranslated, (f"{len(untranslated)} texts of the English notebook have no {language} translation "
                              f"(tools/translate_notebook.py --update, then translate): {untranslated[0][:80]!r}")
    assert translate_notebook.translated_source(language).read_text() == translate_notebook.build(language), (
        "the Spanish source is stale: run python tools/translate_notebook.py")


@pytest.mark.parametrize("language", LANGUAGES)
def test_hidden_solutions_are_the_english_code(language):
    """The solutions live in markdown (<details> blocks): their code is translated only in its comments."""
    def solutions(path):
        text = "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "markdown")
        return [code_without_comments(code) for code in re.findall(r"<details>.*?```python\n(.*?)```", text, re.S)]

    english = solutions(translate_notebook.SOURCE)
    assert len(english) >= 8 and solutions(translate_notebook.translated_source(language)) == english


def test_the_spanish_edition_selects_spanish():
    """Its session starts with edition="es", the language its text is generated in unless LANGUAGE or
    WORKSHOP_LANGUAGE says otherwise."""
    cells = [c for c in jupytext.read(translate_notebook.translated_source("es")).cells if c.cell_type == "code"]
    assert "parameters" in cells[0].metadata.get("tags", []) and "LANGUAGE = None" in cells[0].source
    assert sum('edition="es")' in c.source for c in cells) == 1
