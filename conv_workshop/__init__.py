"""conv_workshop: the tested code behind the notebook "Exploring Convolutional Layers Through Data and Experiments"."""

__version__ = "1.0.0"
