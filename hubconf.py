"""torch.hub's entry points (https://pytorch.org/docs/stable/hub.html): the workshop's trained CNN, loaded with torch
alone (Pillow for `preprocess`). From a checkout:

    model = torch.hub.load("path/to/checkout", "fashion_cnn", source="local")
    logits = model(model.preprocess("examples/ankle_boot.png"))
    model.class_names[logits.argmax(1).item()]  # 'Ankle boot'
"""

dependencies = ["torch"]  # torch.hub checks these before it imports the entry points

from conv_workshop.deployment.hub import fashion_cnn  # noqa: E402, F401  (the entry point torch.hub lists)
