"""The recipe version: records are reused only by the code version that computed them, and this test makes a change
to that code a decision (bump runs.RECIPE_VERSION, or not) instead of an accident; docstrings and comments are not
part of it."""

from __future__ import annotations

import ast
import hashlib

from conv_workshop.experiments.runs import RECIPE_VERSION

from .conftest import ROOT

# The code that computes a run from its key: the data, the models, the trainer, and the runner's recipe and training
# of one run (not how it finds, orders or refuses runs).
RECIPE_CODE = ("constants.py", "data.py", "models.py", "training.py", "experiments/runner.py")
RUNNER_RECIPE = ("default_train_config", "recipe", "train_and_record")
# What that code was when RECIPE_VERSION was last decided.
DECIDED = {1: "88f04bb8e4818102"}  # last: constants.fitted_size added (image preprocessing, not training)


def fingerprint(sources: list[str]) -> str:
    """A hash of the code's syntax tree without docstrings: comments, docstrings and formatting change nothing."""
    digest = hashlib.sha256()
    for source in sources:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        digest.update(ast.dump(tree).encode())
    return digest.hexdigest()[:16]


def _sources() -> list[str]:
    sources = [(ROOT / "conv_workshop" / name).read_text() for name in RECIPE_CODE[:-1]]
    runner = ast.parse((ROOT / "conv_workshop" / RECIPE_CODE[-1]).read_text())
    recipe = [node for node in runner.body if isinstance(node, ast.FunctionDef) and node.name in RUNNER_RECIPE]
    assert [node.name for node in recipe] == list(RUNNER_RECIPE), "the runner's recipe functions moved: update this"
    return sources + [ast.unparse(node) for node in recipe]


def test_the_recipe_code_is_the_one_its_version_was_decided_for():
    assert fingerprint(_sources()) == DECIDED.get(RECIPE_VERSION), (
        f"The code that computes a run changed ({', '.join(RECIPE_CODE)}): fingerprint {fingerprint(_sources())}. "
        "If a run's numbers can change (the data, a model, the optimiser, the schedule, the seeds...), bump "
        "conv_workshop/experiments/runs.py's RECIPE_VERSION: the records of older versions are then trained again. "
        "Either way, record the new fingerprint in DECIDED here.")


def test_docstrings_comments_and_names_of_experiments_are_not_part_of_it():
    sources = _sources()
    models = sources[2]
    edited = models.replace('"""The fully connected baseline', '"""An edited docstring. The fully connected baseline')
    edited = edited.replace("# widths of the hidden layers", "# an edited comment")
    assert edited != models and fingerprint(sources[:2] + [edited] + sources[3:]) == fingerprint(sources)
    changed = models.replace("dropout: float = 0.2", "dropout: float = 0.3")
    assert changed != models and fingerprint(sources[:2] + [changed] + sources[3:]) != fingerprint(sources)
    # names, variants and families are declarations, not computation
    assert "experiments/catalogue.py" not in RECIPE_CODE
