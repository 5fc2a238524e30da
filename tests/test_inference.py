"""ONNX Runtime without torch: a wrong model file is one clear error, and the service's imports stay torch-free."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conv_workshop.serving.inference import ModelFileError, onnx_session, predict_probabilities, softmax, top_classes

from .conftest import ROOT

MODEL = ROOT / "fashion_mnist_cnn_model_pytorch" / "fashion_mnist_cnn.onnx"


def onnx_file(path, input_name="images", input_shape=("batch", 1, 28, 28), classes=10):
    """A one-node ONNX model (flatten, then keep the first `classes` values) with the given interface."""
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [helper.make_node("Flatten", [input_name], ["flat"]),
         helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["logits"])],
        "tiny", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        initializer=[helper.make_tensor(name, TensorProto.INT64, [1], [value])
                     for name, value in (("starts", 0), ("ends", classes), ("axes", 1))])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_the_committed_model_loads_and_predicts():
    session = onnx_session(MODEL, threads=1)
    probabilities = predict_probabilities(session, np.zeros((2, 1, 28, 28), dtype=np.float32))
    assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("content,message", [(b"garbage", "not an ONNX model ONNX Runtime can load"),
                                             (b"", "not an ONNX model ONNX Runtime can load")])
def test_an_unreadable_file_is_a_model_file_error(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message) as error:
        onnx_session(path)
    assert "python -m conv_workshop export" in str(error.value)


def test_a_missing_file_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="no such ONNX file"):
        onnx_session(tmp_path / "missing.onnx")


@pytest.mark.parametrize("options,message", [
    (dict(input_name="input"), "takes \\['input'\\]"),
    (dict(input_shape=("batch", 3, 28, 28)), r"expected float \[batch, 1, 28, 28\]"),
    (dict(classes=5), r"and \[batch, 10\]"),
])
def test_a_model_with_another_interface_is_refused_at_load(tmp_path, options, message):
    with pytest.raises(ModelFileError, match=message):
        onnx_session(onnx_file(tmp_path / "other.onnx", **options))


def test_softmax_and_top_classes():
    probabilities = softmax(np.array([[0.0, 2.0, 1.0] + [-5.0] * 7]))[0]
    top = top_classes(probabilities, 2)
    assert [t["label"] for t in top] == [1, 2] and [t["name"] for t in top] == ["Trouser", "Pullover"]
    assert top[0]["probability"] > top[1]["probability"] and isinstance(top[0]["probability"], float)


SERVING = ROOT / "conv_workshop" / "serving"
TORCH = {"torch", "torchvision", "captum"}


def _imports(path) -> set[str]:
    """Every module a file imports, anywhere in it (relative imports resolved within conv_workshop)."""
    import ast

    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}  # `from . import x` imports module x
    return found


def _torch_importing_modules() -> set[str]:
    """The package's modules that import torch, directly or through another module of the package."""
    files = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
             for path in (ROOT / "conv_workshop").rglob("*.py")}
    imports = {name: {m for m in _imports(path)} for name, path in files.items()}
    torchy = {name for name, found in imports.items() if {m.split(".")[0] for m in found} & TORCH}
    while True:
        more = {name for name, found in imports.items() if found & torchy} - torchy
        if not more:
            return torchy
        torchy |= more


def test_no_module_of_the_serving_subpackage_imports_torch():
    """Statically, anywhere in a file (even inside a function): torch, or a package module that imports it."""
    torchy = _torch_importing_modules()
    # the check sees through modules
    assert "conv_workshop.models" in torchy and "conv_workshop.deployment.export" in torchy
    offenders = {}
    for path in SERVING.rglob("*.py"):
        bad = {m for m in _imports(path) if m.split(".")[0] in TORCH or m in torchy}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, offenders


def test_every_serving_module_imports_without_torch():
    code = ("import importlib, pkgutil, sys\nimport conv_workshop.serving as s\n"
            "names = [m.name for m in pkgutil.walk_packages(s.__path__, 'conv_workshop.serving.')]\n"
            "[importlib.import_module(name) for name in names]\nassert len(names) >= 15, names\n"
            "from conv_workshop.serving.app import create_app\ncreate_app()\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-1500:]


@pytest.mark.parametrize("statement", [
    "from conv_workshop.serving.app import create_app; create_app()",
    "import conv_workshop.cli",
    "import conv_workshop.serving.server; conv_workshop.serving.server.guarded_protocol("
    "conv_workshop.settings.ServiceSettings())",
])
def test_the_service_path_never_imports_torch(statement):
    check = f"{statement}\nimport sys\nassert 'torch' not in sys.modules, 'torch was imported'"
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-1500:]


def test_predict_with_an_onnx_file_runs_without_torch(tmp_path):
    from PIL import Image

    image = tmp_path / "shirt.png"
    Image.new("L", (40, 30), 200).save(image)
    code = ("import sys\nfrom conv_workshop.cli import main\ncode = main(['predict', '--weights', sys.argv[1], "
            "sys.argv[2]])\nassert 'torch' not in sys.modules, 'torch was imported'\nsys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, str(MODEL), str(image)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and str(image) in result.stdout, result.stderr[-1500:]
