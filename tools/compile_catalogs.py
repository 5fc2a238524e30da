"""Compiles every language's catalog of generated text (conv_workshop/locale/<lang>/LC_MESSAGES/*.po) to its .mo.

  python tools/compile_catalogs.py

pybabel compile would refuse messages such as "test accuracy (%)", reading the "%" as a %-format placeholder; the
messages here are str.format templates, whose placeholders tests/test_i18n.py checks instead.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parent.parent / "conv_workshop" / "locale"

for po in sorted(LOCALES.glob("*/LC_MESSAGES/*.po")):
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=po.parent.parent.name)
    with po.with_suffix(".mo").open("wb") as handle:
        write_mo(handle, catalog, use_fuzzy=False)
    print(f"compiled {po.relative_to(LOCALES.parent.parent)}: {sum(1 for m in catalog if m.id and m.string)} messages")
