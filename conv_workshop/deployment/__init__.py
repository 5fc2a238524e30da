"""The trained model as files others reuse: checkpoints, the complete model and ONNX, the model card, and the
notebook's demonstration of the service."""
