"""The convolution playground: sliders for the kernel, stride and padding over one image (live Jupyter only)."""

from __future__ import annotations

import torch


def playground_widget(image: torch.Tensor):
    """An ipywidgets control: pick a hand-designed kernel, a stride and a padding; see the output and its size.

    Used in section 4.10.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from ..reporting.plots import playground
    from .by_hand import KERNELS, correlate2d_unfold

    output = widgets.Output()

    def draw(kernel_name: str, stride: int, padding: int) -> None:
        kernel = KERNELS[kernel_name]
        response = correlate2d_unfold(image, kernel, stride=stride, padding=padding)[0]
        with output:
            output.clear_output(wait=True)
            figure = playground(image, kernel_name, kernel, response, stride, padding)
            display(figure)
            plt.close(figure)

    controls = widgets.interactive(
        draw, kernel_name=widgets.Dropdown(options=list(KERNELS), description="kernel"),
        stride=widgets.IntSlider(1, 1, 3, description="stride"),
        padding=widgets.IntSlider(1, 0, 3, description="padding"))
    return widgets.VBox([controls, output])
