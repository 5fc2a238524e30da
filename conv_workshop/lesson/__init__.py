"""The convolutional layer taught by hand: its arithmetic written out, the exercises that check a learner's code, and
the playground of sliders."""
