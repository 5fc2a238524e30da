"""The notebook: its source is the jupytext script, paired with the committed execution; it reads like a tutorial
(prose in markdown, short code cells, a parameters cell); the committed run is complete and clean; smoke runs."""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import tokenize

import jupytext
import nbformat
import pytest

from .conftest import ROOT

SOURCE = ROOT / "convolutional_layers_workshop.py"
NOTEBOOK = ROOT / "convolutional_layers_workshop.ipynb"


def committed():
    return nbformat.read(NOTEBOOK, as_version=4)


def source():
    return jupytext.read(SOURCE)


# Each edition: its source and its committed execution (the Spanish one is built by tools/translate_notebook.py).
EDITIONS = {"en": (SOURCE, NOTEBOOK), "es": (ROOT / "convolutional_layers_workshop.es.py",
                                           ROOT / "convolutional_layers_workshop.es.ipynb")}


@pytest.mark.parametrize("language", EDITIONS)
def test_the_committed_notebook_is_an_execution_of_its_source(language):
    source_path, notebook_path = EDITIONS[language]
    paired, executed = jupytext.read(source_path), nbformat.read(notebook_path, as_version=4)
    assert [(c.cell_type, c.source) for c in paired.cells] == [(c.cell_type, c.source) for c in executed.cells], (
        f"{notebook_path.name} differs from its source .py: run tools/run_notebook.py --language {language} "
        "(--replay when training is unchanged)")
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{notebook_path.name} was committed with an error"
    assert [c.metadata.get("tags", []) for c in paired.cells] == [c.metadata.get("tags", []) for c in executed.cells]
    assert executed.metadata["jupytext"]["formats"] == "ipynb,py:percent"


def test_the_first_code_cell_holds_the_parameters():
    first = next(c for c in source().cells if c.cell_type == "code")
    assert first.metadata.get("tags") == ["parameters"]
    assert "PROFILE" in first.source and "REPLAY" in first.source and "WORKSHOP_PROFILE" in first.source


def prose_lines(code: str) -> int:
    """Lines of a code cell that format prose: a string literal of five or more words, or a Markdown(...) call."""
    lines = set()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError):
        return 0
    for token in tokens:
        if token.type == tokenize.STRING or token.type == getattr(tokenize, "FSTRING_START", -1):
            words = re.findall(r"[A-Za-z]{2,}", token.string)
            if len(words) >= 5:
                lines.update(range(token.start[0], token.end[0] + 1))
        if token.type == tokenize.NAME and token.string == "Markdown":
            lines.add(token.start[0])
    return len(lines)


def test_prose_lives_in_markdown_cells():
    code = [c.source for c in source().cells if c.cell_type == "code"]
    per_cell = [prose_lines(c) for c in code]
    assert max(per_cell) <= 3, [c.splitlines()[0] for c, n in zip(code, per_cell) if n > 3]
    assert sum(per_cell) < 40
    assert prose_lines('say(f"The model reached {x} on the test set today")') == 1  # the counter counts


def statements(code: str) -> list[str]:
    """The lines of a cell that do something: not blank, not a comment, not an import."""
    return [line for line in code.splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "import ", "from "))]


def test_code_cells_are_short():
    long_cells = {c.source.splitlines()[0]: len(statements(c.source)) for c in source().cells
                  if c.cell_type == "code" and len(statements(c.source)) > 8}
    assert not long_cells, long_cells


def test_headings_follow_one_numbering_scheme():
    headings = [line for c in source().cells if c.cell_type == "markdown" for line in c.source.splitlines()
                if line.startswith("## ") or line.startswith("### ")]
    sections = [int(m.group(1)) for h in headings if (m := re.match(r"## (\d+)\. ", h))]
    assert sections == list(range(len(sections))), sections
    for heading in headings:
        if heading.startswith("### "):
            assert re.match(r"### \d+\.\d+ ", heading), heading


def test_every_lesson_asks_a_question_a_prediction_and_explains_why():
    text = "\n".join(c.source for c in source().cells if c.cell_type == "markdown")
    # Lessons are the numbered subsections and the sections without any (setup, the question and the summary excepted).
    lessons = [part for part in re.split(r"\n(?=#{2,3} \d)", text)
               if re.match(r"### \d", part) or (re.match(r"## (9|10|11)\. ", part))]
    assert len(lessons) >= 40
    for lesson in lessons:
        heading = lesson.split("\n")[0]
        assert "**Question.**" in lesson, heading
        assert "**Predict" in lesson, heading
        assert "**Why" in lesson, heading


def test_committed_run_is_complete_and_clean():
    notebook = committed()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    # A cell that only defines the learner's code or asserts a check passes silently; every cell must have run.
    missing = [c.source[:40] for c in code
               if c.execution_count is None and "parameters" not in c.metadata.get("tags", [])]
    assert not missing, f"code cells not executed: {missing}"
    # A silent cell is fine (a definition, a passing check); one whose last line is a bare value lost its display.
    silent = [c.source for c in code if not c.outputs and "parameters" not in c.metadata.get("tags", [])]
    lost = [source[:40] for source in silent if (body := ast.parse(source).body) and isinstance(body[-1], ast.Expr)
            and not isinstance(body[-1].value, ast.Call)]
    assert not lost, f"cells whose last value was not displayed: {lost}"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "executed once, in order"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps([o for o in outputs if "image/png" not in o.get("data", {})])
    assert not re.search(r"/(work|root|home|tmp|opt|Users)/", text), "no absolute paths of a machine in outputs"
    assert not re.search(r"at 0x[0-9a-f]+>", text), "no object reprs in outputs"
    assert "application/vnd.jupyter.widget-view+json" not in text, "no dead widgets in a rendered notebook"
    assert "profile `full`" in text


def test_each_section_has_a_figure():
    section, figures = None, {}
    for cell in committed().cells:
        if cell.cell_type == "markdown" and (match := re.search(r"^## (\d+)\. ", cell.source, re.M)):
            section = int(match.group(1))
        elif cell.cell_type == "code":
            figures[section] = figures.get(section, 0) + sum("image/png" in o.get("data", {}) for o in cell.outputs)
    assert all(figures.get(s, 0) >= 1 for s in range(2, 9)), figures


def test_committed_numbers_agree_with_results_and_weights():
    run = json.loads((ROOT / "results" / "notebook_run.json").read_text())
    card = json.loads((ROOT / "fashion_mnist_cnn_model_pytorch" / "model_card.json").read_text())
    text = json.dumps([o for c in committed().cells if c.cell_type == "code" for o in c.outputs])
    assert run["profile"] == "full"
    assert f"{card['metrics']['test_accuracy'] * 100:.2f} %" in text  # the saved model's accuracy, as stated


# Headers and words of the English edition's output that the Spanish one must show translated.
ENGLISH_ONLY = ("test accuracy (%)", "difference (points, 95 % CI)", "not resolved with", "Hint:", "✗ not yet",
                "validation accuracy (%", "seeds per arm", "Training curves")


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("language", EDITIONS)
def test_smoke_profile_executes(tmp_path, real_data, language):
    output = tmp_path / "executed.ipynb"
    committed_before = NOTEBOOK.read_bytes()
    env = {**os.environ, "WORKSHOP_OUTPUT_DIR": str(tmp_path / "out")}
    result = subprocess.run([sys.executable, "tools/run_notebook.py", "--profile", "smoke", "--language", language,
                             "--output", str(output)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    executed = nbformat.read(output, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert "application/vnd.jupyter.widget-view+json" not in json.dumps(outputs), "headless: a static playground"
    assert (tmp_path / "out" / "results" / "runs.csv").is_file()
    assert (tmp_path / "out" / "results" / "predictions.jsonl").is_file()
    assert (tmp_path / "out" / "fashion_mnist_cnn_model_pytorch" / "fashion_mnist_cnn.onnx").is_file()
    assert NOTEBOOK.read_bytes() == committed_before, "a smoke run must never touch the committed outputs"
    # the terminal shows the sections and the training runs as they go (make run)
    assert "training runs to do in this profile" in result.stdout and "· training runs " in result.stdout
    assert any(line.split("] ", 1)[-1].startswith("5. ") for line in result.stdout.splitlines())
    if language != "en":
        shown = json.dumps([o.get("data", {}).get("text/markdown", "") or o.get("data", {}).get("text/html", "")
                            or o.get("text", "") for o in outputs], ensure_ascii=False)
        assert not [text for text in ENGLISH_ONLY if text in shown], "English left in the Spanish edition's output"
