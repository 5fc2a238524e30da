"""Every exercise in the notebook has a check, a hidden solution that passes it, and a blank that fails politely."""

from __future__ import annotations

import ast
import itertools
import re
from types import SimpleNamespace

import jupytext
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conv_workshop.data import to_float_pixels
from conv_workshop.deployment.checkpoint import save_checkpoint
from conv_workshop.experiments import catalogue
from conv_workshop.i18n import translate
from conv_workshop.lesson import by_hand, exercises
from conv_workshop.models import ConvConfig, ConvNet, PixelPermutation

from .conftest import ROOT


def notebook_exercises() -> list[dict]:
    """(name, answer variable, context keywords, solution code, section) for each exercise cell."""
    cells = jupytext.read(ROOT / "convolutional_layers_workshop.py").cells
    found, section = [], None
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown" and (match := re.search(r"^## (\d+)\. ", cell.source, re.M)):
            section = int(match.group(1))
        if cell.cell_type != "code" or "print(exercises.check(" not in cell.source:
            continue  # (a cell that only uses a check's verdict, as exercise 6.2's training cell does, is no exercise)
        call = next(node for node in ast.walk(ast.parse(cell.source))
                    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "check")
        solution_cell = cells[index + 1]
        code = re.search(r"<details><summary>Solution</summary>.*?```python\n(.*?)```", solution_cell.source, re.S)
        assert code, f"exercise {call.args[0].value!r} has no hidden solution right after it"
        found.append({"name": call.args[0].value, "variable": call.args[1].id, "section": section,
                      "context": {k.arg: ast.unparse(k.value) for k in call.keywords}, "solution": code.group(1),
                      "cell": cell.source})
    return found


EXERCISES = notebook_exercises()


@pytest.fixture(scope="module")
def namespace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("artifacts")
    save_checkpoint(folder / "best_model.pth", ConvNet(), {}, {"test_accuracy": 0.9123})
    images = torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8)
    images[:, :, :5] = 0
    return {"torch": torch, "np": np, "nn": nn, "F": F, "by_hand": by_hand, "itertools": itertools,
            "exercises": exercises, "catalogue": catalogue, "to_float_pixels": to_float_pixels,
            "ConvConfig": ConvConfig, "ConvNet": ConvNet, "PixelPermutation": PixelPermutation,
            "data": SimpleNamespace(train_images=images), "scramble": PixelPermutation(0).order,
            "lab": SimpleNamespace(artifacts=folder), "translate": translate}


def writes_code(exercise: dict) -> bool:
    """An exercise whose answer is a function or a module the learner writes (not a number or a tensor)."""
    return any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) for node in ast.parse(exercise["solution"]).body)


def test_the_workshop_has_enough_exercises_across_its_sections():
    assert len(EXERCISES) >= 8
    assert sum(writes_code(e) for e in EXERCISES) >= 6, "at least six exercises make the learner write code"
    assert {e["name"] for e in EXERCISES} <= set(exercises.EXERCISES)
    assert {2, 3, 4, 5, 6, 7, 8, 9} <= {e["section"] for e in EXERCISES}


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e["name"] for e in EXERCISES])
def test_each_solution_passes_its_check(exercise, namespace):
    scope = dict(namespace)
    exec(exercise["solution"], scope)  # noqa: S102 - the notebook's own solution text
    context = {key: eval(value, scope) for key, value in exercise["context"].items()}  # noqa: S307
    result = exercises.check(exercise["name"], scope[exercise["variable"]], **context)
    assert result.right, str(result)


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e["name"] for e in EXERCISES])
def test_a_blank_or_wrong_answer_is_not_yet_with_a_hint(exercise, namespace):
    context = {key: eval(value, dict(namespace)) for key, value in exercise["context"].items()}  # noqa: S307
    blank = exercises.check(exercise["name"], None, **context)
    assert not blank.right and str(blank).startswith("✗ not yet")
    assert "Hint:" not in str(blank), "the untouched blank gives no hint: a rendered copy would print the answer"
    wrong = exercises.check(exercise["name"], "not an answer", **context)
    assert not wrong.right and "Hint:" in str(wrong)


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e["name"] for e in EXERCISES])
def test_the_untouched_exercise_cell_runs_and_says_not_yet(exercise, namespace, capsys):
    exec(exercise["cell"], dict(namespace))  # noqa: S102 - the notebook's own cell, blanks untouched (Run All)
    printed = capsys.readouterr().out
    assert "✗ not yet" in printed and "Hint:" not in printed, printed


def test_a_stub_that_still_raises_not_implemented_is_not_yet():
    def stub(*args):
        raise NotImplementedError("fill me in")

    result = exercises.check("average pooling", stub)
    assert not result.right and "NotImplementedError" in str(result)


def test_a_wrong_function_gets_a_message_naming_the_case():
    result = exercises.check("average pooling", lambda maps, size: F.max_pool2d(maps[None], size)[0])
    assert not result.right and "largest difference" in str(result)
    result = exercises.check("output side", lambda n, k, padding, stride: (n - k) // stride + 1)
    assert not result.right and "padding=1" in str(result)
    result = exercises.check("one factor", ConvConfig(kernel_size=5, hidden=64))
    assert not result.right and "2 settings" in str(result)
    result = exercises.check("one factor", ConvConfig(channels=(8,) * 6))  # one setting, but pooled to nothing
    assert not result.right and "shrinks" in str(result)


def test_the_stubs_speak_the_learners_language():
    """A stub's hint goes through the catalog (translate) and its description is a comment, which the Spanish edition
    translates; a docstring would stay English in both editions, whose code is identical."""
    for exercise in EXERCISES:
        for node in ast.walk(ast.parse(exercise["cell"])):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                assert ast.get_docstring(node) is None, f"{exercise['name']}: {node.name} has a docstring"
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                    and getattr(node.exc.func, "id", "") == "NotImplementedError":
                hint = node.exc.args[0]
                assert isinstance(hint, ast.Call) and getattr(hint.func, "id", "") == "translate", (
                    f"{exercise['name']}: the NotImplementedError hint is not passed through translate()")
