"""The package's layout keeps its rules: one module reads the environment, every module has its place in the layers
that import-linter checks (pyproject.toml), one home for each shared rule, and each notebook helper names its
section."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "conv_workshop"
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_only_the_settings_module_reads_the_environment():
    readers = [path.relative_to(PACKAGE).as_posix() for path in MODULES
               if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text())]
    assert readers == ["settings.py"]


def _placed() -> dict[str, set[str]]:
    """Each layers contract's container and the names its layers place."""
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {container: {name.split("#")[0].strip() for layer in contract["layers"]
                        for name in layer.replace(":", "|").split("|")}
            for contract in config["contracts"] if contract["type"] == "layers" for container in contract["containers"]}


def test_every_module_has_its_place_in_the_layers():
    """A new module or folder must be placed in pyproject.toml's layers, so that the contracts check its imports: the
    folders in the package's layers, each module in its folder's (the service has its own contract)."""
    placed = _placed()
    folders = [PACKAGE] + [path.parent for path in PACKAGE.glob("*/__init__.py") if path.parent.name != "serving"]
    for folder in folders:
        container = ".".join(folder.relative_to(PACKAGE.parent).parts)
        modules = {path.stem for path in folder.glob("*.py") if path.stem != "__init__"}
        packages = {path.parent.name for path in folder.glob("*/__init__.py")}
        assert placed.get(container) == modules | packages, (container, placed.get(container), modules | packages)


def test_the_contracts_catch_an_upward_import(tmp_path):
    """lint-imports passes on the package and fails on a copy where the data module imports the session."""
    import shutil
    import subprocess
    import sys

    lint = Path(sys.executable).with_name("lint-imports")
    assert subprocess.run([lint], cwd=PACKAGE.parent, capture_output=True).returncode == 0
    shutil.copytree(PACKAGE, tmp_path / "conv_workshop", ignore=shutil.ignore_patterns("locale", "__pycache__"))
    shutil.copy(PACKAGE.parent / "pyproject.toml", tmp_path)
    data = tmp_path / "conv_workshop" / "data.py"
    data.write_text(data.read_text() + "\nfrom . import session  # noqa\n")
    broken = subprocess.run([lint], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert broken.returncode == 1 and "conv_workshop.data -> conv_workshop.session" in broken.stdout


def test_one_home_for_the_pixel_conversion_the_shift_and_the_receptive_field():
    homes = {r"unsqueeze\((?:1|-3)\)\.float\(\)\s*/\s*255": ["data.py"], r"def shift_images\(": ["data.py"],
             r"jump \*|\* self\.jump": ["models.py"], r"randperm\(size": ["models.py"]}
    for pattern, expected in homes.items():
        found = [path.relative_to(PACKAGE).as_posix() for path in MODULES if re.search(pattern, path.read_text())]
        assert found == expected, (pattern, found)


def _is_module(dotted: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(dotted) is not None
    except ModuleNotFoundError:
        return False


def test_every_package_helper_the_notebook_calls_names_its_section():
    import importlib
    import inspect

    import jupytext

    notebook = jupytext.read(PACKAGE.parent / "convolutional_layers_workshop.py")
    modules, aliases, used = {}, {}, set()  # modules: the notebook's name for a package module → its dotted name
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("conv_workshop"):
                for alias in node.names:
                    dotted = f"{node.module}.{alias.name}"
                    if _is_module(dotted):
                        modules[alias.asname or alias.name] = dotted
                    elif node.module != "conv_workshop":
                        aliases[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id in modules:
                    used.add((modules[node.value.id], node.attr))
                elif node.value.id == "lab":
                    used.add(("conv_workshop.session", f"Workshop.{node.attr}"))
            elif isinstance(node, ast.Name) and node.id in aliases:
                used.add(aliases[node.id])
    assert {"tables", "by_hand", "stats", "exercises"} <= modules.keys(), modules
    silent = []
    for module, name in sorted(used):
        target = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part, None)
        if isinstance(target, property):
            target = target.fget
        documented = re.search(r"[Ss]ections? \d", inspect.getdoc(target) or "")
        if (inspect.isfunction(target) or inspect.isclass(target)) and not documented:
            silent.append(f"{module}.{name}")
    assert len(used) > 100 and not silent, silent
