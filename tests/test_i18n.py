"""The generated text's catalogs: no text of the translated modules bypasses gettext, every catalog has every message
with the same placeholders, the compiled .mo files are those of the .po files, and Spanish is what comes out."""

from __future__ import annotations

import ast
import io
import re
import string

import pytest
from babel.messages.extract import extract_python
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from conv_workshop import i18n
from conv_workshop.stats import Verdict

from .conftest import ROOT

PACKAGE = ROOT / "conv_workshop"
KEYWORDS = {"_": None, "N_": None, "translate": None, "ngettext": (1, 2)}
# A literal is text a person reads if it has two words, or ends a sentence; what is not text is a key or a format.
TEXT = re.compile(r"[A-Za-z]{2,}[^\n]*\s[^\n]*[A-Za-z]{2,}|[A-Za-z]{3,}[.:!?]$")
KEY_MARK = "# i18n: key"  # a line whose literals are data keys shown elsewhere through the catalog


def _modules():
    return [PACKAGE / f"{name}.py" for name in i18n.TRANSLATED_MODULES if name != "i18n"]


def _bypassing_literals(path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))  # a docstring is for programmers
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in KEYWORDS:
            skip.update(id(child) for child in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip or KEY_MARK in lines[getattr(node, "lineno", 1) - 1]:
            continue
        if isinstance(node, ast.JoinedStr):
            text = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
            skip.update(id(part) for part in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if TEXT.search(text):
            found.append(f"{path.name}:{node.lineno}: {text[:70]!r}")
    return found


def test_no_generated_text_bypasses_the_catalog():
    found = [hit for path in _modules() for hit in _bypassing_literals(path)]
    assert not found, ("text shown to a learner must go through _() (or N_() where it is defined, translated where "
                       "shown); mark data keys with '# i18n: key':\n" + "\n".join(found))


def test_messages_are_literals():
    """gettext looks a message up by its text: `_(f"...")` or `_(a + b)` would never be found in a catalog (a
    variable is fine: it holds a text marked with N_() where it was defined)."""
    for path in _modules() + [PACKAGE / "i18n.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in KEYWORDS:
                assert not any(isinstance(arg, (ast.JoinedStr, ast.BinOp)) for arg in node.args[:2]), \
                    f"{path.name}:{node.lineno}: a message is a string literal (or a value marked with N_())"


def package_messages() -> dict[str, int]:
    """Every message the translated modules mark, as Babel's extractor finds it: {msgid: line}."""
    messages = {}
    for path in _modules() + [PACKAGE / "i18n.py", ROOT / "convolutional_layers_workshop.py"]:
        with path.open("rb") as handle:
            for line, _, message, _ in extract_python(handle, KEYWORDS, [], {}):
                msgid = message[0] if isinstance(message, tuple) else message  # a plural is keyed by its singular
                if msgid:  # None: a variable, whose texts are marked where they are defined
                    messages.setdefault(msgid, line)
    return messages


def _catalog(language: str):
    with (PACKAGE / "locale" / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po").open("rb") as handle:
        return read_po(handle, locale=language)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("language", [lang for lang in i18n.LANGUAGES if lang != "en"])
def test_each_catalog_has_every_message_with_its_placeholders(language):
    catalog = _catalog(language)
    messages = package_messages()
    def translated(message) -> bool:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        return bool(strings) and all(strings) and not message.fuzzy

    missing = [msgid for msgid in messages if not catalog.get(msgid) or not translated(catalog.get(msgid))]
    assert not missing, f"{len(missing)} messages untranslated in {language} (make catalogs): {missing[:5]}"
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for translated in strings:
            assert _placeholders(translated) <= _placeholders(ids[-1]), (message.id, translated)


@pytest.mark.parametrize("language", [lang for lang in i18n.LANGUAGES if lang != "en"])
def test_compiled_catalogs_are_those_of_the_po_files(language):
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(language), use_fuzzy=False)
    mo = PACKAGE / "locale" / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.mo"
    assert mo.read_bytes() == compiled.getvalue(), f"{mo.name} is stale: run make catalogs"


def test_spanish_comes_out_and_english_is_restored():
    with i18n.in_language("es"):
        assert i18n.phrase(Verdict("not resolved", seeds=7)) == "sin resolver con 7 semillas"
        assert i18n.phrase(Verdict("not resolved", seeds=1)) == "sin resolver con 1 semilla"
        assert i18n.phrase(Verdict("equivalent", margin=0.5)) == "equivalente dentro de ±0.5"
        assert str(Verdict("equivalent", margin=0.5)) == "equivalent within ±0.5"  # files keep English
        assert i18n.phrase("✓ chosen") == "✓ elegida"
        assert i18n.label("dense n=500") == "denso n=500"
        assert i18n.label("a name it does not know") == "a name it does not know"
        assert i18n.translate("") == "" and i18n.phrase("") == "", "gettext('') is the catalog's header, never a cell"
    assert i18n.current_language() == "en" and i18n.phrase(Verdict("worse")) == "worse"


def test_an_unknown_language_is_refused_with_what_to_send():
    with pytest.raises(ValueError, match="send one of 'en', 'es'"):
        i18n.set_language("fr")
