# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exploring Convolutional Layers Through Data and Experiments
#
# What does a convolutional layer compute, and what does it buy you on images? This workshop answers both on
# Fashion-MNIST: first by writing the layer out by hand and checking it against PyTorch, then by controlled
# experiments in which two models differ in one thing only, with several seeds and a real statistical test to say
# whether a difference is there (in the `full` profile; smaller profiles train fewer seeds, so their tables also show
# the committed full run's verdicts).
#
# **How to read it.** Every section is a small lesson:
# 1. a **question**, and a prompt to **predict** the answer before you run the cell (write your guess down: the
#    point is to find out where your intuition is wrong);
# 2. a short code cell whose **figure or table** answers it, followed by at most one sentence generated from this
#    run's numbers;
# 3. **why**: the mechanism behind the answer, which holds whatever this run's numbers are. Where the *outcome*
#    could differ between runs, the text says what to look for instead of announcing it.
#
# **Exercises** (✏️) have a cell to fill in, a check that says *right* or *not yet* with a hint, and a hidden
# solution. *Run All* works with the blanks untouched.
#
# **Contents.** 0 Setup · 1 The question · 2 The data · 3 A dense baseline and the training loop ·
# 4 The convolutional layer by hand · 5 The CNN · 6 Controlled experiments · 7 Inductive-bias evidence ·
# 8 Interpretation · 9 Saving the weights · 10 ONNX export · 11 Deployment · 12 Summary and references.
# Sections 9–11 are for people who reuse the trained model; a learner can stop after section 8.
#
# **A few words used throughout.** A *pixel* value is 0 (black) to 255 (white). A network's *parameters* (weights)
# are the numbers training adjusts; an *epoch* is one pass over the training images; a *seed* fixes the random
# choices of a run (initial weights, the order of images), so two seeds give two honest repetitions of the same
# experiment. *ReLU* is the function max(0, x) applied after a layer, which makes the network non-linear;
# *dropout* randomly zeroes some units during training so that the network cannot rely on any single one. The
# network's outputs are ten scores (*logits*), one per class; *softmax* turns them into probabilities, and the
# *cross-entropy* loss is −ln(probability of the true class). Training shows the network a *batch* of images at a
# time (256 here), computes the loss, and *back-propagates* it: computes its *gradient*, how much the loss changes
# with each weight. The *optimiser* (AdamW here) then moves every weight a small step against its gradient; the
# *learning rate* sets the step size. A network's *head* is its last layers, which turn features into the ten scores.
# An `assert` in a cell checks a hand derivation against PyTorch: if one fails, the text is wrong, not you.
#
# All reusable code is in the tested package `conv_workshop/`; the notebook shows that code where it teaches.
# *Versión en español del README: [README.es.md](README.es.md).*

# %% [markdown]
# ## 0. Setup
#
# **Parameters.** `PROFILE` picks the budget: `smoke` (a small subset, at most 3 minutes on a 2-core CPU, what CI
# runs), `quick` (the default on a CPU, at most 15 minutes) or `full` (the default on CUDA; designed to fit 90 minutes
# on a 2-core CPU; the committed run). Set `WORKSHOP_PROFILE` in the environment, edit the cell below, or pass it with
# papermill (`papermill in.ipynb out.ipynb -p PROFILE smoke`): the cell is tagged `parameters`.
# `REPLAY` re-renders the notebook from this profile's recorded runs, retraining only the models that figures need.
# A run that was interrupted (a closed terminal, a restarted kernel) is continued where it stopped the next time the
# notebook runs in the same profile; `RESUME = False` starts afresh instead. Left at `None`, all three come from the
# environment (`WORKSHOP_PROFILE`, `WORKSHOP_REPLAY`, `WORKSHOP_RESUME`; the setup table lists every setting the
# package read).

# %% tags=["parameters"]
PROFILE = None  # "smoke" | "quick" | "full"; None: $WORKSHOP_PROFILE, else full on CUDA and quick elsewhere
REPLAY = None  # True: re-render from recorded runs instead of training all again; None: $WORKSHOP_REPLAY
RESUME = None  # False: start afresh rather than continue an interrupted run; None: $WORKSHOP_RESUME (default: resume)

# %% [markdown]
# One call picks the device (CUDA, Apple MPS or the CPU with bfloat16 where it has native support), loads the data
# and starts recording every training run in `results/`. The table says what this run ran on: a number is only as
# trustworthy as the versions, device and seeds behind it.

# %%
import json

import pandas as pd
import torch
import torch.nn.functional as F
from IPython.display import display
from torch import nn

from conv_workshop import analysis, attribution, by_hand, exercises, experiments, findings, plots, probes, stats, tables
from conv_workshop.data import CLASS_NAMES
from conv_workshop.models import ConvConfig, ConvNet, DenseBaseline, PixelPermutation, layer_summary
from conv_workshop.session import is_live_kernel, show_markdown, show_source, start_session, use_notebook_display
from conv_workshop.training import predict_logits

lab = start_session(PROFILE, REPLAY, RESUME)
use_notebook_display()
torch.manual_seed(0)  # the cells that draw random numbers before any training (each run seeds itself)
data, splits = lab.data, lab.splits
display(lab.setup_table())
show_markdown(findings.describe_profile(lab.profile, lab.full_run_found()))

# %% [markdown]
# ## 1. The question
#
# A dense (fully connected) layer treats a 28×28 image as 784 unrelated numbers: every output unit has its own
# weight for every pixel. A convolutional layer makes three assumptions about images instead:
#
# - **locality**: a unit looks only at a small window (3×3 pixels here), because nearby pixels belong together;
# - **weight sharing**: the same small kernel is used at every position, because an edge is an edge wherever it is,
#   which makes the layer **translation equivariant** (shift the input, the output shifts the same way);
# - **hierarchy**: stacked layers see ever larger windows, so simple patterns combine into parts of garments.
#
# This notebook measures whether those assumptions pay off:
#
# 1. How does a convolution compute its output, and what does that cost? (section 4)
# 2. Is a CNN better than a dense network trained with the same recipe, and by how much? (sections 3 and 5)
# 3. What do kernel size, depth, downsampling, padding, pooling, width, batch norm, the head and augmentation
#    change, beyond seed-to-seed noise? (section 6)
# 4. Is the CNN's advantage due to spatial structure: shifted images, scrambled pixels, less data? (section 7)
# 5. What do the filters and units respond to, and can the result be reused? (sections 8–11)

# %% [markdown]
# ## 2. The data
#
# ### 2.1 What the model sees
#
# **Question.** Fashion-MNIST (Xiao et al., 2017) has 70,000 grayscale 28×28 images of 10 kinds of clothing. How
# many images per class, and what do they look like as numbers?
#
# **Predict.** Are the classes balanced? Is the garment dark on light, or light on dark?

# %%
counts = analysis.class_counts(data.train_labels, CLASS_NAMES)
lab.show_figure(plots.class_balance(counts), "eda_class_balance")
lab.show_figure(plots.sample_grid(data.train_images, data.train_labels, CLASS_NAMES), "eda_samples")
show_markdown(findings.describe_dataset(data, lab.splits, lab.profile.name, counts))  # this run's split sizes

# %% [markdown]
# **Why it matters.** With balanced classes, accuracy is a fair summary and needs no class weighting. The images are
# light garments on a black background (pixel 0): that is what the model learns, so a product photo (dark garment on
# white) must be inverted before the model can read it (section 11). The *validation* images, carved from the
# training set, choose epochs and models; the *test* set is only used to report, so that no choice is fitted to it.

# %% [markdown]
# ### 2.2 Is brightness enough?
#
# **Question.** Could a model tell classes apart from how much "ink" an image has (how many pixels are not black)?
#
# **Predict.** Which class covers the most pixels, and which the fewest? Do the ranges of two classes overlap?

# %%
intensity = analysis.intensity_summary(data.train_images, data.train_labels, CLASS_NAMES)
lab.show_figure(plots.intensity_distributions(data.train_images, data.train_labels, CLASS_NAMES), "eda_intensity")
display(tables.intensity(intensity))
show_markdown(findings.describe_ink(intensity, data.train_images))

# %% [markdown]
# **Why.** A global statistic such as the number of ink pixels can only separate classes whose distributions in the
# right panel barely overlap: garments of very different size (a sandal and a coat, and even those overlap at the
# extremes), not garments of the same size and outline (a shirt and a pullover). Those differ in *where* the ink is,
# not in how much there is.

# %% [markdown]
# ### 2.3 Which classes look alike?
#
# **Question.** Average all training images of a class: which class means are closest to each other?
#
# **Predict.** Which pair of classes will the models confuse most often? Section 5.3 checks your guess.

# %%
lab.show_figure(plots.mean_images(analysis.class_means(data.train_images, data.train_labels), CLASS_NAMES),
         "eda_class_means")
distances = analysis.class_mean_distances(data.train_images, data.train_labels, CLASS_NAMES)
lab.show_figure(plots.distance_heatmap(distances), "eda_class_distances")
closest = analysis.closest_class_pairs(distances)
closest.round(1)

# %% [markdown]
# **Why.** A class mean is a template. A dense layer's first weights *can* act like a set of such templates matched
# against the whole image (this notebook does not show that they do), so classes whose templates nearly coincide are
# where a model that matches whole images is likely to fail, and where local details (a collar, buttons, a zip) must
# decide.

# %% [markdown]
# ### 2.4 The best linear view
#
# **Question.** Principal component analysis (PCA) finds the two directions of pixel space along which the images
# vary most, and draws every image as a point on them. In that view, which classes stand apart? We measure "apart"
# by **purity**: the share of a point's 20 nearest neighbours in this view that have its class (1 = apart, about
# 0.1 = mixed among the ten classes).
#
# **Predict.** Footwear, trousers, bags, tops: which groups separate? (The plot draws a random 6,000 training images,
# enough to see the groups without hiding them under each other.)

# %%
sample = torch.randperm(len(data.train_labels), generator=torch.Generator().manual_seed(0))[:6000]
coordinates, explained = analysis.pca_projection(data.train_images[sample])
lab.show_figure(plots.pca_scatter(coordinates, data.train_labels[sample], CLASS_NAMES, explained), "eda_pca")
purity = analysis.neighbour_purity(coordinates, data.train_labels[sample], CLASS_NAMES)
show_markdown(findings.describe_pca(purity, explained))

# %% [markdown]
# **Why.** Two directions keep only the largest, most global variations (overall size and brightness, tops against
# footwear). Classes mixed in this 2-D view may still be separable using the other 782 directions, but the
# differences between them are smaller and more local: a collar, a zip, a sleeve's length. Finding such local
# patterns wherever they are is what convolutions are built for.
#
# ✏️ **Exercise 2.1.** Section 7.1 will shift garments sideways. What fraction of training images already touch the
# left or the right edge (a non-zero pixel in the first or the last column)?

# %%
my_edge_share = None  # replace None with a number between 0 and 1, computed from data.train_images
print(exercises.check("edge share", my_edge_share, images=data.train_images))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# first, last = data.train_images[:, :, 0], data.train_images[:, :, -1]  # the first and last column of each image
# my_edge_share = float(((first > 0).any(1) | (last > 0).any(1)).float().mean())
# ```
# A garment that already touches an edge loses part of itself when it is shifted out of the frame.
# </details>

# %% [markdown]
# ## 3. A dense baseline and the training loop
#
# ### 3.1 The model
#
# **Question.** The baseline flattens the image and applies 784 → 128 → 64 → 10 with ReLU and dropout 0.2. How many
# parameters is that, and where are they?
#
# **Predict.** Which layer holds most of them?
#
# ✏️ **Exercise 3.1.** Before running the next cell, count them by hand: a linear layer from *n* to *m* units has
# *n × m* weights plus *m* biases.

# %%
my_dense_parameters = None  # replace None with a whole number
print(exercises.check("dense parameters", my_dense_parameters))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_dense_parameters = (784 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10)
# ```
# </details>
#
# The table lists each layer with the shape of its output, its parameters and its multiply-accumulates per image
# (*MACs*: one multiplication and one addition each, the unit of compute used throughout).

# %%
tables.layers(layer_summary(DenseBaseline()))

# %% [markdown]
# The "normalise" row subtracts the training images' mean pixel and divides by their standard deviation, inside the
# model, so that whoever reuses it sends raw pixels in [0, 1].
#
# **Why.** The first layer, with one weight per pixel per unit, dominates. It has no notion of which pixels are
# neighbours: reorder the 784 inputs the same way for every image, reorder its weights to match, and it computes
# exactly the same function (section 7.2 tests what training makes of that).

# %% [markdown]
# ### 3.2 The training loop, in plain sight
#
# **Question.** What happens in one epoch of training? Every PyTorch training loop has the same five steps per
# batch: clear the old gradients, run the model forward, compute the loss, back-propagate, take an optimiser step.
#
# **Predict.** Before any training, what should the loss be for 10 classes? (A model that knows nothing gives each
# class probability 1/10.)
#
# ✏️ **Exercise 3.2.** Before reading the loop below: in which order do those five steps run?

# %%
my_steps = None  # a list of the names "zero_grad", "forward", "loss", "backward" and "step", in order
print(exercises.check("training step order", my_steps))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_steps = ["zero_grad", "forward", "loss", "backward", "step"]
# ```
# `zero_grad` may also come last (after `step`): what matters is that gradients are cleared between two
# `backward` calls, because PyTorch adds new gradients to old ones.
# </details>
#
# Here is the loop, then one epoch of it on the dense baseline, with the loss measured before and the accuracy after:

# %%
show_source(by_hand.train_epoch)
torch.manual_seed(0)
plain = DenseBaseline()
initial_loss = by_hand.evaluate_loss(plain, splits.val_images, splits.val_labels)
by_hand.train_epoch(plain, splits.train_images, splits.train_labels, torch.optim.AdamW(plain.parameters(), lr=1e-3))
plain_accuracy = by_hand.accuracy(plain, splits.val_images, splits.val_labels)

# %% [markdown]
# From here on, the package's `fit()` runs this same loop with a few additions a careful experiment needs: a seed
# for every random choice, a learning rate that rises then falls during the run (the "one-cycle" schedule), random
# left-right flips of the training images (off here, on for every model of the experiments), validation a few times
# per run keeping the best weights, and faster arithmetic (16-bit floats where the hardware has them). One epoch of
# `fit()` from the same initial weights, without flips:

# %%
from conv_workshop.training import TrainConfig, fit

torch.manual_seed(0)
fitted = DenseBaseline()  # the same initial weights as `plain` above
fit(fitted, splits, TrainConfig(epochs=1), lab.runtime, progress=False)
show_markdown(findings.describe_training_loop(initial_loss, plain_accuracy, by_hand.accuracy(fitted, splits.val_images,
                                                                          splits.val_labels)))

# %% [markdown]
# **Why.** The initial loss is a sanity check (CS231n's first one): the cross-entropy of a uniform guess is
# ln 10 ≈ 2.30, so a very different starting loss means a bug in the data or the model. The two accuracies can
# differ because the recipes differ, not the loop: `fit()`'s learning rate rises to 3×10⁻³ and falls again where the
# plain loop keeps 10⁻³, and `fit()` may compute in 16-bit floats. Later, the training accuracy that `fit()` reports
# is a running average taken while the weights still change, with dropout on (and flips, where used), which is why
# it can sit below validation accuracy.

# %% [markdown]
# ### 3.3 How long should the baseline train?
#
# **Question.** The CNN will train for a fixed number of epochs. Is that also enough for the dense model, or would a
# comparison at equal epochs flatter the CNN?
#
# **Predict.** Does the dense model gain from three times as many epochs?
#
# The cell trains the dense baseline with the recipe's schedule (three times the CNN's epochs) and with the CNN's own
# number of epochs, each with several seeds, and compares them. In every such table, "± x" after an accuracy is the
# standard deviation over seeds. The "difference" column is each variant minus the first row, with its 95 % confidence
# interval ("95 % CI": a range computed so that, over many repetitions of the experiment, 95 in 100 such ranges would
# contain the true difference). The "verdict" says whether that difference is *resolved*: "better" or "worse" only when
# a difference that large would be very unlikely from seed-to-seed and test-set noise alone (section 6 explains the
# test, and why an interval can exclude zero without the verdict resolving it). In the `smoke` and `quick` profiles,
# columns headed "full run" show the committed full-profile run beside yours. In the curves, look whether validation
# accuracy is still rising at the last epoch.

# %%
dense_runs = lab.train_family("schedule")  # {"dense schedule": {variant: runs}} (experiments.schedule_variants)
schedule = stats.effects_table(dense_runs, splits.test_labels)
dense = {"dense baseline": dense_runs["dense schedule"]["dense baseline"]}
lab.show_figure(plots.training_curves({"dense baseline": dense["dense baseline"][0].fit.history}), "training_dense")
display(tables.effects(schedule, lab.full_run_effects("schedule")))
show_markdown(findings.describe_effects(schedule))

# %% [markdown]
# **Why.** A baseline stopped early makes any rival look good. The dense model is cheap (an epoch costs a fraction
# of a CNN epoch), so it trains three times the CNN's epochs: a declared budget difference, shown in every table that
# compares them. This tests whether the extra epochs help; whether even more would help further is not tested.

# %% [markdown]
# ## 4. The convolutional layer by hand
#
# ### 4.1 One convolution, written out
#
# **Question.** What number does a convolutional layer compute at one output position?
#
# **Predict.** Slide the kernel below (a vertical-edge detector) over a pair of trousers. Where will the output be
# large and positive, and where large and negative?
#
# Each output is the sum of the kernel's weights times the pixels under it. Here are the loops, then the same
# computation with `unfold` (every window becomes a column, and all outputs are one matrix product), both checked
# against PyTorch's `F.conv2d`. The shapes follow PyTorch: an image is C×H×W (channels × height × width; a grayscale
# image has one channel), a stack of kernels is C_out×C_in×k×k, and `x[None]` adds the batch dimension that
# `F.conv2d` expects in front. For now, read C_in = C_out = 1; section 4.6 explains channels.

# %%
show_source(by_hand.correlate2d, by_hand.correlate2d_unfold)
trousers = by_hand.as_chw(data.test_images[2])  # a test image, as floats in [0, 1]
kernel = by_hand.KERNELS["vertical edge (Sobel x)"]
by_loops = by_hand.correlate2d(trousers, kernel, padding=1)
torch.testing.assert_close(by_hand.correlate2d_unfold(trousers, kernel, padding=1), by_loops)
torch.testing.assert_close(F.conv2d(trousers[None], kernel[None, None], padding=1)[0], by_loops)
lab.show_figure(plots.convolution_check(trousers[0], kernel, by_loops[0], F.conv2d(trousers[None], kernel[None, None],
                                                                             padding=1)[0, 0]), "by_hand_convolution")

# %% [markdown]
# **Why.** The output is large where the kernel's pattern matches the window: positive where the image gets brighter
# from left to right (the left edge of each leg), negative where it gets darker (the right edge), zero on flat
# regions. The *same* nine weights are used at every position; this weight sharing is why a 3×3 kernel has nine
# weights whatever the image size. `unfold` is how libraries compute convolutions in practice ("im2col"):
# one large matrix product replaces 784 small sums written in Python (the tests check that both agree; how much
# faster it is depends on the machine).
#
# ### 4.2 Cross-correlation, not convolution
#
# **Question.** In mathematics, convolution flips the kernel before sliding it. Does PyTorch?
#
# **Predict.** With the kernel flipped, what happens to the response above?

# %%
flipped_response = by_hand.convolve2d(trousers, kernel, padding=1)
torch.testing.assert_close(flipped_response, by_hand.correlate2d(trousers, kernel.flip(0, 1), padding=1))
lab.show_figure(plots.correlation_vs_convolution(kernel, by_loops[0], flipped_response[0]), "by_hand_flip")

# %% [markdown]
# **Why.** PyTorch's `nn.Conv2d` computes cross-correlation: the kernel is used as stored, not flipped. Flipping the
# Sobel-x kernel in both directions negates it (it is symmetric top to bottom, and its right column is the negative
# of its left one), so every response keeps its place and changes sign. For a layer that *learns* its
# kernels the distinction does not matter (it would simply learn the flipped weights), but it matters when you copy
# a kernel from a textbook that uses the flipped convention.

# %% [markdown]
# ### 4.3 Hand-designed kernels on garments
#
# **Question.** What do classic image-processing kernels respond to on clothes?
#
# **Predict.** Which kernel picks out the trouser legs' sides? Which one the shirt's shoulders or the top of the bag?

# %%
examples = [int((data.test_labels == CLASS_NAMES.index(name)).nonzero()[0]) for name in ("Shirt", "Trouser", "Bag")]
garments = [by_hand.as_chw(data.test_images[i]) for i in examples]
responses = {name: [by_hand.correlate2d_unfold(g, k, padding=1)[0] for g in garments]
             for name, k in by_hand.KERNELS.items()}
lab.show_figure(plots.kernel_gallery([g[0] for g in garments], ["Shirt", "Trouser", "Bag"], by_hand.KERNELS, responses),
         "by_hand_kernels")

# %% [markdown]
# **Why.** Each kernel is a template of a small pattern, and its response is large where the window under it looks
# like the template. The vertical-edge kernel responds to left and right outlines (red where brightness rises to the
# right, blue where it falls: the sides of a shirt, the legs of trousers); the horizontal-edge kernel to top and
# bottom outlines (shoulders, the top of a bag); the diagonal kernel to slanted outlines; blur averages texture away;
# sharpen exaggerates it. A CNN's first layer learns kernels of this kind from the data (section 5.5).
#
# ✏️ **Exercise 4.1.** Design a 3×3 kernel that responds to *horizontal* edges (a change from dark above to light
# below, or the reverse), gives no response to vertical edges, and gives zero on a flat area.

# %%
my_kernel = None  # replace None with a 3×3 tensor, e.g. torch.tensor([[...], [...], [...]])
print(exercises.check("horizontal edge kernel", my_kernel))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_kernel = torch.tensor([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
# ```
# It compares the row below with the row above. Each column sums to zero, so anything that does not change down a
# column gives zero: a flat area and a vertical edge alike. Sobel-y (in `by_hand.KERNELS`) is the same idea with the
# middle column weighted twice.
# </details>

# %% [markdown]
# ### 4.4 Output size
#
# **Question.** A 28×28 input, a k×k kernel, padding p on each side, stride s: what size comes out?
#
# **Predict.** 28×28 with a 5×5 kernel, padding 1, stride 2?
#
# The kernel fits ⌊(n + 2p − k) / s⌋ + 1 times along each side. The table checks the formula against `nn.Conv2d`
# for nine cases (the last one, k = 2 with stride 2, is the shape of a 2×2 pooling window, section 4.7):

# %%
cases = [(28, 3, 0, 1), (28, 3, 1, 1), (28, 5, 2, 1), (28, 5, 1, 2), (28, 7, 3, 1), (28, 3, 1, 2), (14, 3, 0, 1),
         (7, 3, 1, 2), (28, 2, 0, 2)]
sizes = tables.output_sizes(cases)
assert (sizes["formula"] == sizes["nn.Conv2d"]).all()
sizes

# %% [markdown]
# **Why.** Without padding ("valid"), every k×k layer trims k − 1 pixels; 'same' padding adds (k − 1) / 2 zeros on
# each side so that, at stride 1, the output keeps the input's size (hence odd kernels). With stride s the kernel
# jumps s pixels, so the output shrinks about s times; then no padding can keep the size, which is why PyTorch
# refuses `padding="same"` with stride > 1:

# %%
try:
    nn.Conv2d(1, 1, 3, stride=2, padding="same")
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# ✏️ **Exercise 4.2.** What side length comes out of a 7×7 kernel with padding 2 and stride 3 on a 28×28 input?

# %%
my_size = None  # replace None with a whole number
print(exercises.check("output size", my_size))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_size = (28 + 2 * 2 - 7) // 3 + 1  # = 9
# ```
# </details>
#
# ### 4.5 The default CNN's shapes, step by step
#
# **Question.** Where does the number 3,136 (the inputs of the CNN's dense head) come from?
#
# **Predict.** The CNN has two blocks, each with two 3×3 'same' convolutions and a 2×2 max pool (which keeps the
# largest of every 2×2 window, halving each side). The first block computes 32 output maps (*channels*: one per
# filter), the second 64. What shape leaves the second block?

# %%
trace = pd.DataFrame(by_hand.shape_trace(ConvConfig()))
head_inputs = next(r for r in layer_summary(ConvNet()) if r["type"] == "Flatten")["output_shape"][0]
assert trace.output.iloc[-1] == (head_inputs,)
trace

# %% [markdown]
# **Why.** 'Same' convolutions keep 28 × 28; each 2×2 pool halves it (28 → 14 → 7); the last block has 64 channels,
# so the head receives 64 × 7 × 7 = 3,136 numbers. In the model code the size is measured with a dry forward pass,
# never typed, so changing a block cannot cause the familiar "mat1 and mat2 shapes cannot be multiplied" error.
#
# ✏️ **Exercise 4.3.** Add a third block with 128 channels (two 'same' 3×3 convolutions and a 2×2 max pool). How
# many inputs does the dense head receive now?

# %%
my_head_inputs = None  # replace None with a whole number
print(exercises.check("head inputs", my_head_inputs))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_head_inputs = 128 * 3 * 3  # 7 // 2 = 3: pooling floors the odd size
# ```
# Check it: `layer_summary(ConvNet(ConvConfig(channels=(32, 64, 128))))`.
# </details>
#
# ### 4.6 Channels, parameters and cost
#
# **Question.** A convolution from C_in to C_out channels with k×k kernels: how many weights, and how many
# multiply-accumulates (MACs) per image?
#
# **Predict.** Which of the CNN's four convolutions has the most parameters? The most MACs?
#
# Each of the C_out filters holds C_in × k × k weights (it looks at every input channel), plus a bias when there is
# one: parameters = C_out · (C_in · k² + bias). Each output value costs C_in · k² MACs, and there are
# C_out × H_out × W_out of them. The table checks both formulas against `layer_summary` for every convolution:

# %%
costs = tables.conv_costs(ConvNet())
assert (costs["parameters (formula)"] == costs["parameters (layer_summary)"]).all()
assert (costs["MACs (formula)"] == costs["MACs (layer_summary)"]).all()
tables.with_thousands(costs)

# %% [markdown]
# **Why.** Parameters do not depend on the image size (weight sharing): they grow with C_in · C_out, so the last
# convolution has the most (64 × 64 × 9). MACs also grow with the output area: block 1's second convolution
# (32 × 32 × 9 weights at 28 × 28 positions) and block 2's second (64 × 64 × 9 at 14 × 14) tie, because pooling
# quarters the area exactly as doubling both channel counts quadruples the weights. Pooling early makes every later
# layer four times cheaper. The default CNN's convolutions
# have no bias because each is followed by batch normalisation (section 5.1), which subtracts each channel's mean and
# so would cancel a bias anyway.
#
# ✏️ **Exercise 4.4.** How many parameters has `nn.Conv2d(32, 64, 3)` (with its bias)?

# %%
my_conv_parameters = None  # replace None with a whole number
print(exercises.check("conv parameters", my_conv_parameters))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_conv_parameters = 64 * (32 * 3 * 3 + 1)  # = 18,496
# ```
# </details>
#
# ### 4.7 Pooling and the receptive field
#
# **Question.** Max pooling keeps the largest value of each 2×2 window (the cell checks `by_hand.max_pool2d` against
# `F.max_pool2d`). After a few layers, how large a window of the input does one unit depend on (its *receptive
# field*)?
#
# **Predict.** After two 3×3 convolutions, a 2×2 pool and two more 3×3 convolutions, how many input pixels wide is
# what one unit sees?

# %%
feature_map = by_loops.relu()
torch.testing.assert_close(by_hand.max_pool2d(feature_map), F.max_pool2d(feature_map, 2))
summary_rows = layer_summary(ConvNet())
fields = tables.receptive_fields(summary_rows)  # derived by hand beside layer_summary's column
assert (fields["by hand"] == fields["layer_summary"]).all()
lab.show_figure(plots.receptive_fields(data.test_images[0], list(zip(fields.layer, fields["by hand"]))),
                "receptive_field")
fields

# %% [markdown]
# **Why.** Each k×k layer widens the receptive field by (k − 1) × *jump*, where the jump is the distance in input
# pixels between neighbouring units; every stride-2 layer doubles the jump. So two 3×3 layers see 5×5 (VGG's
# argument for stacking small kernels: the same window as one 5×5 with fewer weights and an extra ReLU, Simonyan &
# Zisserman 2015), and layers after a pool grow twice as fast. The *effective* receptive field is smaller than this
# theoretical one: pixels near its centre weigh much more (Luo et al., 2016).
#
# ✏️ **Exercise 4.5.** Three 3×3 convolutions (stride 1), then a 2×2 max pool (stride 2), then one more 3×3
# convolution: what is the final receptive field?

# %%
my_receptive_field = None  # replace None with a whole number of pixels
print(exercises.check("receptive field", my_receptive_field))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# # field grows by (k − 1) × jump; a stride-2 layer doubles the jump for the layers after it
# # 3×3: 1 + 2 = 3;  3×3: 3 + 2 = 5;  3×3: 5 + 2 = 7;  2×2 pool: 7 + 1 = 8 (jump becomes 2);  3×3: 8 + 2·2 = 12
# my_receptive_field = 12
# ```
# </details>
#
# ### 4.8 Equivariance and invariance, measured
#
# **Question.** Move an image 2 pixels to the right. What happens to a convolution's output? To the output of
# 2×2 max pooling? To the global average of the output (the mean over all positions, one number per map)?
#
# **Predict.** Which of the three moves with the image, which changes, and which nearly stays the same? (As in the
# CNN, a ReLU follows the convolution.)

# %%
responses = [by_hand.shift_response(trousers, kernel, shift) for shift in (1, 2)]
assert all(r.conv_interior_difference < 1e-5 for r in responses)  # the convolution moved with its input
lab.show_figure(plots.shift_response(by_hand.shift_demo(trousers, kernel, shift=2)), "by_hand_shift")
tables.shift_responses(responses)

# %% [markdown]
# **Why.** Because the same kernel is applied at every position, shifting the input shifts the output by the same
# amount: convolution is **equivariant** to translation (exactly, away from the border where zeros enter). 2×2 max
# pooling with stride 2 is equivariant only to shifts by whole pooling cells: a 2-pixel shift moves the pooled map
# by one cell, a 1-pixel shift changes many pooled values. A global average over the whole map barely changes: it is
# nearly **invariant**. A classifier needs invariance (a shifted shirt is still a shirt); convolutions give
# equivariance, and pooling and the head must turn it into invariance. Section 7.1 measures how much of that
# trained CNNs achieve.

# %% [markdown]
# ### 4.9 Learning a kernel from data
#
# **Question.** A CNN does not get its kernels by hand: it learns them by gradient descent. Can gradient descent
# recover a known kernel from examples of what it does?
#
# **Predict.** Starting from small random weights, how many steps until the learned kernel looks like Sobel-x?

# %%
fit_kernel = by_hand.learn_kernel(data.train_images[:64], kernel, steps=500)
torch.testing.assert_close(fit_kernel.kernel, kernel, atol=0.05, rtol=0)
lab.show_figure(plots.learned_kernel(kernel, fit_kernel.kernel, fit_kernel.losses), "by_hand_learned_kernel")

# %% [markdown]
# **Why.** The output of a convolution is linear in its weights, so the squared error between the learned kernel's
# output and the target is a smooth bowl with one minimum (given enough varied images), and gradient descent walks down
# to it (d2l chapter 7 makes the same point with a [1, −1] kernel). A CNN solves a harder version of this problem: 32
# kernels at once, followed by non-linear layers, with only the class label as the target.

# %% [markdown]
# ### 4.10 Playground
#
# **Question.** What do stride and padding do to the output of a kernel you choose?
#
# **Predict.** With stride 2, how large is the output of a 3×3 kernel with padding 1 on the 28×28 image? And with
# padding 0?
#
# Choose a kernel, a stride and a padding, and watch the output and its size. In a live Jupyter kernel this cell
# shows sliders; in a rendered copy (GitHub, CI) it shows stride 2 with padding 1 as a static figure.

# %%
if is_live_kernel():
    from conv_workshop.playground import playground_widget

    display(playground_widget(trousers[0]))
else:
    strided = by_hand.correlate2d_unfold(trousers, kernel, stride=2, padding=1)[0]
    lab.show_figure(plots.playground(trousers[0], "vertical edge (Sobel x)", kernel, strided, 2, 1), "playground")

# %% [markdown]
# **Why.** Every setting obeys section 4.4's formula: stride divides the number of positions the kernel visits, and
# padding adds positions at the border. The kernel decides *what* is found, stride and padding *where* and at what
# resolution.

# %% [markdown]
# ## 5. The CNN
#
# ### 5.1 The architecture
#
# **Question.** The default `ConvNet()` stacks two blocks of (3×3 conv → batch norm → ReLU) × 2 → 2×2 max pool, with
# 32 then 64 channels, then the head: flatten → dense 128 → ReLU → dropout 0.3 → 10. Where are its parameters?
#
# **Predict.** Will it have more or fewer parameters than the dense baseline?

# %%
show_source(ConvConfig)
tables.layers(summary_rows)

# %% [markdown]
# **Why.** The convolutions are cheap in parameters and expensive in compute; the dense head is the opposite. Its
# first layer connects 3,136 inputs to 128 units and holds most of the model's weights, which is why a CNN can have
# *more* parameters than a dense network on the same image. Section 6.8 replaces the head with global average
# pooling (Lin et al., 2014) to test whether they are needed. *Batch normalisation* (Ioffe & Szegedy, 2015)
# standardises each channel over the images of a batch and all positions (subtract the mean, divide by the standard
# deviation, then a learned scale and shift; at evaluation it uses averages kept during training), which helps the
# whole stack train at one learning rate (section 6.7 removes it).
#
# ✏️ **Exercise 5.1.** How many parameters has the head's first linear layer (from the flattened 64 × 7 × 7 maps to
# 128 units, with biases)?

# %%
my_head_parameters = None  # replace None with a whole number
print(exercises.check("head parameters", my_head_parameters))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_head_parameters = 64 * 7 * 7 * 128 + 128  # = 401,536, most of the model
# ```
# </details>

# %% [markdown]
# ### 5.2 The CNN against the dense baseline
#
# **Question.** Trained with the same recipe (optimiser, schedule shape, flips, data), is the CNN better, and by how
# much?
#
# **Predict.** Which wins, by how many percentage points, and is the difference larger than the seed-to-seed noise?
#
# The cell trains the default CNN with the profile's seeds and compares it with the dense baseline of section 3.3.

# %%
headline_runs = lab.train_family("headline")  # the dense baseline above (reused) and ConvNet(ConvConfig())
headline = stats.effects_table(headline_runs, splits.test_labels)
cnn = {"CNN": headline_runs["CNN vs dense"]["CNN"]}
histories = {"dense baseline": dense["dense baseline"][0].fit.history, "CNN": cnn["CNN"][0].fit.history}
lab.show_figure(plots.training_curves(histories, "Dense baseline vs CNN (seed 0)"), "training_curves")
display(tables.effects(headline, lab.full_run_effects("headline")))
show_markdown(findings.describe_effects(headline))

# %% [markdown]
# **Why.** Both models see the same images, flips, optimiser and schedule shape; they differ in the architecture
# (dropout included), and in the dense model's three-times-longer schedule (section 3.3 measures what that does for
# it). Why a CNN can win: locality and weight sharing let it learn an edge or collar detector once and reuse it at
# every position, where the dense model must learn each position separately from examples at that position. The
# interval is for the difference of the means, and counts both seed noise and the noise of a finite test set
# (section 6 explains it).

# %% [markdown]
# ### 5.3 Where does it go wrong?
#
# **Question.** Which classes does the CNN confuse, and are they the look-alike pairs of section 2.3?
#
# **Predict.** Which class is hardest?
#
# The model shown is the CNN seed with the best *validation* accuracy (never chosen on the test set).

# %%
best_cnn = max(cnn["CNN"], key=lambda o: o.record["best_val_accuracy"])  # chosen on validation, never on test
best_dense = max(dense["dense baseline"], key=lambda o: o.record["best_val_accuracy"])
cnn_logits = predict_logits(best_cnn.ensure_model(), splits.test_images, lab.runtime)
dense_predictions = predict_logits(best_dense.ensure_model(), splits.test_images, lab.runtime).argmax(1)
matrix = analysis.confusion_matrix(cnn_logits.argmax(1), splits.test_labels)
lab.show_figure(plots.confusion_heatmap(matrix, CLASS_NAMES, "CNN confusion matrix (test set)"), "confusion_matrix")

# %% [markdown]
# **Predict.** Per class, beside the dense baseline: where will the CNN gain most, and where least?

# %%
per_class = analysis.per_class_table({"dense baseline": dense_predictions, "CNN": cnn_logits.argmax(1)},
                                     splits.test_labels, CLASS_NAMES)
lab.show_figure(plots.per_class_dots(per_class, "Per-class test accuracy", counts=analysis.class_counts(
    splits.test_labels, CLASS_NAMES)["count"]), "per_class")
show_markdown(findings.describe_confusions(matrix, per_class, closest))

# %% [markdown]
# **Why.** Where two classes share their outline (shirts, T-shirts, pullovers, coats) only local details separate
# them, and at 28×28 pixels many of those details are gone: that is where any model is expected to struggle, and
# where a detector of local patterns has the most to gain or the least left to find. The bars are 95 % intervals for
# each model's accuracy on that class's test images (one seed each, so test-set noise only); a gain whose two bars
# overlap may be noise.

# %% [markdown]
# ### 5.4 The most confident mistakes
#
# **Question.** When the CNN is wrong, is it unsure, or confidently wrong? **Predict.** Will its most confident
# mistakes be between look-alike classes, or look like labelling errors?
# The gallery shows the most confident mistake of each (true, predicted) pair first.

# %%
confidence = cnn_logits.softmax(1).max(1).values
lab.show_figure(plots.misclassified_gallery(splits.test_images, splits.test_labels, cnn_logits.argmax(1), confidence,
                                     CLASS_NAMES), "mistakes")

# %% [markdown]
# **Why.** Look for two kinds of error: images that are ambiguous at 28×28 even to a person (or carry a doubtful
# label), and images the model should have got. Mislabelled test images, if there are any, cap any model's measured
# accuracy; and confidence is not
# correctness: the softmax probability of a network trained with cross-entropy can be high on a wrong answer.
#
# ### 5.5 What did the first layer learn?
#
# **Question.** Do the learned 3×3 filters resemble the hand-designed kernels of section 4.3?
#
# **Predict.** How many look like edge detectors?

# %%
first_conv = next(m for m in best_cnn.ensure_model().modules() if isinstance(m, nn.Conv2d))
lab.show_figure(plots.filters_beside(by_hand.KERNELS, first_conv.weight), "filters")

# %% [markdown]
# **Why.** Look for filters with a positive side and a negative side (edge detectors, like Sobel kernels at other
# orientations) and filters with a centre unlike its surround (spot detectors). Whatever the first layer learns,
# nothing told it to: gradient descent keeps the local patterns that help tell these garments apart (section 4.9
# showed the mechanism on one kernel).
#
# ### 5.6 Feature maps: what flows through the network
#
# **Question.** What does one image look like after each block? **Predict** the size of the maps after block 1 and
# after block 2 (section 4.5).

# %%
maps = probes.feature_maps(best_cnn.ensure_model(), data.test_images[0], lab.runtime)
lab.show_figure(plots.feature_maps(data.test_images[0], maps), "feature_maps")

# %% [markdown]
# **Why.** After block 1 the maps are 14×14 and can still be compared with the garment's outline; after block 2 they
# are 7×7, each value summarising a 16×16 window: they say roughly *where* a pattern was found, and the dense head
# reads those positions. Each pool trades resolution for channels: a quarter of the positions, while the next block
# doubles the number of maps, so the network keeps more kinds of pattern at coarser places. Section 7.4 asks what the
# units of each block respond to.

# %% [markdown]
# ## 6. Controlled experiments
#
# Each experiment changes **one** factor of the default CNN and holds everything else fixed: data, recipe, epochs,
# seeds. To fit the full profile into 90 minutes on a 2-core CPU, every controlled experiment trains on a
# class-balanced subset of the training set (10,000 images in the full profile), with its own reference CNN trained
# on the same subset; the headline models of sections 3 and 5 use all of it. So these are answers *for that data
# budget*.
#
# **How a verdict is reached.** For each variant we compute the difference of mean test accuracy from the reference
# CNN, with a 95 % interval that counts two sources of noise: seed to seed (Welch's unequal-variance t) and the
# sampling of the test images (the same images score both models, so image by image). The comparisons of sections
# 6.1–6.8 against the reference CNN form one *family* of tests, and Holm's correction keeps the chance of *any* false
# "better" or "worse" in the family at 5 % at most; every other effects table (3.3, 5.2, 6.8's small network, 6.9,
# 7.2, 7.3) is its own, smaller family, corrected the same way (7.1 shows intervals only; 7.4 uses its own rank
# tests). A variant is called **better** or **worse** only when its adjusted p-value is below 0.05; otherwise the
# table says **not resolved with N seeds**: the data cannot tell, which is not the same as "no difference". With one
# seed no test is possible at all. The intervals are not adjusted for the number of comparisons and the verdict is,
# so an interval that only just excludes zero can still read *not resolved*: the verdict column is the test. In the
# figures, filled markers are resolved and hollow ones are not.
#
# **Predict before you run** (and write it down): which of these changes will help, which will hurt, and which will
# not matter? 3×3 vs 5×5 vs 7×7 kernels; 1, 2 or 3 blocks; pooling vs strided convolutions; same vs valid padding;
# max vs average pooling; narrower or wider; no batch norm; a global-average-pooling head.
#
# The next cell trains every variant with the profile's seeds (in the full profile, about 45 minutes on a 2-core
# CPU; already recorded runs are reused).

# %%
controlled = lab.train_family("controlled")  # experiments.controlled_experiments(): {experiment: {variant: runs}}
effects = stats.effects_table(controlled, lab.experiment_splits.test_labels)
full_run = lab.full_run_effects("controlled")
show_markdown(findings.describe_resolution(effects))

# %% [markdown]
# ### 6.1 Kernel size
#
# **Question.** Does a larger kernel help on 28×28 images? Only the kernel size of every convolution changes, with
# 'same' padding so every variant feeds the same head.
#
# **Predict.** 3×3, 5×5 or 7×7: which wins, and at what cost?

# %%
lab.show_effects(effects, "kernel size", full_run)
show_markdown(findings.describe_effects(effects, "kernel size"))

# %% [markdown]
# **Why.** Parameters and MACs of each convolution grow with k², but a larger kernel does not see anything a stack
# cannot: two stacked 3×3 layers already cover 5×5 and three cover 7×7, with fewer weights and more
# non-linearities in between. On small images more of a large kernel's windows also overlap the zero padding at the
# border. Whether the extra capacity pays for itself is what the table answers; the curves below show how
# validation accuracy evolved for each kernel size.

# %%
kernel_histories = {name: [o.fit.history for o in runs] for name, runs in controlled["kernel size"].items()}
lab.show_figure(plots.validation_curves(kernel_histories, "Validation accuracy (band: min–max over seeds)"),
         "kernel_size_curves")

# %% [markdown]
# ### 6.2 Depth
#
# **Question.** One block (32 channels, 14×14 maps into the head), two (the default) or three (32, 64, 128; 3×3
# maps)? And two convolutions per block, or one?
#
# **Predict.** Does the third block help, and what does dropping the second convolution of each block cost?

# %%
lab.show_effects(effects, "depth", full_run)
show_markdown(findings.describe_effects(effects, "depth"))

# %% [markdown]
# **Why.** Depth grows the receptive field (section 4.7) and the number of non-linear steps between pixels and
# classes. It also moves parameters: with one block the head sees 32 × 14 × 14 inputs and is *larger*; with three
# it sees 128 × 3 × 3 and is smaller. So "deeper" here changes both the features and the head. One convolution per
# block keeps the maps' sizes and the head but halves the non-linear steps and shrinks the receptive field (10 pixels
# after block 2 instead of 16).
#
# ### 6.3 Downsampling: pooling or strided convolution
#
# **Question.** Each block ends with a 2×2 max pool. What if the block's last convolution used stride 2 instead?
#
# **Predict.** Which is cheaper, and which is more accurate?

# %%
lab.show_effects(effects, "downsampling", full_run)
show_markdown(findings.describe_effects(effects, "downsampling"))

# %% [markdown]
# **Why.** A stride-2 convolution computes only a quarter of its outputs, so it costs fewer MACs, and it learns how
# to downsample rather than always taking the maximum. Max pooling keeps the strongest response in each window,
# which adds a little tolerance to small shifts (section 7.1 measures it).
#
# ### 6.4 Padding: same or valid
#
# **Question.** Does the CNN need its padding? Without it, every 3×3 convolution loses a 1-pixel border (28 → 26 →
# 24 → pool 12 → 10 → 8 → pool 4), so the head sees 64 × 4 × 4 inputs instead of 64 × 7 × 7.
#
# **Predict.** Does losing the border hurt, given that most of it is black background?

# %%
lab.show_effects(effects, "padding", full_run)
show_markdown(findings.describe_effects(effects, "padding"))

# %% [markdown]
# **Why.** Valid padding shrinks the maps and with them the head (fewer parameters and MACs), and the pixels near the
# border are seen by fewer windows. On Fashion-MNIST the border is mostly background, so the question is whether
# the smaller head and the lost border cost more than they save: the verdict above says whether this budget can tell.
#
# ### 6.5 Pooling: max or average
#
# **Question.** Should a pool keep the largest value of each 2×2 window, or its mean?
#
# **Predict.** Same parameters, same cost: does taking the maximum beat taking the mean?

# %%
lab.show_effects(effects, "pooling", full_run)
show_markdown(findings.describe_effects(effects, "pooling"))

# %% [markdown]
# **Why.** Max pooling reports whether a pattern occurred anywhere in the window; average pooling how much of it
# there was, diluted by the rest of the window. After a ReLU, a detector's strongest response is often the signal,
# an argument for max pooling; but averaging keeps more of the map, an argument for the mean. The measured
# difference, with its interval, says whether one argument wins here, if this budget can resolve it.
#
# ### 6.6 Width
#
# **Question.** 32 → 64 channels is the default. What about keeping 32 in both blocks, or doubling to 64 → 128?
#
# **Predict.** Is width cheap accuracy, or expensive noise?

# %%
lab.show_effects(effects, "width", full_run)
show_markdown(findings.describe_effects(effects, "width"))

# %% [markdown]
# **Why.** Cost grows with the product of input and output channels (section 4.6), so doubling every width roughly
# quadruples the convolutions' MACs and doubles the head. Wider layers can represent more patterns; whether a fixed
# training set has enough examples to use them is what the difference and its interval tell.
#
# ### 6.7 Batch normalisation
#
# **Question.** What does batch norm contribute? Remove every batch norm and keep everything else, including the
# learning rate.
#
# **Predict.** A small loss, a large one, or none?

# %%
lab.show_effects(effects, "batch norm", full_run)
show_markdown(findings.describe_effects(effects, "batch norm"))

# %% [markdown]
# **Why.** Batch norm standardises each channel's activations during training. One common explanation of why that helps
# is that the scale of the signal then drifts less from layer to layer, so one fairly high learning rate can suit every
# layer; the reason is debated, and this experiment measures only the outcome, not the reason. The recipe here was
# chosen for the network *with* batch norm; without it, a lower rate or more epochs might do better, so the verdict
# above holds "with the same recipe", not for every recipe.
#
# ### 6.8 The head: flatten + dense, or global average pooling
#
# **Question.** Global average pooling (GAP) averages each final feature map to one number, so the head has only
# channels × 10 weights. Does the network need its 400,000-weight dense head?
#
# **Predict.** What happens to accuracy with GAP after two blocks? After three? With a small three-block network
# that has fewer parameters than the dense baseline?
#
# ✏️ **Exercise 6.1.** Before running the cell: with a GAP head, how many parameters does the default CNN have? (Its
# convolutions and batch norms hold 65,184; the GAP head is one linear layer from the 64 averaged channels to the
# 10 classes.)

# %%
my_gap_parameters = None  # replace None with a whole number
print(exercises.check("GAP parameters", my_gap_parameters))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_gap_parameters = 65_184 + (64 * 10 + 10)  # = 65,834
# ```
# The head shrinks from 402,826 weights to 650. Check it with
# `from conv_workshop.models import count_parameters; count_parameters(ConvNet(ConvConfig(head="gap")))`.
# </details>

# %%
lab.show_effects(effects, "head", full_run)
show_markdown(findings.describe_effects(effects, "head"))

# %% [markdown]
# **Why.** A GAP head throws away *where* a feature was found and keeps only how strongly it was found somewhere.
# One explanation, not tested here: after two blocks each unit sees at most a 16×16 window of the 28×28 garment, so
# no single feature describes the whole garment, and averaging may lose the layout that a dense head can use. A third
# block (theoretical receptive field 36, larger than the image) lets each feature cover the whole garment, which
# should make averaging lose less; but that variant also adds depth and parameters, so it does not isolate the
# receptive field. The verdicts above say whether GAP after two or after three blocks differs from the dense head.
#
# The fair test of "better accuracy with fewer parameters" compares the small GAP network with the dense baseline
# *trained on the same images* (the small GAP network's runs are reused from the head experiment; the dense model
# trains here). Parameter count is not capacity per image: the GAP network reuses each convolution's weights at every
# position, so few parameters can still do many useful computations.

# %%
small_gap_runs = lab.train_family("small GAP")  # {"small GAP vs dense": {variant: runs}}
small_gap = stats.effects_table(small_gap_runs, lab.experiment_splits.test_labels)
dense_10k = small_gap_runs["small GAP vs dense"]["dense baseline"]  # the dense model on the experiments' images
display(tables.effects(small_gap, lab.full_run_effects("small GAP")))
show_markdown(findings.describe_effects(small_gap))

# %% [markdown]
# ### 6.9 Augmentation: what do random flips do?
#
# **Question.** Every model of sections 3.3 and 5–7 trains with random horizontal flips (a mirrored garment is still
# the same garment). Do flips change accuracy, for the dense model and for the CNN? Each model trained without flips
# is the reference, so a positive difference means flips help.
#
# **Predict.** Do flips help the dense model, the CNN, both or neither? (Each model is compared with itself; the two
# differences are not compared with each other.)

# %%
augmentation = lab.train_family("augmentation")  # {"flips, dense": …, "flips, CNN": …}
flips = stats.effects_table(augmentation, lab.experiment_splits.test_labels)
lab.show_effects(flips, None, lab.full_run_effects("augmentation"), name="augmentation")
show_markdown(findings.describe_effects(flips))

# %% [markdown]
# **Why.** Flipping doubles the variety of training images without new labels. A model gains from it when the
# mirrored image teaches it something it would otherwise have to see separately; a model that can reuse a pattern at
# any position needs that less for shifts, but not for mirror images. Flips can also cost accuracy: the test images
# are never mirrored, so the epochs spent on mirrored training images may not pay off on the test set. This experiment
# is also why every comparison in this notebook gives *both* models the same augmentation: had flips helped or hurt
# only one model, a comparison in which only one had them would credit the architecture with the augmentation.

# %% [markdown]
# ### 6.10 Accuracy against cost
#
# **Question.** Among all configurations above, which give the most accuracy for their parameters, or for their
# compute? Those for which no other configuration is at least as accurate *and* at most as costly (and strictly
# better on one count) form the **Pareto front**; the table lists only the configurations on a front.
#
# **Predict.** Will the most accurate configuration also be the cheapest? Which kind of change buys accuracy most
# cheaply?

# %%
points = stats.distinct_configurations(effects)  # each configuration once; the reference is "default CNN"
lab.show_figure(plots.accuracy_versus_cost(points), "pareto")
tables.pareto(points)

# %% [markdown]
# **Why.** A ratio such as "accuracy per parameter" rewards the smallest model however inaccurate it is; the front
# shows instead what each extra parameter or MAC buys. Points close together in accuracy are often within noise
# (see the verdicts above), so the front's order between neighbours is not settled by these seeds.

# %% [markdown]
# ## 7. Inductive-bias evidence
#
# ### 7.1 Translation: accuracy on shifted test images
#
# **Question.** The models were trained on centred garments. Move the test images (the first 5,000 in the full
# profile) 0–6 pixels right, down, or down and right (black fill; a diagonal shift of s moves s pixels along each
# axis) and classify again, without retraining. Four models, each trained on the experiments' training images, three
# seeds each: the dense baseline, the default CNN (max pooling, dense head), the CNN with stride-2 convolutions
# instead of pooling, and the CNN with a GAP head. The table gives each accuracy as mean [95 % interval over seeds].
#
# **Predict.** Which model keeps its accuracy at 2 pixels? At 4? Does the direction matter?

# %%
shift_models = {"dense": dense_10k, "CNN (max pool)": controlled["downsampling"]["max pooling"],
                "CNN (stride-2 conv)": controlled["downsampling"]["stride-2 conv"],
                "CNN (GAP head)": controlled["head"]["global average pool"]}
curve = probes.translation_curve({name: [o.ensure_model() for o in runs[:3]] for name, runs in shift_models.items()},
                                 *lab.probe_images(), lab.runtime)
lab.write_table(curve, "translation.csv")
lab.show_figure(plots.translation(curve, lab.full_run_table("translation.csv")), "translation")
tables.translation(curve, lab.full_run_table("translation.csv"))

# %% [markdown]
# **Why.** Convolution is equivariant (section 4.8): a shifted garment gives shifted feature maps, exactly. Whether
# the *prediction* survives depends on what comes after. A flatten + dense head has one weight per position, so
# shifted features land on different weights; 2×2 pools absorb some small shifts, and features that respond over a
# wider area are more tolerant; a GAP head averages over all positions and discards them. So the layer itself is
# equivariant, not invariant: how far a CNN's prediction tolerates shifts depends on its pooling, its features and its
# head, which is what the four curves compare. The bands are 95 % intervals over seeds.
#
# **And the direction?** Compare the horizontal and vertical panels for each model, the dense one included. If the
# asymmetry appears for every position-dependent model, its cause is in the data or the shared training recipe
# (horizontal flips among it) rather than in convolution. The figure below measures one candidate: how similar a
# garment is to its own shifted copy in each direction (cosine similarity of the pixel vectors).

# %%
similarity = analysis.shift_similarity(lab.probe_images()[0])
lab.show_figure(plots.shift_similarity(similarity), "shift_similarity")
show_markdown(findings.describe_translation(curve, similarity))

# %% [markdown]
# **Why.** A model tied to positions recognises a shifted garment only as far as the shifted image still looks like
# the original; the more similar an image is to its shifted copy, the less such a model should lose. The similarity
# measured here is one candidate explanation of a directional asymmetry, not a proof of it.

# %% [markdown]
# ### 7.2 Spatial structure: scrambled pixels
#
# **Question.** Does the CNN's advantage depend on neighbouring pixels being neighbours? Reorder the 784 pixels of every
# image by one fixed random permutation (the same for training and test). No information is lost, but neighbouring
# pixels are no longer neighbours. The permutation is built into the model as its first layer: training flips the real
# image first and the model scrambles it, so every image the network body sees, in training and at test time, is the
# same fixed scrambling of a real garment.
#
# **Predict.** Which model suffers, the dense one or the CNN?

# %%
scrambling = lab.train_family("scrambling")  # {"scrambled, dense": …, "scrambled, CNN": …}
scrambled = stats.effects_table(scrambling, lab.experiment_splits.test_labels)
lab.show_effects(scrambled, None, lab.full_run_effects("scrambling"), name="permutation")
show_markdown(findings.describe_effects(scrambled))

# %% [markdown]
# **Why.** A dense layer is indifferent to the order of its inputs: a permutation of the pixels is just a permutation of
# its first weight matrix's columns, so it can learn the same function, and differs only by training noise. A
# convolution assumes that the pixels in a 3×3 window belong together; after scrambling they do not, and its locality
# and weight sharing become wrong assumptions. Each model is compared with itself above; the difference between the two
# drops is not itself tested. This is how to recognise when convolution is the wrong tool, namely inputs without a
# spatial (or temporal) neighbourhood structure, such as a table of unrelated features.
#
# ✏️ **Exercise 7.1.** Scrambling loses no information. Write the permutation that *undoes* it.

# %%
scramble = PixelPermutation(experiments.SCRAMBLE_SEED).order  # the probe's one fixed order of the 784 pixels
my_inverse = None  # replace None with a tensor of 784 indices such that scrambled[:, my_inverse] restores the image
print(exercises.check("unscramble", my_inverse, permutation=scramble))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_inverse = torch.argsort(scramble)
# ```
# A small example: with `scramble = [2, 0, 1]`, the scrambled image is `[x2, x0, x1]`. `argsort([2, 0, 1])` is
# `[1, 2, 0]`, and reading the scrambled image at those places gives `[x0, x1, x2]` back.
# </details>

# %% [markdown]
# ### 7.3 Data efficiency
#
# **Question.** With less training data, does the CNN's lead grow or shrink? Class-balanced subsets of the training set.
# Small sets get more epochs (the CNN up to 100, the dense model three times as many) so that a model sees a minimum
# number of images in training; the training budget therefore also differs between sizes, and the table says how many
# epochs each size trained.
#
# **Predict.** With the smallest training set, which model is ahead, and by more or less than with all the data?

# %%
sizes = lab.train_family("data size")  # {"n=<size>": {variant: runs}}, each size with its epochs (table below)
efficiency = stats.effects_table(sizes, splits.test_labels)
full_run_sizes = lab.full_run_effects("data size")
lab.show_figure(plots.data_efficiency(tables.efficiency_points(efficiency), tables.efficiency_points(full_run_sizes),
                                      lead=efficiency), "data_efficiency")
display(tables.effects(efficiency, full_run_sizes, experiment=True, epochs=True))
show_markdown(findings.describe_data_size(efficiency))

# %% [markdown]
# **Why.** An assumption that is right is worth the most when data is scarce: locality and weight sharing let the
# CNN learn an edge detector once and use it everywhere, where the dense model must learn it separately at every
# position from examples at that position. With more data the dense model can learn more of that structure itself,
# so the lead *might* shrink as data grows. But the CNN's own advantages at every size (weight sharing, pooling) need
# not fade with data, so a constant lead is an equally possible answer. This notebook does not test a trend (the
# epochs also differ between sizes): it measures the lead at each size, with its verdict.

# %% [markdown]
# ### 7.4 Hierarchy: what units at each depth respond to
#
# **Question.** Do units of the second block respond to more class-specific patterns than units of the first?
# Each block's units see a window of the input (section 4.7: 6×6 after block 1, 16×16 after block 2). Below, for a
# few channels of each block, the patches under the receptive field of its six strongest test images, with each
# image's class.
#
# **Predict.** If deeper units are more class-specific, their strongest images should come from fewer classes.

# %%
tops = probes.top_activating_patches(best_cnn.ensure_model(), splits.test_images, lab.runtime)
geometry = probes.block_geometry(best_cnn.ensure_model())
patches = {block: [probes.receptive_patch(splits.test_images[r.image], geometry[block], r.row, r.column)
                   for r in table.itertuples()] for block, table in tops.items()}
lab.show_figure(plots.top_patches(tops, patches, [CLASS_NAMES[c] for c in splits.test_labels]), "top_patches")

# %% [markdown]
# Six images per channel are anecdotes. The next cell measures the same thing for *every* channel of each block over
# the whole test set: the entropy of the classes among a channel's 100 strongest images (0 bits = one class, 3.3 bits
# = all ten equally), against the same measure with the labels shuffled, which is what a channel blind to class
# would score. The table's p-values test whether a block's channels score below the shuffled baseline, and whether
# block 2's channels score differently from block 1's (rank tests over the channels of this one model: Wilcoxon
# paired with each channel's shuffled score, and a two-sided Mann–Whitney between blocks).

# %%
selectivity = probes.class_selectivity(best_cnn.ensure_model(), splits.test_images, splits.test_labels, lab.runtime)
lab.write_table(selectivity, "selectivity.csv")
lab.show_figure(plots.selectivity(selectivity, lab.full_run_table("selectivity.csv")), "selectivity")
display(tables.selectivity(selectivity, lab.full_run_table("selectivity.csv")))
show_markdown(findings.describe_hierarchy(selectivity))

# %% [markdown]
# **Why.** A block-1 unit sees a 6×6 patch: an edge or a corner, which many garments share. A block-2 unit sees
# 16×16, enough for a collar, a heel or a strap, patterns that belong to fewer classes; so the expectation is lower
# entropy deeper in the network. The tests treat the channels of this one model as the sample: they say nothing
# about other seeds, and a channel can also be "selective" for something correlated with class, such as the amount
# of ink, rather than for a part of a garment.

# %% [markdown]
# ## 8. Interpretation
#
# ### 8.1 What the CNN looks at
#
# **Question.** For a given prediction, which pixels carried the evidence? Two methods from Captum, PyTorch's
# attribution library: **Grad-CAM** (Selvaraju et al., 2017) takes the feature maps of the last ReLU in block 2 (before
# its pool), weights each map by the gradient of the class score (the logit of the predicted class) averaged over
# its positions, sums them and keeps the positive part; **occlusion** hides a 6×6 patch at a time and records how much
# that score drops (negative where hiding a patch *raises* the score). The examples are chosen from the test set: shirts
# and T-shirts, classified correctly and (where the CNN makes that mistake) confused with each other, plus two other
# classes. Each map has its own scale.
#
# **Predict.** For a shirt mistaken for a T-shirt, where will the evidence be?

# %%
chosen = attribution.choose_examples(splits.test_labels, cnn_logits.argmax(1), CLASS_NAMES)
explained_images, predicted = splits.test_images[chosen], cnn_logits.argmax(1)[chosen]
cam = attribution.grad_cam(best_cnn.ensure_model(), explained_images, predicted)
occluded = attribution.occlusion(best_cnn.ensure_model(), explained_images, predicted)
titles = [f"{CLASS_NAMES[t]}\n→ {CLASS_NAMES[p]}" for t, p in zip(splits.test_labels[chosen], predicted)]
lab.show_figure(plots.attribution(explained_images, titles, cam, occluded), "attribution")

# %% [markdown]
# **Why, and what these maps cannot show.** Both maps explain the *predicted* class for one image. Grad-CAM has the
# resolution of the last block's maps, upsampled, so it says which region mattered, not which pixels; occlusion says
# what lowers the score when hidden, which may differ from what helped (a black square inside a garment is unlike any
# training image). Evidence can also sit on the background: where the garment is *not* is information too. Neither map
# shows *why* a region matters, nor what the model does with other images; they are hypotheses to test, not proofs. For
# shirts against T-shirts, look whether the evidence sits on the collar and the sleeve ends, where the two classes
# differ.
#
# ✏️ **Exercise 8.1.** Grad-CAM here uses the last ReLU of the last block. At what resolution (side length, in
# units) is the map before it is upsampled to 28×28?

# %%
my_cam_side = None  # replace None with a whole number
print(exercises.check("Grad-CAM resolution", my_cam_side))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_cam_side = 14  # block 2's convolutions run on 14×14 maps; its pool comes after the last ReLU
# ```
# </details>

# %% [markdown]
# ### 8.2 What the evidence says
#
# **Question.** This notebook grew out of a shorter workshop whose README stated results without experiments (for
# example "the CNN has about 94,000 parameters, fewer than the dense baseline", "7×7 kernels are too aggressive").
# Which of its claims hold?
#
# **Predict.** Go back to your predictions of section 6: which claims do you expect to survive?
#
# Each claim is shown beside what this run measured, the comparator it was measured against and the verdict; rows
# measured on the experiments' subset are labelled with its size.

# %%
tables.claims(headline, effects, small_gap, curve)

# %% [markdown]
# **Why.** A number without its comparator says little: "88 % with fewer parameters" means something only beside the
# dense model trained on the same images, and "7×7 is worse" only with a Holm-adjusted p-value below 0.05 (its
# interval then excludes zero, but not every interval that excludes zero earns a verdict). Each verdict
# above comes from the same statistics as section 6, so a claim reads *not resolved* when this run's seeds cannot
# settle it.
#
# **When is convolution the wrong tool?** When inputs have no neighbourhood structure (section 7.2 measures what
# scrambling does to each model); and when the relation between far-apart parts decides, which a CNN only sees after
# enough layers for one receptive field to cover both. Where absolute position is the signal, a GAP head is the wrong
# choice (it discards position), while a dense head keeps it.

# %% [markdown]
# ## 9. Saving the weights
#
# **Question.** What must be saved so that someone else can reuse the model, and can loading it run no code from the
# file? **Predict.** Will the reloaded files reproduce the accuracy measured during training exactly?
#
# The best CNN (chosen by validation accuracy among the headline seeds) is saved two ways in
# `fashion_mnist_cnn_model_pytorch/`:
#
# - `best_model.pth`: a dictionary of plain data (state dict, config, class names, normalisation, metrics, versions)
#   that loads with `torch.load(path, weights_only=True)`, so loading it runs no code from the file;
# - `complete_model.pth`: a `torch.export` program, the whole model, loadable without this package's classes.
#
# Both are re-evaluated after saving: the accuracy stated is the accuracy of the files.

# %%
from conv_workshop.artifacts import save_and_verify, write_model_card

saved = save_and_verify(best_cnn, lab.artifacts, splits.test_images, splits.test_labels, lab.profile.name)
show_markdown(findings.describe_saved_model(saved, best_cnn.record["test_accuracy"]))

# %% [markdown]
# **Why.** A state dict holds only tensors: the architecture is code, so the checkpoint also stores the config that
# rebuilds it, and the normalisation the weights expect. Plain data loads with `weights_only=True`, which refuses
# anything that would need unpickling code; a pickled model object would run whatever the file says. The files are
# evaluated in 32-bit floats on the CPU, while the experiments evaluated with the runtime's faster arithmetic (16-bit
# on a CPU that supports it), so the two accuracies of the same model can differ by a few test images.
# `complete_model.pth` is a `torch.export` program: load it with `torch.export.load(path).module()`, not
# `torch.load`.
#
# ✏️ **Exercise 9.1.** Load the checkpoint safely (without unpickling code) and read the test accuracy it records.

# %%
my_recorded_accuracy = None  # replace None with the number stored under checkpoint["metrics"]["test_accuracy"]
print(exercises.check("checkpoint accuracy", my_recorded_accuracy, path=lab.artifacts / "best_model.pth"))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# checkpoint = torch.load(lab.artifacts / "best_model.pth", weights_only=True)
# my_recorded_accuracy = checkpoint["metrics"]["test_accuracy"]
# ```
# </details>

# %% [markdown]
# ## 10. Export to ONNX
#
# **Question.** Does the model give the same answers outside PyTorch? ONNX describes the network as a graph of
# standard operators that other runtimes execute. **Predict.** How large will the largest difference between the two
# runtimes' logits be, and will any prediction change?
#
# The model is exported with a dynamic batch dimension, checked with `onnx.checker`, and compared with ONNX Runtime
# on the whole test set. Its input is float32 N×1×28×28 pixels in [0, 1]: normalisation is inside the graph. The
# model card beside the weights records the architecture, recipe, metrics and known confusions.

# %%
from conv_workshop.export import export_onnx, onnx_parity

onnx_path = export_onnx(lab.artifacts / "fashion_mnist_cnn.onnx", saved.model)
parity = onnx_parity(onnx_path, saved.model, splits.test_images, splits.test_labels)
assert parity["max_abs_logit_diff"] <= 1e-4 and parity["prediction_agreement"] >= 0.999
write_model_card(lab.artifacts / "model_card.json", best_cnn, saved, parity, splits.test_images, splits.test_labels,
                 len(splits.val_labels), lab.run_date)
tables.parity(parity)

# %% [markdown]
# **Why.** The exported graph computes the same sums as PyTorch, but its kernels may add the terms in another order;
# float32 rounding then differs in the last digits (the table shows how much), far below the gap between the top two
# logits of almost every image, so predictions agree. The check shows that the ONNX graph reproduces PyTorch's
# predictions on these images: one precondition for shipping it, not a guarantee.
#
# ## 11. Deployment
#
# **Question.** What does a service need that the notebook did not? **Predict.** What should happen when someone
# uploads a photo of a dark garment on white, or a file that is not an image?
#
# `make serve` starts a FastAPI service over the ONNX model with ONNX Runtime on `127.0.0.1:8000` (`GET /health`,
# `GET /classes`, `POST /predict` with an image upload or a JSON 28×28 array; documentation at `/docs`). Here the same
# app answers in-process. A test image becomes a 200×200 "product photo" (a dark garment on white), which the
# service's preprocessing inverts and shrinks back to 28×28; then a request that is not an image gets a clear error.

# %%
from conv_workshop.serve_demo import demo_requests, product_photo

print("true class of the photo:", CLASS_NAMES[int(data.test_labels[1])])
for reply in demo_requests(onnx_path, product_photo(data.test_images[1])):
    print(reply["request"], "->", reply["status"], json.dumps(reply["response"], indent=1, ensure_ascii=False))

# %% [markdown]
# **Why.** A deployed model meets inputs the notebook never did. Whatever arrives must be brought to the training
# distribution (one light garment on black, 28×28, pixels in [0, 1]) before the model sees it, and anything that
# cannot be must get an error that says what to send, with bounded cost, never a crash: the service checks an
# upload's format and size before decoding it.
#
# Other ways to deploy: TorchServe is in limited maintenance, so prefer this ONNX Runtime service or NVIDIA Triton
# for self-hosting; managed platforms (AWS SageMaker, Google Vertex AI, Azure ML) accept the same ONNX file or the
# `complete_model.pth` program.

# %% [markdown]
# ## 12. Summary and references
#
# The table lists every training run of this notebook, grouped by experiment and variant (all numbers are in
# `results/runs.csv`, one row per run with its versions and device).

# %%
run = lab.record_run_facts()
tables.run_summary(lab.recorder.runs_path)

# %%
show_markdown(findings.describe_run(run, lab.recorder.runs_path))

# %% [markdown]
# **What to take away**, one mechanism per idea; compare each with the predictions you wrote down:
#
# - A convolution is a small kernel slid over the image (section 4.1): the same weights at every position, so its
#   parameters do not depend on the image size, while its compute grows with the output area (4.6).
# - Output size is ⌊(n + 2p − k) / s⌋ + 1 (4.4); 'same' padding keeps the size at stride 1, pooling halves it.
# - Stacking small kernels grows the receptive field (4.7): two 3×3 layers see 5×5; every stride-2 layer doubles the
#   growth of the layers after it.
# - Convolution is equivariant to shifts; invariance, where a model has it, comes from pooling and the head (4.8, 7.1).
# - Kernels are learned, not designed: gradient descent recovers a known kernel from examples (4.9), and several of
#   the CNN's first-layer filters have a positive and a negative side, like edge detectors (5.5).
# - A comparison is fair only when the arms differ in one factor, and a difference is a finding only when the test
#   resolves it; *not resolved with N seeds* means the budget cannot tell, not that there is no difference (section 6).
#
# **References**
#
# - H. Xiao, K. Rasul, R. Vollgraf. *Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning
#   Algorithms.* arXiv:1708.07747, 2017.
# - K. Simonyan, A. Zisserman. *Very Deep Convolutional Networks for Large-Scale Image Recognition.* ICLR 2015
#   (stacked 3×3 convolutions).
# - S. Ioffe, C. Szegedy. *Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate
#   Shift.* ICML 2015.
# - M. Lin, Q. Chen, S. Yan. *Network In Network.* ICLR 2014 (global average pooling).
# - R. R. Selvaraju et al. *Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization.*
#   ICCV 2017.
# - W. Luo, Y. Li, R. Urtasun, R. Zemel. *Understanding the Effective Receptive Field in Deep Convolutional Neural
#   Networks.* NeurIPS 2016.
# - S. Holm. *A Simple Sequentially Rejective Multiple Test Procedure.* Scandinavian Journal of Statistics, 1979.
# - A. Zhang, Z. C. Lipton, M. Li, A. J. Smola. *Dive into Deep Learning*, chapter 7 (Convolutional Neural
#   Networks). https://d2l.ai
# - Stanford CS231n, *Convolutional Neural Networks for Visual Recognition*, course notes on convolutional
#   networks. https://cs231n.github.io/convolutional-networks/
# - N. Kokhlikyan et al. *Captum: A unified and generic model interpretability library for PyTorch.* 2020.
