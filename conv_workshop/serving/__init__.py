"""The prediction service (preprocessing, ONNX Runtime inference, FastAPI routes); no module in it imports torch."""
