"""Each handler alone: the routes with their dependencies overridden, the error handlers called directly."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request

from conv_workshop.serving import errors
from conv_workshop.serving.app import create_app
from conv_workshop.serving.dependencies import get_classifier
from conv_workshop.serving.input_errors import ServiceBusyError
from conv_workshop.serving.routes.health import classes, health
from conv_workshop.serving.schemas import ClassScore, Prediction
from conv_workshop.settings import ServiceSettings

from .conftest import ROOT

MODEL = ROOT / "fashion_mnist_cnn_model_pytorch" / "fashion_mnist_cnn.onnx"


def request(path: str = "/x", method: str = "GET") -> Request:
    return Request({"type": "http", "method": method, "path": path, "headers": [], "query_string": b""})


def test_health_and_classes_are_plain_coroutines():
    assert asyncio.run(health(ServiceSettings(model_path=Path("other.onnx")))) == {"status": "ok",
                                                                                  "model": "other.onnx"}
    assert len(asyncio.run(classes())["classes"]) == 10


def test_the_error_handlers_are_plain_functions():
    response = asyncio.run(errors.http_error(request("/" + "z" * 1_000), HTTPException(404)))
    assert response.status_code == 404 and b"zzz\xe2\x80\xa6; the service has" in response.body
    busy = asyncio.run(errors.bad_input(request(), ServiceBusyError("retry in a second")))
    assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
    assert errors.describe_errors([{"loc": ("body", "k" * 500), "type": "extra_forbidden", "msg": "x"}]).startswith(
        "k" * 40 + "…: unknown field")


class FakeClassifier:
    def image(self, data, top_k, invert):
        return Prediction(top=[ClassScore(label=7, name="Sneaker", probability=1.0)], preprocessing=f"{len(data)}")


@pytest.fixture
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    app = create_app(ServiceSettings(model_path=MODEL))
    app.dependency_overrides[get_classifier] = FakeClassifier
    with TestClient(app) as test_client:
        yield test_client


def test_predict_takes_its_classifier_through_depends(client):
    response = client.post("/predict", content=b"12345", headers={"content-type": "image/png"})
    assert response.json() == {"top": [{"label": 7, "name": "Sneaker", "probability": 1.0}], "preprocessing": "5"}


def test_health_and_the_dependencies_run_on_the_event_loop():
    """No thread hop for /health or for any dependency: a thread pool busy with decoding cannot delay them."""
    import inspect

    from conv_workshop.serving import dependencies

    for function in (health, classes, dependencies.get_settings, dependencies.get_classifier, dependencies.get_pool):
        assert inspect.iscoroutinefunction(function), function.__name__
