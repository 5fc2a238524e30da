"""How the notebook shows what the package returns: generated sentences as Markdown, tables with their sentences
uncut and their headers in the notebook's language, and whether live widgets can answer (a live kernel)."""

from __future__ import annotations

import matplotlib
import pandas as pd

from ..i18n import current_language


def show_markdown(markdown: str) -> None:
    """Show one generated sentence (Markdown, from findings) as cell output. Used throughout sections 0–12."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def is_live_kernel(headless: bool = False) -> bool:
    """True in a live Jupyter kernel; False when the notebook runs headless (the WORKSHOP_HEADLESS setting, which
    tools/run_notebook.py and CI set), where a widget would be saved as a dead control, so cells show a static
    figure instead (section 4.10: `lab.live`)."""
    if headless:
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def use_notebook_display() -> None:
    """How the notebook shows tables and figures: sentences in tables are never cut, figures at 100 dpi.

    Used in section 0.
    """
    pd.set_option("display.max_colwidth", None)  # tables hold sentences (claims, verdicts): never cut them
    matplotlib.rcParams.update({"figure.dpi": 100, "axes.titlesize": 11})
    if current_language() != "en":
        _show_tables_translated()


def _show_tables_translated() -> None:
    """Tables keep English column names (code reads them by name); the notebook shows them translated
    (tables.localise), as HTML and as plain text."""
    from IPython import get_ipython

    from .tables import localise

    shell = get_ipython()
    if shell is None:
        return
    formatters = shell.display_formatter.formatters
    formatters["text/html"].for_type(pd.DataFrame, lambda frame: localise(frame)._repr_html_())
    formatters["text/plain"].for_type(pd.DataFrame, lambda frame, printer, cycle: printer.text(
        repr(localise(frame))))
