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
# whether a difference is there. A *CNN* (convolutional neural network) is a network built mainly from convolutional
# layers; the *dense model* it is compared with has only fully connected layers (each output connected to every
# input). A run comes in one of three *profiles*, budgets of seeds, epochs and images (the words are defined below):
# `full` trains 7 seeds per CNN; `quick`, the default on a laptop, trains 3 for its primary questions (CNN against
# dense model, kernel size), so your own run reaches verdicts too, and its tables also show the committed full run's.
#
# **How to read it.** Every section is a small lesson:
# 1. a **question**, and a prompt to **predict** the answer before you run the cell (write your guess down: the
#    point is to find out where your intuition is wrong);
# 2. a short code cell whose **figure or table** answers it, followed by a few sentences generated from this run's
#    numbers;
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
# **A few words used throughout** (the glossary below lists every term with the section that defines it). A *pixel*
# value is 0 (black) to 255 (white). A network's *parameters* (weights) are the numbers training adjusts; a *unit* is
# one output number of a layer (one neuron); an *epoch* is one pass over the training images; a *seed* fixes the
# random choices of a run (initial weights, the order of images), so two seeds give two honest repetitions of the
# same experiment. *ReLU* is max(0, x) applied after a layer, which makes the network non-linear; *dropout* randomly
# zeroes some units during training so that the network cannot rely on any single one. The network's outputs are ten
# scores (*logits*), one per class; *softmax* turns them into probabilities, and the *cross-entropy* loss is
# −ln(probability of the true class). Training shows the network a *batch* of images at a time (256 here), computes
# the loss, and *back-propagates* it: computes its *gradient*, how much the loss changes with each weight. The
# *optimiser* then changes the weights to lower the loss: plain gradient descent (section 4.9) steps every weight
# against its gradient, scaled by the *learning rate*; AdamW, used for every model here, also keeps a running average
# of past gradients (momentum) and scales each weight's step by the size of its recent gradients. A network's *head*
# is its last layers, which turn features into the ten scores. An `assert` in a cell checks a hand derivation
# against PyTorch: if one fails, the text is wrong, not you.
#
# **Glossary** (with the Spanish terms of the original course).
#
# | term | término | what it is | defined in |
# |---|---|---|---|
# | kernel | núcleo (kernel) | a small grid of weights (k×k) slid over one input channel | 4.1 |
# | filter | filtro | one kernel per input channel, summed: it makes one output channel | 4.1, 4.6 |
# | channel | canal | one of the stacked maps of a layer's input or output (a grayscale image has one) | 4.1 |
# | feature map | mapa de características | one output channel: where its filter's pattern is found | 4.1 |
# | padding | relleno | zeros added around the border before sliding the kernel | 4.1, 4.4 |
# | stride | paso | how many pixels the kernel jumps between two positions | 4.4 |
# | pooling | agrupamiento (pooling) | one number per window of a map: its maximum or its mean | 4.7 |
# | receptive field | campo receptivo | the window of input pixels one unit depends on | 4.7 |
# | equivariance, invariance | equivarianza, invariancia | the output moves with the input; it does not change | 4.8 |
# | batch normalisation | normalización por lotes | standardises each channel over a batch, then rescales | 5.1 |
# | epoch, seed, batch | época, semilla, lote | a pass over the data; a run's random choices; images per step | above |
# | learning rate | tasa de aprendizaje | the size of the optimiser's steps | above, 4.9 |
# | augmentation | aumento de datos | random changes to training images (flips, shifts) that keep the label | 3.2 |
# | validation set | conjunto de validación | images held out of training to choose settings; never the test set | 3.3 |
# | arm | brazo | one side of a comparison: a model and recipe, trained with several seeds | 3.3 |
# | confidence interval | intervalo de confianza | a range built so that 95 in 100 such ranges hold the truth | 3.4 |
# | p-value; family | valor p; familia | chance alone giving so large a difference; tests corrected as one | 3.4, 6 |
# | equivalence test | prueba de equivalencia | shows a difference lies inside a margin (here ±0.5 points) | 6 |
# | power | potencia estadística | the chance that a test detects a difference of a given size | 6 |
# | cosine similarity | similitud coseno | cosine of the angle between two vectors: 1 alike, 0 unrelated | 5.5 |
# | inductive bias | sesgo inductivo | the assumptions a model builds in (locality, weight sharing, hierarchy) | 1, 7 |
# | entropy | entropía | how mixed a set of labels is, in bits: 0 = one class, 3.3 = all ten equally | 7.4 |
#
# All reusable code is in the tested package `conv_workshop/`; the notebook shows the code that teaches in its own
# cells (the models, the layer, pooling, the training loop, Grad-CAM), and tests check that it equals the package's.
# *Versión en español del README: [README.es.md](README.es.md).*

# %% [markdown]
# ## 0. Setup
#
# **Parameters.** `PROFILE` picks the budget: `smoke` (a small subset, minutes, what CI runs), `quick` (the default
# on a CPU, budgeted at 15 minutes on 2 cores) or `full` (the default on CUDA; the committed run, budgeted at 90
# minutes on 2 CPU cores). A run takes every run already recorded in its folder and trains only what is missing, so
# an interrupted run continues where it stopped. `REPLAY = True` re-renders from this profile's records and trains
# nothing new; `RESUME = False` puts the records aside and starts afresh. Left at `None`, each comes from the
# environment (the README explains all three).
# `LANGUAGE` is the language of the text the package generates: left at `None`, it is this edition's own (the
# Spanish edition, [convolutional_layers_workshop.es.ipynb](convolutional_layers_workshop.es.ipynb), generates Spanish).

# %% tags=["parameters"]
PROFILE = None  # "smoke" | "quick" | "full"; None: $WORKSHOP_PROFILE, else full on CUDA and quick elsewhere
REPLAY = None  # True: re-render from recorded runs instead of training all again; None: $WORKSHOP_REPLAY
RESUME = None  # False: put the records aside and start afresh; None: $WORKSHOP_RESUME (default: take them)
LANGUAGE = None  # "en" | "es": the generated text's language; None: $WORKSHOP_LANGUAGE, else this edition's

# %% [markdown]
# **The environment.** The next cell makes sure the workshop's package is there (in a clone of the repository it
# is; a downloaded or hosted notebook installs it, pinned to this notebook's version, from `WORKSHOP_PACKAGE`: see
# the README's "Outside the checkout"). Then it checks every package the notebook will need, sections 8–11's
# included, against the ranges of `requirements.txt`: if one is missing or out of range, it says which, with the
# command that installs it, and stops there rather than failing later.

# %%
import importlib.util
import os
import subprocess
import sys

WORKSHOP_PACKAGE = os.environ.get("WORKSHOP_PACKAGE", "conv-workshop==1.0.0")  # a wheel, a folder or a git URL
if importlib.util.find_spec("conv_workshop") is None:  # not a checkout and not installed: install it first
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", WORKSHOP_PACKAGE])
    if installed.returncode != 0:
        raise SystemExit(f"could not install {WORKSHOP_PACKAGE}: set WORKSHOP_PACKAGE (see the README)")
    importlib.invalidate_caches()  # so that this running kernel sees the package just installed
from conv_workshop.environment import require_environment

packages = require_environment()  # stops here, one line per missing package with the command that installs it

# %% [markdown]
# One call picks the device and its arithmetic: CUDA, Apple MPS, or the CPU in *bf16* (bfloat16, a 16-bit number
# format with float32's range and fewer digits) where the processor computes it natively, else in *fp32* (ordinary
# 32-bit floats). It loads the data and starts recording every training run in `results/`. The table says what this
# run ran on, with the versions in use beside those of `requirements.lock`: a number is only as trustworthy as the
# versions, device and seeds behind it.

# %%
import copy
import itertools
import json

import pandas as pd
import torch
import torch.nn.functional as F
from IPython.display import display
from torch import nn

from conv_workshop import stats
from conv_workshop.data import CLASS_NAMES, to_float_pixels
from conv_workshop.experiments import catalogue
from conv_workshop.i18n import label, translate
from conv_workshop.inspection import analysis, attribution, probes
from conv_workshop.lesson import by_hand, exercises
from conv_workshop.models import ConvConfig, ConvNet, DenseBaseline, Normalize, PixelPermutation, layer_summary
from conv_workshop.reporting import findings, plots, tables
from conv_workshop.reporting.display import show_markdown, use_notebook_display
from conv_workshop.session import start_session
from conv_workshop.training import predict_logits

lab = start_session(PROFILE, REPLAY, RESUME, LANGUAGE, edition="en")
use_notebook_display()
torch.manual_seed(0)  # the cells that draw random numbers before any training (each run seeds itself)
data, splits = lab.data, lab.splits
display(lab.setup_table(packages))
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
# 5. What do the filters and units respond to, and can the result be reused? (sections 5.5, 7.4, 8–11)

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
# left or the right edge (a non-zero pixel in the first or the last column)? The check wants it exact to four
# decimals: counting one edge only can miss by less than 0.001.

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
# Here it is as PyTorch code. `Normalize` subtracts the training images' mean pixel and divides by their standard
# deviation, inside the model, so that whoever reuses it sends pixels scaled to [0, 1] (the 0–255 value divided by 255);
# `nn.Flatten` turns each 28×28 image into 784 numbers. The cell then checks that it is the package's `DenseBaseline`,
# the model that trains below: same layers, and the same outputs once it has the package model's weights.

# %%
class Dense(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.2),
                                 nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


# %%
mine, package = Dense().eval(), DenseBaseline().eval()
mine.load_state_dict(package.state_dict())  # fails unless every layer has the same name and shape
torch.testing.assert_close(mine(to_float_pixels(data.test_images[:8])), package(to_float_pixels(data.test_images[:8])))
print(mine)

# %% [markdown]
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
# (*MACs*: one multiplication and one addition each, the unit of compute used throughout; "M" = millions).

# %%
tables.layers(layer_summary(Dense()))

# %% [markdown]
# **Why.** The first layer, with one weight per pixel per unit, dominates. It has no notion of which pixels are
# neighbours: reorder the 784 inputs the same way for every image, reorder its weights to match, and it computes
# exactly the same function (section 7.2 tests what training makes of that).

# %% [markdown]
# ### 3.2 The training loop, in plain sight
#
# **Question.** What happens in one epoch of training? Every PyTorch training loop has the same five steps per
# batch, listed here out of order: take an optimiser step, back-propagate, run the model forward, clear the old
# gradients, compute the loss.
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
# Here is the loop (`to_float_pixels` turns uint8 N×28×28 images into floats N×1×28×28 in [0, 1]):

# %%
def train_epoch(model, images, labels, optimizer, batch_size=256, seed=0):
    model.train()  # dropout on (and batch norm, later, uses each batch's own statistics)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))  # an order fixed by the seed
    for batch in order.split(batch_size):
        optimizer.zero_grad()  # 1. forget the previous batch's gradients (PyTorch adds new ones to old ones)
        loss = F.cross_entropy(model(to_float_pixels(images[batch])), labels[batch])  # 2. forward, 3. loss
        loss.backward()  # 4. the gradient of the loss with respect to every weight
        optimizer.step()  # 5. change every weight using its gradient


# %% [markdown]
# One epoch of it on the dense baseline, with the loss measured before and the accuracy after:

# %%
torch.manual_seed(0)
plain = Dense()
initial_loss = by_hand.evaluate_loss(plain, splits.val_images, splits.val_labels)
train_epoch(plain, splits.train_images, splits.train_labels, torch.optim.AdamW(plain.parameters(), lr=1e-3))
plain_accuracy = by_hand.accuracy(plain, splits.val_images, splits.val_labels)

# %% [markdown]
# ✏️ **Exercise 3.3.** Write the accuracy that cell just measured: `my_accuracy(model, images, labels)` returns the
# share of images (uint8, N×28×28) whose highest logit is the label. Evaluate in eval mode (dropout off) and without
# gradients. The check runs it on models and images of its own: from 1 to 1,300 images, with the model handed over in
# training mode; if you split the images into batches, every batch must count.

# %%
def my_accuracy(model, images, labels):
    # the share of images whose highest-scoring class is their label (a float between 0 and 1)
    raise NotImplementedError(translate("exercise 3.3: replace this line"))


print(exercises.check("accuracy", my_accuracy))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_accuracy(model, images, labels):
#     model.eval()  # dropout off: the model answers the same way every time
#     with torch.no_grad():  # no gradients needed to evaluate
#         predictions = model(to_float_pixels(images)).argmax(1)  # the class with the highest logit
#     return float((predictions == labels).float().mean())
# ```
# </details>

# %% [markdown]
# From here on, the package's `fit()` runs this same loop with a few additions a careful experiment needs: a seed
# for every random choice, a learning rate that rises then falls during the run (the "one-cycle" schedule), optional
# *augmentation* (random left-right flips or small shifts of the training images, which keep their labels; off
# here), validation a few times per run keeping the best weights, and faster arithmetic (16-bit floats where the
# hardware has them). One epoch of `fit()` from the same initial weights, without augmentation:

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
# is a running average taken while the weights still change, with dropout on (and augmentation, where used), which
# is why it can sit below validation accuracy.

# %% [markdown]
# ### 3.3 The recipe, chosen on validation data
#
# **Question.** Which augmentation should the dense model train with: none, random left-right flips, or random shifts
# of up to 2 pixels in each direction? A recipe that suits one model and handicaps another would make any later
# comparison unfair, so each model gets the augmentation that suits it best, chosen on the **validation set** (5,000
# training images held out; the test set is never used to choose anything).
#
# **Predict.** Fashion-MNIST's garments are centred, and its shoes all point the same way. Which augmentation will
# help the dense model, if any?
#
# Each *arm* (one augmentation) trains with several seeds on the experiments' 10,000 training images (section 6
# explains that subset) and their shorter budget (the table's last columns say which); the mean validation accuracy
# picks the recipe. These accuracies are lower than the baseline's in section 3.4, which trains on the whole
# training split for longer: the choice compares the three arms with each other, not with later tables. The CNN's
# recipe is chosen the same way in section 5.2.

# %%
dense_recipe = lab.choose_augmentation("dense")  # none, flips, shifts: trained on the experiments' images
display(tables.recipe_choice(dense_recipe))
show_markdown(findings.describe_recipe(dense_recipe, "dense model"))

# %% [markdown]
# **Why validation, not test.** Choosing the best of three on the test set would make the test score optimistic: part
# of the winner's lead would be luck on those particular test images, with nothing left to measure it honestly.
# Section 6.9 tests the three augmentations on the test set afterwards, as a finding rather than a choice.
#
# ### 3.4 How long the baseline should train
#
# **Question.** The CNN will train for a fixed number of epochs. Is that also enough for the dense model, or would a
# comparison at equal epochs flatter the CNN? **Predict.** Does the dense model gain from three times as many epochs?
#
# The cell trains the dense baseline with its recipe and three times the CNN's epochs, and with the CNN's own number
# of epochs, each with several seeds, on the whole training split, and compares them.
#
# **How to read an effects table** (this is the first; every comparison from here on has the same columns). "± x" after
# an accuracy is the standard deviation over seeds. The "difference" column is each variant minus the first row, with
# its 95 % *confidence interval* ("95 % CI": a range computed so that, over many repetitions of the experiment, 95 in
# 100 such ranges would contain the true difference). The *p-value* is how often noise alone would give a difference at
# least this large if the two arms did not differ, and "p (Holm)" is that p-value corrected for the other tests of its
# *family* (the tests corrected together; section 6). The **verdict** is one of four words: **better** or **worse** when
# p (Holm) is below 0.05; **equivalent within ±0.5** when an equivalence test shows the difference lies within half a
# point either way; otherwise **not resolved with N seeds** (N: the fewest seeds among the arms compared): the data
# cannot tell, which is not the same as "no difference". Section 6 explains families, the equivalence test and how many
# seeds a difference needs; until then, the difference, its interval and the verdict are enough. In the `smoke` and
# `quick` profiles, columns headed "full run" show the committed full-profile run beside yours. In the curves (seed 0 of
# the longer schedule), look whether validation accuracy is still rising at the last epoch.
# %%
dense_runs = lab.train_family("schedule")  # {"dense schedule": {variant: runs}} (catalogue.schedule_variants)
schedule = lab.effects(dense_runs, "schedule")  # stats.effects_table, corrected within its declared family
dense = {"dense baseline": dense_runs["dense schedule"]["dense baseline"]}
lab.show_figure(plots.training_curves({"dense baseline": dense["dense baseline"][0].fit.history}), "training_dense")
display(tables.effects(schedule, lab.full_run_effects("schedule"), epochs=True))
show_markdown(findings.describe_effects(schedule))

# %% [markdown]
# **Why.** A baseline stopped early makes any rival look good, and so does one trained with a recipe that suits only its
# rival. The dense model is cheap (an epoch costs a fraction of a CNN epoch), so it trains three times the CNN's epochs:
# a declared budget difference, shown in the epochs column of the tables that compare them (sections 3.4, 5.2 and 7.3).
# This tests whether the extra epochs help; whether even more would help further is not tested.

# %% [markdown]
# ## 4. The convolutional layer by hand
#
# ### 4.1 One convolution, written out
#
# **Question.** What number does a convolutional layer compute at one output position?
#
# **Words first.** A *kernel* is a small grid of weights, here 3×3. At each position the layer multiplies the kernel
# by the pixels under it and adds the nine products: one output number, one *unit*. Sliding the kernel over every
# position gives a map of outputs, a *feature map*: where the kernel's pattern is found. The *padding* (`padding=1`)
# adds a border of zeros one pixel wide, so that the kernel also fits at the edges and the map keeps 28×28 (section
# 4.4 counts it). The shapes follow PyTorch: an image is C×H×W (*channels* × height × width; a grayscale image has
# one channel). A layer with C_in input channels has, for each output channel, one kernel per input channel and adds
# their results: that stack of C_in kernels is a *filter*, and a layer of C_out filters has weights C_out×C_in×k×k.
# For now C_in = C_out = 1, so filter and kernel coincide; section 4.6 uses more.
#
# **Predict.** Slide the kernel below (a vertical-edge detector) over a pair of trousers. Where will the output be
# large and positive, and where large and negative?
#
# Here are the loops. The sum `(window * kernels[o]).sum()` runs over all input channels at once:

# %%
def correlate2d(image, kernels, padding=0):  # image: C_in×H×W, kernels: C_out×C_in×k×k, stride 1
    image = F.pad(image, (padding, padding, padding, padding))  # zeros around the border
    c_out, k = kernels.shape[0], kernels.shape[-1]
    out = torch.zeros(c_out, image.shape[1] - k + 1, image.shape[2] - k + 1)
    for o in range(c_out):  # each output channel: one filter
        for i, j in itertools.product(range(out.shape[1]), range(out.shape[2])):  # each (row, column) position
            out[o, i, j] = (image[:, i:i + k, j:j + k] * kernels[o]).sum()  # Σ over channels and the k×k window
    return out


# %% [markdown]
# Checked against PyTorch's `F.conv2d` (`x[None]` adds the batch dimension it expects in front) and against the
# same computation with `unfold`, which turns every window into a column so that all outputs are one matrix product:

# %%
trousers = by_hand.as_chw(data.test_images[2])  # a test image, as floats in [0, 1]
kernel = by_hand.KERNELS["vertical edge (Sobel x)"]  # 3×3
by_loops = correlate2d(trousers, kernel[None, None], padding=1)  # kernel[None, None]: 1×1×3×3 (C_out × C_in × k × k)
torch.testing.assert_close(by_hand.correlate2d_unfold(trousers, kernel, padding=1), by_loops)
torch.testing.assert_close(F.conv2d(trousers[None], kernel[None, None], padding=1)[0], by_loops)
lab.show_figure(plots.convolution_check(trousers[0], kernel, by_loops[0], F.conv2d(trousers[None], kernel[None, None],
                                                                             padding=1)[0, 0]), "by_hand_convolution")

# %% [markdown]
# **Why.** The output is large where the kernel's pattern matches the window: positive where the image gets brighter
# from left to right (the left edge of each leg), negative where it gets darker (the right edge), zero on flat
# regions. The *same* nine weights are used at every position; this weight sharing is why a 3×3 kernel has nine
# weights whatever the image size. `unfold` followed by a matrix product ("im2col") is one of several ways libraries
# compute a convolution; others are implicit matrix products, Winograd's and FFT-based algorithms and direct kernels,
# chosen per layer shape and device. All give the same result up to floating-point rounding: im2col and direct
# kernels add the same products in different orders, Winograd and FFT reach it through transformed arithmetic.
#
# ### 4.2 Cross-correlation, not convolution
#
# **Question.** In mathematics, convolution flips the kernel (top to bottom and left to right) before sliding it.
# Does PyTorch? The kernel below is deliberately lopsided: a single 1 in the bottom-right corner of a 5×5 grid, so
# each output copies the pixel two rows below and two columns to the right of the window's centre.
#
# **Predict.** Which way does the trousers' image move under the kernel as stored, and which way under the flipped
# kernel?

# %%
corner = torch.zeros(5, 5)
corner[4, 4] = 1.0  # an asymmetric kernel: its flip (a 1 in the top-left corner) is a different kernel
as_stored = correlate2d(trousers, corner[None, None], padding=2)
flipped_response = by_hand.convolve2d(trousers, corner, padding=2)
torch.testing.assert_close(F.conv2d(trousers[None], corner[None, None], padding=2)[0], as_stored)
lab.show_figure(plots.correlation_vs_convolution(corner, as_stored[0], flipped_response[0], trousers[0]),
                "by_hand_flip")

# %% [markdown]
# **Why.** PyTorch's `nn.Conv2d` computes cross-correlation: the kernel is used as stored, not flipped (the black line
# is where the trousers were). With the 1 in the bottom-right corner, each output reads the pixel down and to the right
# of it, so the image moves 2 pixels up and to the left; convolution flips the kernel first, and the image moves 2
# pixels down and to the right instead. (A symmetric kernel hides the difference; Sobel-x only changes sign when
# flipped.) For a layer that *learns* its kernels the distinction does not matter (it would simply learn the flipped
# weights), but it matters when you copy a kernel from a textbook that uses the flipped convention.

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
# **Why.** Each kernel is a template of a small pattern, and its response is large where the window under it looks like
# the template. The vertical-edge kernel responds to left and right outlines (red where brightness rises to the right,
# blue where it falls: the sides of a shirt, the legs of trousers); the horizontal-edge kernel to top and bottom
# outlines (shoulders, the top of a bag); the diagonal kernel most to slanted outlines, but also to vertical and
# horizontal ones (it is roughly Sobel-x minus Sobel-y, so it shares part of each); blur averages texture away; sharpen
# exaggerates it. Whether a trained CNN's first layer ends up with kernels of this kind is a question for section 5.5,
# which looks at them and measures how edge-like they are.
#
# ✏️ **Exercise 4.1.** Design a 3×3 kernel that responds to *horizontal* edges (a change from dark above to light
# below, or the reverse), gives no response to vertical edges, and gives zero on a flat area. The check tries both
# kinds of edge at every position and several brightnesses: "no response" and "zero" mean exactly 0.

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
# **Question.** A 28×28 input, a k×k kernel, padding p on each side, and a *stride* s (how many pixels the kernel
# jumps between two positions; every layer so far used s = 1): what size comes out?
#
# **Predict.** 28×28 with a 5×5 kernel, padding 1, stride 2?
#
# The kernel fits ⌊(n + 2p − k) / s⌋ + 1 times along each side. The table checks the formula against `nn.Conv2d`
# for nine cases (the last one, k = 2 with stride 2, is the shape of a 2×2 pooling window, section 4.7):

# %%
cases = [(28, 3, 0, 1), (28, 3, 1, 1), (28, 5, 2, 1), (28, 5, 1, 2), (28, 7, 3, 1), (28, 3, 1, 2), (14, 3, 0, 1),
         (7, 3, 1, 2), (28, 2, 0, 2)]
sizes = by_hand.output_size_check(cases)
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
# ✏️ **Exercise 4.2.** Write the formula as a function. The check compares it with the output of a real
# `nn.Conv2d` for over a hundred combinations of input size, kernel, padding and stride.

# %%
def my_output_side(n, k, padding, stride):
    # the side length of a convolution's output for an n×n input and a k×k kernel
    raise NotImplementedError(translate("exercise 4.2: replace this line with the formula"))


print(exercises.check("output side", my_output_side))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_output_side(n, k, padding, stride):
#     return (n + 2 * padding - k) // stride + 1  # // rounds down: a kernel that does not fit is not used
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
cnn = ConvNet()
costs = by_hand.conv_cost_check(cnn)
assert (costs["parameters (formula)"] == costs["parameters (layer_summary)"]).all()
assert (costs["MACs (formula)"] == costs["MACs (layer_summary)"]).all()
tables.conv_costs(costs, layer_summary(cnn))

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
# **The sum over channels, checked.** The `correlate2d` of section 4.1 already sums over input channels. Here it is on
# a 3-channel input with 2 filters, against `F.conv2d`; then one filter taken apart: each input channel correlated
# with its own kernel, and the three results added, give that filter's output map. (Section 5.6 does the same with
# the trained CNN's 32 block-1 maps.)

# %%
x = torch.randn(3, 6, 6)  # 3 input channels of 6×6
filters = torch.randn(2, 3, 3, 3)  # 2 filters, each with one 3×3 kernel per input channel
torch.testing.assert_close(correlate2d(x, filters), F.conv2d(x[None], filters)[0])
per_channel = [correlate2d(x[c:c + 1], filters[:1, c:c + 1]) for c in range(3)]  # channel c with kernel c only
torch.testing.assert_close(sum(per_channel), correlate2d(x, filters[:1]))  # filter 0's output: their sum

# %% [markdown]
# **The 1×1 convolution.** With k = 1 a filter holds one weight per input channel, so at every pixel it computes a
# weighted sum of the C_in values found there: a dense layer from C_in to C_out, applied at every pixel with the same
# weights. Networks use it to mix or reduce channels cheaply (Lin et al., 2014). Checked on 32 maps of 7×7:

# %%
maps = torch.randn(32, 7, 7)
mixing = torch.randn(8, 32)  # a dense layer from 32 to 8 values
per_pixel = (mixing @ maps.flatten(1)).reshape(8, 7, 7)  # the dense layer applied to each pixel's 32 values
torch.testing.assert_close(F.conv2d(maps[None], mixing[:, :, None, None])[0], per_pixel)  # = a 1×1 convolution

# %% [markdown]
# ✏️ **Exercise 4.5.** Extend `correlate2d` to a stride and a bias: `my_correlate2d(image, kernels, bias, stride)`
# takes C_in×H×W, C_out×C_in×k×k and C_out biases (no padding), and returns what `F.conv2d` returns for one image. The
# check compares them on seven random cases: one or several channels, square and non-square images, kernels from 1×1
# to the whole image, strides 1 to 3. It leaves room only for rounding, and your function must not change its inputs.

# %%
def my_correlate2d(image, kernels, bias, stride):
    # multi-channel cross-correlation with a stride and one bias per output channel, without padding
    raise NotImplementedError(translate("exercise 4.5: replace this line; section 4.4 gives the output size"))


print(exercises.check("strided correlate2d", my_correlate2d))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_correlate2d(image, kernels, bias, stride):
#     (c_out, _, k, _), (_, height, width) = kernels.shape, image.shape
#     out = torch.zeros(c_out, (height - k) // stride + 1, (width - k) // stride + 1)
#     for o, i, j in itertools.product(*map(range, out.shape)):
#         window = image[:, i * stride:i * stride + k, j * stride:j * stride + k]  # the window starts s pixels on
#         out[o, i, j] = (window * kernels[o]).sum() + bias[o]
#     return out
# ```
# </details>
#
# ### 4.7 Pooling and the receptive field
#
# **Question.** *Pooling* replaces each window of a feature map by one number, channel by channel: max pooling keeps
# the window's largest value, average pooling its mean. A 2×2 pool with stride 2 keeps a quarter of the positions.
# After a few layers, how large a window of the input does one unit depend on (its *receptive field*)?
#
# **Predict.** After two 3×3 convolutions, a 2×2 pool and two more 3×3 convolutions, how many input pixels wide is
# what one unit sees?
#
# First, max pooling written out and checked against `F.max_pool2d` on the vertical-edge map of section 4.1:

# %%
def max_pool(feature_map, size=2):  # C×H×W in; the largest value of each size×size window, channel by channel
    channels, height, width = feature_map.shape
    out = torch.zeros(channels, height // size, width // size)  # a window that does not fit is dropped
    for i, j in itertools.product(range(height // size), range(width // size)):
        out[:, i, j] = feature_map[:, i * size:(i + 1) * size, j * size:(j + 1) * size].amax(dim=(1, 2))
    return out


feature_map = by_loops.relu()  # the vertical-edge response of section 4.1, after a ReLU as in the CNN
torch.testing.assert_close(max_pool(feature_map), F.max_pool2d(feature_map[None], 2)[0])

# %% [markdown]
# ✏️ **Exercise 4.6.** Write average pooling, `my_avg_pool2d(feature_map, size)`: the mean of each size×size window
# (stride = size), per channel. The check compares it with `F.avg_pool2d` on random maps, including non-square maps,
# sizes that do not divide the map and a window as large as the map.

# %%
def my_avg_pool2d(feature_map, size):
    # the mean of each size×size window of a C×H×W map, windows `size` apart
    raise NotImplementedError(translate("exercise 4.6: replace this line (max_pool above is one line away)"))


print(exercises.check("average pooling", my_avg_pool2d))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_avg_pool2d(feature_map, size):
#     channels, height, width = feature_map.shape
#     out = torch.zeros(channels, height // size, width // size)
#     for i, j in itertools.product(range(height // size), range(width // size)):
#         out[:, i, j] = feature_map[:, i * size:(i + 1) * size, j * size:(j + 1) * size].mean(dim=(1, 2))
#     return out
# ```
# </details>
#
# Now the receptive field, by its recurrence: each k×k layer adds k − 1 steps of the grid it runs on, and each
# stride-s layer makes that grid s times coarser (its *jump*, the distance in input pixels between neighbouring
# units, is multiplied by s). The cell runs the recurrence over the CNN's convolutions and pools and compares it with
# the receptive-field column of `layer_summary`:

# %%
summary_rows = layer_summary(ConvNet())
fields = tables.receptive_fields(by_hand.receptive_field_check(summary_rows), summary_rows)
field, jump, by_recurrence = 1, 1, []  # one pixel sees itself; neighbouring units are 1 pixel apart
for k, s in zip(fields.kernel, fields.stride):
    field, jump = field + (k - 1) * jump, jump * s  # k − 1 more steps of the current grid, then a coarser grid
    by_recurrence.append(field)
# this loop, the table's "by hand" column (by_hand.receptive_fields) and layer_summary agree: the table is its result
assert by_recurrence == fields["by hand"].tolist() == fields["layer_summary"].tolist()

# %%
lab.show_figure(plots.receptive_fields(data.test_images[0], list(zip(fields.layer, by_recurrence))), "receptive_field")
fields

# %% [markdown]
# **Why.** Each k×k layer widens the receptive field by (k − 1) × jump, and every stride-2 layer doubles the jump.
# So two 3×3 layers see 5×5 (VGG's
# argument for stacking small kernels: the same window as one 5×5 with fewer weights and an extra ReLU, Simonyan &
# Zisserman 2015), and layers after a pool grow twice as fast. The *effective* receptive field is smaller than this
# theoretical one: pixels near its centre weigh much more (Luo et al., 2016).
#
# ✏️ **Exercise 4.7.** Three 3×3 convolutions (stride 1), then a 2×2 max pool (stride 2), then one more 3×3
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
# **Question.** Move an image 1 pixel, then 2 pixels, to the right. What happens to a convolution's output? To the
# output of 2×2 max pooling? To the global average of the output (the mean over all positions, one number per map)?
#
# **Predict.** Which of the three moves with the image, which changes, and which nearly stays the same? Does the
# answer for pooling depend on whether the shift is 1 or 2 pixels? (As in the CNN, a ReLU follows the convolution.)

# %%
responses = [by_hand.shift_response(trousers, kernel, shift) for shift in (1, 2)]
assert all(r.conv_interior_difference < 1e-5 for r in responses)  # the convolution moved with its input
demos = [by_hand.shift_demo(trousers, kernel, shift) for shift in (1, 2)]
lab.show_figure(plots.shift_response(demos), "by_hand_shift")
tables.shift_responses(responses)

# %% [markdown]
# **Why.** Because the same kernel is applied at every position, shifting the input shifts the output by the same
# amount: convolution is **equivariant** to translation (exactly, away from the border where zeros enter). 2×2 max
# pooling with stride 2 is equivariant only to shifts by whole pooling cells: a 2-pixel shift moves the pooled map by
# one cell, while a 1-pixel shift moves every window's content across the window's edge and changes many pooled values
# (the middle row of the figure, compared with the pooled map moved by one cell). A 1-pixel shift is half a cell, so no
# whole-cell move can match it: the table compares with the closer of 0 and 1 cell, and counts only the positions on the
# garment (the background is zero either way). A global average over the whole map barely changes: it is nearly
# **invariant**. A classifier needs invariance (a shifted shirt is still a shirt); convolutions give equivariance, and
# pooling and the head must turn it into invariance. Section 7.1 measures how much of that trained CNNs achieve.

# %% [markdown]
# ### 4.9 Learning a kernel from data
#
# **Question.** A CNN does not get its kernels by hand: it learns them by gradient descent. Can gradient descent
# recover a known kernel from examples of what it does?
#
# **Predict.** Starting from small random weights, how many steps until every learned weight is within 0.05 of
# Sobel-x's?
#
# The data: 64 training images and what the "unknown" kernel (Sobel-x) makes of them. The model: nine weights,
# starting small and random. The loss: the mean squared difference between the two outputs.

# %%
images = to_float_pixels(data.train_images[:64])  # N×1×28×28
targets = F.conv2d(images, kernel[None, None])  # what the unknown kernel makes of them
weights = (0.1 * torch.randn(1, 1, 3, 3, generator=torch.Generator().manual_seed(0))).requires_grad_()
losses, errors = [], []  # the loss, and how far the weights still are from Sobel-x, after each step

# %% [markdown]
# Plain gradient descent: compute the loss, back-propagate, move each weight against its gradient, repeat.

# %%
for _ in range(500):
    loss = F.mse_loss(F.conv2d(images, weights), targets)
    loss.backward()  # weights.grad: how the loss changes with each of the nine weights
    with torch.no_grad():  # the update itself is not part of the model
        weights -= 0.5 * weights.grad  # one step downhill; 0.5 is the learning rate
        weights.grad = None  # forget this step's gradient before the next backward
    losses.append(loss.item())
    errors.append(float((weights.detach()[0, 0] - kernel).abs().max()))

# %%
learned = weights.detach()[0, 0]
torch.testing.assert_close(learned, kernel, atol=0.05, rtol=0)  # it found Sobel-x
torch.testing.assert_close(learned, by_hand.learn_kernel(data.train_images[:64], kernel, steps=500).kernel)
lab.show_figure(plots.learned_kernel(kernel, learned, losses, errors), "by_hand_learned_kernel")

# %% [markdown]
# **Why.** The output of a convolution is linear in its weights, so the squared error between the learned kernel's
# output and the target is a smooth bowl with one minimum (given enough varied images), and gradient descent walks
# down to it (d2l chapter 7 makes the same point with a [1, −1] kernel). A CNN solves a harder version of this
# problem: 32 kernels at once, followed by non-linear layers, with only the class label as the target.

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
if lab.live:
    from conv_workshop.lesson.playground import playground_widget

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
# **Question.** The workshop's CNN stacks two blocks of (3×3 conv → batch norm → ReLU) × 2 → 2×2 max pool, with
# 32 then 64 channels, then the head: flatten → dense 128 → ReLU → dropout 0.3 → 10. Where are its parameters?
#
# **Predict.** Will it have more or fewer parameters than the dense baseline?
#
# *Batch normalisation* (`nn.BatchNorm2d`; Ioffe & Szegedy, 2015) standardises each channel over the images of a batch
# and all positions (subtract the mean, divide by the standard deviation, then a learned scale and shift; at
# evaluation it uses averages kept during training). Here is the CNN as PyTorch code:

# %%
def conv_block(c_in, c_out):  # (3×3 conv → batch norm → ReLU) × 2, then a 2×2 max pool
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.MaxPool2d(2)]


# %%
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Normalize(), *conv_block(1, 32), *conv_block(32, 64))  # 1×28² → 64×7²
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3),
                                  nn.Linear(128, 10))

    def forward(self, x):
        return self.head(self.features(x))


# %% [markdown]
# As for the dense model, the check: the package's `ConvNet()`, which every experiment trains, is this network (it
# builds the same layers from a `ConvConfig`, so that section 6 can change one setting at a time).

# %%
mine, package = CNN().eval(), ConvNet().eval()
mine.load_state_dict(package.state_dict())  # the same layer names and shapes
torch.testing.assert_close(mine(to_float_pixels(data.test_images[:8])), package(to_float_pixels(data.test_images[:8])))
tables.layers(layer_summary(mine))

# %% [markdown]
# **Why.** The convolutions are cheap in parameters and expensive in compute; the dense head is the opposite. Its
# first layer connects 3,136 inputs to 128 units and holds most of the model's weights, which is why a CNN can have
# *more* parameters than a dense network on the same image. Section 6.8 replaces the head with global average
# pooling (Lin et al., 2014) to test whether they are needed. Why batch normalisation helps training is debated (its
# authors' explanation, "internal covariate shift", was questioned by Santurkar et al., 2018); section 6.7 measures
# what removing it does here, not why.
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
# my_head_parameters = 64 * 7 * 7 * 128 + 128  # most of the model
# ```
# </details>
#
# ✏️ **Exercise 5.2.** Build a smaller CNN, `MyCNN`, with one convolution per block and a global-average-pooling head
# (GAP: the mean of each final map, one number per channel). Its shapes must be 1×28×28 → conv 3×3 'same', no
# bias → 16×28×28 → batch norm, ReLU, 2×2 max pool → 16×14×14 → the same with 32 channels → 32×7×7 →
# `nn.AdaptiveAvgPool2d(1)` and `nn.Flatten()` → 32 → `nn.Linear` → 10, returning the logits. The check gives your
# layers the weights of the model described (matched in the order `forward` uses them), then compares the outputs in
# eval and in training mode, on batches of one and of several images. Every layer you build must be used.

# %%
class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        raise NotImplementedError(translate("exercise 5.2: build the layers here (conv_block above is a model)"))

    def forward(self, x):
        raise NotImplementedError(translate("exercise 5.2: run the layers on x"))


print(exercises.check("small CNN", MyCNN))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# class MyCNN(nn.Module):
#     def __init__(self):
#         super().__init__()
#         self.layers = nn.Sequential(
#             nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
#             nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
#             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
#
#     def forward(self, x):
#         return self.layers(x)
# ```
# </details>

# %% [markdown]
# ### 5.2 The CNN against the dense baseline
#
# **Question.** Each model with its own best augmentation and everything else shared (optimiser, schedule shape,
# data), is the CNN better, and by how much?
#
# **Predict.** Which augmentation will the CNN choose? Then: which model wins, by how many percentage points, and is
# the difference larger than the seed-to-seed noise?
#
# First the CNN's recipe, chosen on validation exactly as the dense model's was in section 3.3:

# %%
cnn_recipe = lab.choose_augmentation("CNN")  # none, flips, shifts, as for the dense model in section 3.3
display(tables.recipe_choice(cnn_recipe))
show_markdown(findings.describe_recipe(cnn_recipe, "CNN"))

# %% [markdown]
# Then the headline comparison: the default CNN with the profile's seeds against the dense baseline of section 3.3.
# It is one of the three *primary* tests (with 5×5 and 7×7 against 3×3 kernels in section 6.1), corrected together;
# the two not yet run count as p = 1 here, which can only make this verdict stricter.
# %%
headline_runs = lab.train_family("headline")  # the dense baseline above (reused) and ConvNet(ConvConfig())
headline = lab.effects(headline_runs, "headline")  # Holm over the primary family (3 tests)
cnn = {"CNN": headline_runs["CNN vs dense"]["CNN"]}
histories = {"dense baseline": dense["dense baseline"][0].fit.history, "CNN": cnn["CNN"][0].fit.history}
lab.show_figure(plots.training_curves(histories, translate("Dense baseline vs CNN (seed 0)")), "training_curves")
display(tables.effects(headline, lab.full_run_effects("headline"), epochs=True))
show_markdown(findings.describe_effects(headline))

# %% [markdown]
# **Why.** Both models see the same images, optimiser and schedule shape; they differ in the architecture (dropout
# included), in their augmentation (each its best on validation) and in the dense model's three-times-longer
# schedule (section 3.4 measures what that does for it). Why a CNN can win: locality and weight sharing let it
# learn an edge or collar detector once and reuse it at every position, while a dense layer has separate weights for
# each position, so a pattern learned at one place does not automatically carry over to another. That is a possible
# mechanism, not what this comparison measured: the CNN also has about four times the parameters, far more
# multiply-adds (the table's MACs column) and batch normalisation, so this row alone cannot say which of these
# differences buys the gain. Sections 6.6–6.8 and 7.2 vary them one at a time. The interval is for the difference of
# the means, and counts both seed noise and the noise of a finite test set (section 6 explains it).

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
heatmap = plots.confusion_heatmap(matrix, CLASS_NAMES, translate("CNN confusion matrix (test set)"))
lab.show_figure(heatmap, "confusion_matrix")

# %% [markdown]
# **Predict.** Per class, beside the dense baseline: where will the CNN gain most, and where least?

# %%
per_class = analysis.per_class_table({"dense baseline": dense_predictions, "CNN": cnn_logits.argmax(1)},
                                     splits.test_labels, CLASS_NAMES)
lab.show_figure(plots.per_class_dots(per_class, translate("Per-class test accuracy"), counts=analysis.class_counts(
    splits.test_labels, CLASS_NAMES)["count"]), "per_class")
show_markdown(findings.describe_confusions(matrix, per_class, closest))

# %% [markdown]
# **Why.** Where two classes share their outline (shirts, T-shirts, pullovers, coats) only local details separate them,
# and at 28×28 pixels many of those details are gone: that is where any model is expected to struggle. Classes with a
# distinctive outline (trousers, bags, footwear) are already easy for the dense model, so little is left to gain there;
# whether local detectors recover the lost details of the look-alike tops is what the figure measures. The bars are 95 %
# intervals for each model's accuracy on that class's test images (one seed each, so test-set noise only). Both models
# are scored on the *same* images, so whether a per-class gain is real is a paired question (did the CNN fix more of
# these images than it broke?), which two separate intervals do not answer: overlapping bars do not mean "no
# difference".
#
# **Predict.** On how many of the ten classes is the CNN's gain more than test-set luck?
#
# McNemar's test answers the paired question: among the images exactly one model gets right, a real tie would split
# them evenly, like fair coin tosses; the p-value says how surprising the observed split is, corrected with Holm over
# the ten classes.

# %%
per_class_tests = stats.mcnemar_by_class(cnn_logits.argmax(1) == splits.test_labels,
                                         dense_predictions == splits.test_labels, splits.test_labels, CLASS_NAMES)
display(tables.per_class_tests(per_class_tests))
show_markdown(findings.describe_per_class_tests(per_class_tests))

# %% [markdown]
# **Why.** The images both models get right, or both get wrong, say nothing about which model is better; only the
# disagreements do. That is why a paired test can resolve a gain that two overlapping intervals leave open. The test
# holds these two trained models fixed: whether another pair of seeds would differ on a class is not what it asks.

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
show_markdown(findings.describe_confidence(confidence, cnn_logits.argmax(1) == splits.test_labels))

# %% [markdown]
# **Why.** The sentence under the gallery answers the question in numbers: a model that was merely unsure when wrong
# would have almost no mistakes above 90 %. In the gallery, look for two kinds of error: images that are ambiguous at
# 28×28 even to a person (or carry a doubtful label), and images the model should have got. Mislabelled test images,
# if there are any, cap any model's measured accuracy. Confidence is not correctness: cross-entropy rewards pushing
# the true class's probability towards 1 on the training images, so networks trained this way tend to give extreme
# probabilities (Guo et al., 2017, measure this overconfidence), and nothing in training stops them from doing so on
# a test image they get wrong.
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
# orientations) and filters with a centre unlike its surround (spot detectors). Whatever the first layer holds,
# nothing told it to: gradient descent changed random initial weights to lower the training loss (section 4.9
# showed the mechanism on one kernel). Looking is not measuring, so the next cell measures "edge-like": for each
# filter, the largest |cosine similarity| (1 = the same pattern up to scale and sign, 0 = unrelated) with an edge
# detector at any of four orientations (either polarity), beside the same for random filters drawn as at
# initialisation. The p-value it gives is how often chance alone would separate the two this much (section 6 says
# more).

# %%
edges = probes.edge_likeness(first_conv.weight)
lab.show_figure(plots.edge_likeness(edges), "filters_edge_likeness")
show_markdown(findings.describe_edge_likeness(edges))

# %% [markdown]
# **What the comparison can and cannot show.** A random 3×3 filter already has some cosine with the closest of the
# four edge detectors by chance, which is why the comparison needs the random baseline. Trained filters that score
# higher than random ones have moved towards edge detection. Filters that score no higher are not useless: batch
# normalisation and a ReLU follow them, and block 2 sums 32 of their maps at once (section 5.6), so an edge detector
# can be built one layer up from filters that do not look like Sobel kernels themselves; nine weights are also too
# few for a clean template once they must serve several patterns. Either way, that the filters *help* classification
# is a further claim this measurement does not test.
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
#
# **One filter at work.** Block 2's first convolution reads all 32 maps that block 1 produced. Each of its 64
# filters holds 32 kernels of 3×3, one per input map. The cell takes the first filter apart: each block-1 map of the
# image above, correlated with its own kernel by section 4.1's `correlate2d`, and the sum of the 32 results. The check
# asserts that this sum is what PyTorch's convolution computes for that filter.

# %%
trained = copy.deepcopy(best_cnn.ensure_model()).cpu().float().eval()  # a CPU copy; the original stays on its device
block1, block2_conv = trained.features[:8], trained.features[8]  # Normalize + block 1's 7 layers; then block 2's conv
with torch.no_grad():
    block1_maps = block1(to_float_pixels(data.test_images[:1]))[0]  # 32×14×14
    one_filter = block2_conv.weight[:1]  # filter 0 of block 2's first convolution: 1×32×3×3
per_channel = torch.stack([correlate2d(block1_maps[c:c + 1], one_filter[:, c:c + 1], padding=1)[0] for c in range(32)])
torch.testing.assert_close(per_channel.sum(0), F.conv2d(block1_maps[None], one_filter, padding=1)[0, 0])

# %%
lab.show_figure(plots.multichannel_filter(block1_maps, one_filter[0], per_channel, per_channel.sum(0)),
                "multichannel_filter")

# %% [markdown]
# **Why.** A filter does not look at one map at a time: its output at a position is the sum of 32 small
# cross-correlations, so it responds where a *combination* of block-1 patterns occurs (for example, an edge in one map
# next to a blob in another). That is how a second layer can build larger patterns out of combinations of the first
# layer's, and why its weights grow with C_in × C_out (section 4.6).

# %% [markdown]
# ## 6. Controlled experiments
#
# Each experiment changes **one** factor of the default CNN and holds everything else fixed: data, recipe, epochs,
# seeds. To keep the full profile affordable on a laptop's CPU, every controlled experiment trains on a
# class-balanced subset of the training set (10,000 images, 5 epochs in the full profile), with its own reference
# CNN trained on the same subset; the headline models of sections 3 and 5 use all of it. So these are answers *for
# that data budget*.
#
# The variants, each a `ConvConfig` that differs from the default `ConvConfig()` (the `CNN` of section 5.1) in one
# setting:

# %%
pd.DataFrame([{"experiment": experiment, "variant": variant, "configuration": config.label()}
              for experiment, variants in catalogue.controlled_experiments().items()
              for variant, config in variants.items()])

# %% [markdown]
# **How a verdict is reached.** For each variant we compute the difference of mean test accuracy from the reference
# CNN, with a 95 % interval that counts two sources of noise, each once:
#
# - **seed to seed**: how much one run's test accuracy varies between seeds. Every arm of this section trains on
#   the same images with the same recipe, so their seed variances are *pooled* (averaged) into one estimate with
#   the degrees of freedom of all of them: more seeds of evidence than any single arm has;
# - **the test set**: which 10,000 images the test set happens to hold. Both models score the same images, so this
#   part is measured image by image, on the difference. An image's correctness also flips between seeds; that flip
#   is already in the seed part, so it is estimated and subtracted here rather than counted twice.
#
# The verdicts are corrected within declared *families*: Holm's correction keeps the chance of *any* false "better"
# or "worse" within a family at 5 % at most (it says nothing across families). The **primary** family is the
# original workshop's claims: CNN against dense model (5.2), and 5×5 and 7×7 against 3×3 kernels (6.1), 3 tests.
# The **secondary** family is every other factor of 6.2–6.8 against the reference CNN. Each other table (the recipe
# check of 3.4, the small network of 6.8, augmentation in 6.9, the probes of section 7) is its own family. A
# "no difference" needs its own test: the *equivalence test* (TOST, two one-sided tests) reads **equivalent within
# ±0.5** only when the difference is shown to be above −0.5 *and* below +0.5 points. The module's tests check by
# simulation that these 95 % intervals cover the truth 93–97 % of the time and that a true zero is called a
# difference at most 5 % of the time. In the figures, filled markers are resolved and hollow ones are not.
#
# **Predict before you run** (and write it down): which of these changes will help, which will hurt, and which will
# not matter? 3×3 vs 5×5 vs 7×7 kernels; 1, 2 or 3 blocks; pooling vs strided convolutions; same vs valid padding;
# max vs average pooling; a narrower network; no batch norm; a global-average-pooling head.
#
# The next cell trains every variant with the profile's seeds: it is the notebook's longest (runs already recorded
# by an interrupted or earlier execution of this cell are reused).

# %%
controlled = {**lab.train_family("kernel size"), **lab.train_family("controlled")}  # {experiment: {variant: runs}}
primary = lab.effects({**headline_runs, "kernel size": controlled["kernel size"]}, "kernel size")  # 3 tests
others = {name: runs for name, runs in controlled.items() if name != "kernel size"}
secondary = lab.effects(others, "controlled")  # Holm over the secondary family
effects = pd.concat([primary[primary.experiment == "kernel size"], secondary], ignore_index=True)
full_run = lab.full_run_effects("kernel size", "controlled")
show_markdown(findings.describe_resolution(secondary))

# %% [markdown]
# **How many seeds does a difference need?** The smaller a difference, the more seeds it takes to tell it from
# noise. *Power* is the chance that the test detects a true difference of a given size. **Predict:** with the noise
# just measured, how many seeds per arm does a 0.5-point difference need for 80 % power?

# %%
noise = stats.family_noise(others, splits.test_labels, catalogue.family_size("controlled", lab.profile))
display(tables.power(noise.power_table()))
show_markdown(findings.describe_noise(noise, len(lab.profile.seeds)))

# %% [markdown]
# **Why.** Averaging n seeds shrinks the seed noise of a mean by √n, but the test-set part stays whatever the seeds:
# a fixed test set of 10,000 images limits how small a difference any number of seeds can resolve. Holm's correction
# raises the bar for each test of a larger family, so a family of many tests needs more seeds per arm.
#
# ### 6.1 Kernel size
#
# **Question.** Does a larger kernel help on 28×28 images? Only the kernel size of every convolution changes, with
# 'same' padding so every variant feeds the same head.
#
# **Predict.** 3×3, 5×5 or 7×7: which wins, and at what cost?

# %%
lab.show_effects(effects, "kernel size", full_run)
show_markdown(findings.describe_effects(primary))  # the primary family: the headline test and both kernel tests

# %% [markdown]
# **Why.** Parameters and MACs of each convolution grow with k², but a larger kernel does not see anything a stack
# cannot: two stacked 3×3 layers already cover 5×5 and three cover 7×7, with fewer weights and more
# non-linearities in between. On small images more of a large kernel's windows also overlap the zero padding at the
# border. Whether the extra capacity pays for itself is what the table answers; the curves below show how
# validation accuracy evolved for each kernel size.

# %%
kernel_histories = {name: [o.fit.history for o in runs] for name, runs in controlled["kernel size"].items()}
title = translate("Validation accuracy (band: min–max over seeds)")
lab.show_figure(plots.validation_curves(kernel_histories, title), "kernel_size_curves")

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
# **Question.** 32 → 64 channels is the default. What does keeping 32 channels in the second block cost? (A wider
# 64 → 128 network took 2.4 times as long to train, more than the full profile's time budget allowed for 7 seeds.)
#
# **Predict.** Are the second block's extra 32 channels cheap accuracy, or expensive noise?

# %%
lab.show_effects(effects, "width", full_run)
show_markdown(findings.describe_effects(effects, "width"))

# %% [markdown]
# **Why.** Cost grows with the product of input and output channels (section 4.6), so halving the second block's
# width roughly halves its convolutions' MACs and halves the head. Wider layers can represent more patterns; whether
# a fixed training set has enough examples to use them is what the difference and its interval tell.
#
# ### 6.7 Batch normalisation
#
# **Question.** What does batch norm contribute? Remove every batch norm and keep everything else, including the
# learning rate (the convolutions get their biases back: section 4.6 left them out only because batch norm cancels
# them).
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
# channels × 10 weights. Does the network need its dense head, which holds most of its weights (exercise 5.1)?
#
# **Predict.** What happens to accuracy with GAP after two blocks? After three? With a small three-block network
# that has fewer parameters than the dense baseline?
#
# ✏️ **Exercise 6.1.** Before running the cell: with a GAP head, how many parameters does the default CNN have? (The
# cell prints what its convolutions and batch norms hold; the GAP head is one linear layer from the 64 averaged
# channels to the 10 classes.)

# %%
feature_parameters = sum(p.numel() for p in ConvNet().features.parameters())
print(translate("convolutions and batch norms of ConvNet():"), f"{feature_parameters:,}")
my_gap_parameters = None  # replace None with a whole number
print(exercises.check("GAP parameters", my_gap_parameters))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_gap_parameters = sum(p.numel() for p in ConvNet().features.parameters()) + (64 * 10 + 10)
# ```
# The head shrinks from the hundreds of thousands of weights of exercise 5.1 to 650. Check it with
# `sum(p.numel() for p in ConvNet(ConvConfig(head="gap")).parameters())`.
# </details>

# %%
lab.show_effects(effects, "head", full_run)
show_markdown(findings.describe_effects(effects, "head"))

# %% [markdown]
# **Why.** A GAP head averages away *where* a feature was found and keeps how strongly it was found somewhere (not
# entirely: zero padding makes maps near the border differ, and CNNs can use that to encode absolute position,
# Islam et al., 2020).
# One explanation, not tested here: after two blocks each unit sees at most a 16×16 window of the 28×28 garment, so
# no single feature describes the whole garment, and averaging may lose the layout that a dense head can use. A third
# block (whose theoretical receptive field, computed as in section 4.7, is wider than the 28-pixel image) lets each
# feature cover the whole garment, which
# should make averaging lose less; but that variant also adds depth and parameters, so it does not isolate the
# receptive field. The verdicts above say whether GAP after two or after three blocks differs from the dense head.
#
# The fair test of "better accuracy with fewer parameters" compares the small GAP network with the dense baseline
# *trained on the same images* (the small GAP network's runs are reused from the head experiment; the dense model is
# trained here, unless this run already recorded it). Parameter count is not capacity per image: the GAP network reuses
# each convolution's weights at every position, so few parameters can still do many useful computations.

# %%
small_gap_runs = lab.train_family("small GAP")  # {"small GAP vs dense": {variant: runs}}
small_gap = lab.effects(small_gap_runs, "small GAP")  # its own family of one test
dense_10k = small_gap_runs["small GAP vs dense"]["dense baseline"]  # the dense model on the experiments' images
display(tables.effects(small_gap, lab.full_run_effects("small GAP")))
show_markdown(findings.describe_effects(small_gap))

# %% [markdown]
# ### 6.9 Augmentation: none, flips or shifts?
#
# **Question.** Sections 3.3 and 5.2 chose each model's augmentation on validation images. What do the three do on
# the *test* set? A mirrored shirt is still a shirt, but Fashion-MNIST's shoes all point the same way, so a mirrored
# shoe is an image the test set never shows; and its garments are centred, so a shifted garment is one too. Each
# model without augmentation is the reference, so a positive difference means the augmentation helps.
#
# **Predict.** Which augmentation helps the dense model, which the CNN? (Each model is compared with itself; the
# differences between the two models are not tested.)

# %%
augmentation = lab.train_family("augmentation")  # the runs of sections 3.3 and 5.2: nothing new is trained
augmented = lab.effects(augmentation, "augmentation")  # one family: 2 augmentations × 2 models
lab.show_effects(augmented, None, lab.full_run_effects("augmentation"), name="augmentation")
show_markdown(findings.describe_effects(augmented))

# %% [markdown]
# **Why.** An augmentation adds training images that keep their labels. It pays only when the test images vary that
# way: it teaches the model to ignore a change it will meet. Fashion-MNIST's test images are centred and never
# mirrored, so both augmentations mostly spend training time on images unlike any test image, and can cost accuracy
# within a fixed budget of epochs. Shifts are the change a convolution already tolerates in part (section 4.8); the
# dense model has to learn every shifted position separately, which costs it more. Section 7.1 shows the other side:
# on *shifted* test images, the models' accuracy falls; a model trained with shifts might keep more of it, which
# this notebook does not measure.
# Had one model been given another's augmentation, a comparison would credit (or blame) its architecture for it:
# that is why each model trains with its own best on validation.
#
# ### 6.10 Accuracy against cost
#
# **Question.** Among all configurations above, which give the most accuracy for their parameters, or for their
# compute? Those for which no other configuration is at least as accurate *and* at most as costly (and strictly
# better on one count) form the **Pareto front**. The figure numbers every configuration; the table lists them all
# with the same numbers and says which are on a front.
#
# **Predict.** Will the most accurate configuration also be the cheapest? Which kind of change buys accuracy most
# cheaply?

# %%
points = stats.distinct_configurations(effects)  # each configuration once; the reference is "default CNN"
lab.show_figure(plots.accuracy_versus_cost(points), "pareto")
tables.pareto(stats.pareto_table(points))

# %% [markdown]
# **Why.** A ratio such as "accuracy per parameter" rewards the smallest model however inaccurate it is; the front
# shows instead what each extra parameter or MAC buys. Points close together in accuracy are often within noise
# (see the verdicts above), so the front's order between neighbours is not settled by these seeds.
#
# ✏️ **Exercise 6.2.** Your own controlled experiment. Choose a setting of the CNN, or a value of one, that section 6
# did not try (the dropout of the head, the hidden width of the head, a 1×1 kernel…) and write it as a `ConvConfig`
# that differs from `ConvConfig()` in that one setting only. The check makes sure it changes exactly one factor,
# is not one of section 6's variants, and builds a model that can learn (10 outputs, a gradient that reaches the
# first layer); the cell after it then trains it against the default CNN with this profile's data, epochs and
# seeds (the default CNN's runs are reused), and the same statistics give the verdict.

# %%
my_variant = None  # replace None with, e.g., ConvConfig(some_setting=some_value)
print(exercises.check("one factor", my_variant))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# my_variant = ConvConfig(dropout=0.5)  # one factor: the head's dropout, 0.3 → 0.5; everything else as the reference
# ```
# Expect "not resolved" with one seed (the `quick` profile outside its primary questions): the `full` profile's
# seeds are what a verdict needs.
# </details>

# %%
if exercises.check("one factor", my_variant).right:  # trains only once my_variant is a one-factor change
    my_runs = lab.train("my experiment", {"default CNN": ConvConfig(), "my variant": my_variant})
    my_effects = lab.effects({"my experiment": my_runs})  # a family of its own: one test
    display(tables.effects(my_effects))
    show_markdown(findings.describe_effects(my_effects))
else:
    print(translate("Set my_variant above to train your variant against the default CNN."))

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
tables.translation(stats.shift_accuracy(curve), stats.shift_accuracy(lab.full_run_table("translation.csv")))

# %% [markdown]
# **Why.** Convolution is equivariant (section 4.8): a shifted garment gives shifted feature maps, exactly so before
# pooling and away from the zero-padded border, and only approximately after a pool. Whether the *prediction*
# survives depends on what comes after. A flatten + dense head has one weight per position, so shifted features land
# on different weights; 2×2 pools absorb some small shifts, and features that respond over a wider area are more
# tolerant; a GAP head averages over all positions, which removes most (not all) of the position. So the layer itself is
# equivariant, not invariant: how far a CNN's prediction tolerates shifts depends on its pooling, its features and its
# head, which is what the four curves compare. The bands are 95 % intervals over seeds.
#
# **And the direction?** Compare the horizontal and vertical panels for each model, the dense one included. If the
# asymmetry appears for every position-dependent model, its cause is in the data or the training recipe (its
# augmentation among it) rather than in convolution. The figure below measures one candidate: how similar a
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
# pixels are no longer neighbours. The permutation is built into the model as its first layer: training augments the
# real image first and the model scrambles it, so every image the network body sees, in training and at test time, is
# the same fixed scrambling of a real garment.
#
# **Predict.** Which model suffers, the dense one or the CNN?

# %%
scrambling = lab.train_family("scrambling")  # {"scrambled, dense": …, "scrambled, CNN": …}
scrambled = lab.effects(scrambling, "scrambling")  # one family: each model against itself intact
lab.show_effects(scrambled, None, lab.full_run_effects("scrambling"), name="permutation")
show_markdown(findings.describe_effects(scrambled))

# %% [markdown]
# **Why.** A dense layer is indifferent to the order of its inputs. *Derivation:* a permutation of the pixels is just a
# permutation of its first weight matrix's columns, and the initial weights are drawn independently and identically,
# so training on scrambled pixels is training the same model from an equally likely start: the two arms differ only
# by seed noise. The equivalence test checks this on the measured runs (its verdict is above); the derivation is what
# makes it hold for any seed. A convolution assumes that the pixels in a 3×3
# window belong together; after scrambling they do not, and its locality and weight sharing become wrong
# assumptions. Each model is compared with itself above; the difference between the two drops is not itself tested.
# If the CNN's lead comes from the neighbourhoods, scrambled it should fall to about the dense model's accuracy:
# compare the two scrambled rows (that comparison is not itself tested). Even then it would not show a CNN doing
# *worse* than a dense network on such inputs; on data without a spatial (or temporal) neighbourhood structure,
# convolution's reason to exist is gone.
#
# ✏️ **Exercise 7.1.** Scrambling loses no information. Write the permutation that *undoes* it.

# %%
scramble = PixelPermutation(catalogue.SCRAMBLE_SEED).order  # the probe's one fixed order of the 784 pixels
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
efficiency = lab.effects(sizes, "data size")  # the lead at each size: one family
full_run_sizes = lab.full_run_effects("data size")
lab.show_figure(plots.data_efficiency(stats.efficiency_points(efficiency), stats.efficiency_points(full_run_sizes),
                                      lead=efficiency), "data_efficiency")
display(tables.effects(efficiency, full_run_sizes, experiment=True, epochs=True))
show_markdown(findings.describe_data_size(efficiency))

# %% [markdown]
# **Predict.** Is the lead with the fewest images larger than the lead with all of them? Two separate intervals
# cannot answer this (overlapping intervals can still differ); the test is of the *difference of the two leads*, the
# interaction of model and data size.

# %%
smallest, largest = list(sizes)[0], list(sizes)[-1]  # "n=<size>", in increasing order
change = stats.lead_change(sizes, splits.test_labels, smallest, largest)  # (lead at smallest) − (lead at largest)
show_markdown(findings.describe_lead_change(change))

# %% [markdown]
# **Why.** One argument says a right assumption is worth the most when data is scarce: locality and weight sharing
# let the CNN learn an edge detector once and use it everywhere, while the dense model's separate weights per position
# do not share what they learn, and with more data the dense model can learn more of that itself.
# Another says the CNN's advantages (weight sharing, pooling) hold at every size. The two readings also differ in
# the scale: a constant lead in points is a *growing* cut in the share of errors, because both models make fewer
# errors with more data (the sentences above give both). The interaction test compares the two ends of the range
# only, with the epochs of each size (they differ), so it does not test a trend across all sizes.

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
full_run_selectivity = lab.full_run_table("selectivity.csv")
lab.show_figure(plots.selectivity(selectivity, full_run_selectivity), "selectivity")
display(tables.selectivity(stats.selectivity_tests(selectivity), stats.selectivity_tests(full_run_selectivity)))
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
# **Question.** For a given prediction, which pixels carried the evidence? Two methods: **Grad-CAM** (Selvaraju et
# al., 2017) takes the feature maps of the last ReLU in block 2 (before its pool), weights each map by the gradient of
# the class score (the logit of the predicted class) averaged over its positions, sums them and keeps the positive
# part; **occlusion** hides a patch at a time and records how much that score drops (negative where hiding a patch
# *raises* the score).
#
# **Predict.** For a shirt mistaken for a T-shirt, where will the evidence be?
#
# Grad-CAM needs the maps of an inner layer and the gradient of the score with respect to them. A *forward hook*
# (a function PyTorch calls every time a module runs) keeps the maps; `torch.autograd.grad` gives their gradient:

# %%
def grad_cam_by_hand(model, images, targets):  # uint8 N×28×28 images, one class per image → N×28×28 maps
    layer, kept = attribution.last_block_layer(model), {}
    handle = layer.register_forward_hook(lambda module, inputs, output: kept.update(maps=output))  # keep the maps
    scores = model(to_float_pixels(images)).gather(1, targets[:, None]).sum()  # each image's logit for its class
    handle.remove()
    gradients, = torch.autograd.grad(scores, kept["maps"])  # ∂ score / ∂ each unit of each map
    cam = (gradients.mean(dim=(2, 3), keepdim=True) * kept["maps"]).sum(1, keepdim=True).relu()  # weighted sum
    return F.interpolate(cam, size=images.shape[-2:], mode="bilinear")[:, 0].detach()  # 14×14 → 28×28


# %% [markdown]
# The examples come from the test set: shirts and T-shirts, classified correctly and (where the CNN makes that
# mistake) confused with each other, plus two other classes. The cell checks the hand-written Grad-CAM against
# Captum's `LayerGradCam` (PyTorch's attribution library), and computes occlusion with Captum: 6×6 patches moved
# 2 pixels at a time, each pixel showing the mean drop of the patches that cover it (exercise 8.2's squares side by
# side give a blockier map of the same idea).

# %%
chosen = attribution.choose_examples(splits.test_labels, cnn_logits.argmax(1), CLASS_NAMES)
explained_images, predicted = splits.test_images[chosen], cnn_logits.argmax(1)[chosen]
true_classes = splits.test_labels[chosen]
cam = attribution.grad_cam(best_cnn.ensure_model(), explained_images, predicted)  # Captum; the model is now on the CPU
torch.testing.assert_close(grad_cam_by_hand(best_cnn.ensure_model(), explained_images, predicted), cam)
occluded = attribution.occlusion(best_cnn.ensure_model(), explained_images, predicted)

# %% [markdown]
# **A sanity check** (Adebayo et al., 2018): a map that explains the *trained* model must change when the trained
# weights are replaced by random ones. The cell re-draws every weight of a copy as at initialisation, computes
# Grad-CAM again, and measures how alike the two maps of each image are (Spearman's rank correlation of their
# pixels: 1 = the same ranking, 0 = unrelated).

# %%
random_model = copy.deepcopy(best_cnn.ensure_model())
for module in random_model.modules():
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()  # a fresh random draw, as before training
random_cam = grad_cam_by_hand(random_model.eval(), explained_images, predicted)
titles = [f"{label(CLASS_NAMES[t])}\n→ {label(CLASS_NAMES[p])}" for t, p in zip(true_classes, predicted)]
lab.show_figure(plots.attribution(explained_images, titles, cam, occluded, random_cam=random_cam), "attribution")
show_markdown(findings.describe_cam_sanity(attribution.rank_similarity(cam, random_cam)))

# %% [markdown]
# **Why, and what these maps cannot show.** The random-weights row is the check that the map depends on what the
# model learned; a map that barely changed would be showing the image's outline, not the model's evidence. Both
# maps explain the *predicted* class for one image. Grad-CAM has the
# resolution of the last block's maps, upsampled, so it says which region the score is attributed to, not which
# pixels; occlusion says
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
#
# ✏️ **Exercise 8.2.** Write occlusion yourself: `my_occlusion(model, image, target, patch)` sets one patch×patch
# square of a uint8 28×28 image to black (0) at a time, the squares side by side (stride = patch), and returns the
# map of how much the target class's logit drops, one value per square (7×7 for patch = 4). The check compares it
# with Captum's `Occlusion` on a model of its own, handed over in training mode, for several patch sizes.

# %%
def my_occlusion(model, image, target, patch):
    # drop of the target logit when each patch×patch square is blacked out: a (28 // patch)² map
    raise NotImplementedError(translate("exercise 8.2: replace this line (model(to_float_pixels(batch)) gives logits)"))


print(exercises.check("occlusion", my_occlusion))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_occlusion(model, image, target, patch):
#     side = image.shape[-1] // patch
#     hidden = image.repeat(side * side, 1, 1)  # one copy per square
#     for n, (i, j) in enumerate(itertools.product(range(side), range(side))):
#         hidden[n, i * patch:(i + 1) * patch, j * patch:(j + 1) * patch] = 0  # black out square (i, j)
#     with torch.no_grad():
#         scores = model.eval()(to_float_pixels(torch.cat([image[None], hidden])))[:, target]
#     return (scores[0] - scores[1:]).reshape(side, side)  # the drop: score with everything − score with a hole
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
tables.claims(primary, effects, small_gap, stats.shift_cost(curve, "CNN (max pool)"))

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
# choice (it averages most of the position away), while a dense head keeps it.

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
from conv_workshop.deployment.artifacts import save_and_verify, write_model_card

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
# ✏️ **Exercise 9.1.** Write `my_load_checkpoint(path)`: it loads a checkpoint safely (without unpickling code) and
# returns its dictionary. The check loads two real checkpoints with it, then a file that carries code: your function
# may refuse that file, but must not run it.

# %%
def my_load_checkpoint(path):
    # the checkpoint's dictionary (state dict, config, metrics...), loaded without running code from the file
    raise NotImplementedError(translate("exercise 9.1: replace this line"))


print(exercises.check("safe loading", my_load_checkpoint, path=lab.artifacts / "best_model.pth"))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_load_checkpoint(path):
#     return torch.load(path, weights_only=True)  # tensors and plain data only: a file that needs code is refused
# ```
# Then `my_load_checkpoint(lab.artifacts / "best_model.pth")["metrics"]["test_accuracy"]` is the accuracy it records.
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
from conv_workshop.deployment.export import export_onnx, onnx_parity

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
from conv_workshop.deployment.serve_demo import demo_requests, product_photo

print(translate("true class of the photo:"), label(CLASS_NAMES[int(data.test_labels[1])]))
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
tables.run_summary(lab.run_summary())

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
# - Kernels are learned, not designed: gradient descent recovers a known kernel from examples (4.9); section 5.5
#   tests whether the CNN's first-layer filters are more edge-like than random ones (read its verdict).
# - A comparison is fair only when the arms differ in one factor and the recipe handicaps neither (3.3), and a
#   difference is a finding only when the test resolves it; *not resolved with N seeds* means the budget cannot tell,
#   and only an equivalence test can say *equivalent*: there is no difference larger than its margin (section 6).
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
# - J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim. *Sanity Checks for Saliency Maps.*
#   NeurIPS 2018.
# - S. Santurkar, D. Tsipras, A. Ilyas, A. Madry. *How Does Batch Normalization Help Optimization?* NeurIPS 2018.
# - M. A. Islam, S. Jia, N. D. B. Bruce. *How Much Position Information Do Convolutional Neural Networks Encode?*
#   ICLR 2020.
# - C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger. *On Calibration of Modern Neural Networks.* ICML 2017
#   (overconfident softmax probabilities).
# - M. Lin, Q. Chen, S. Yan (above) also introduced the 1×1 convolution as a per-pixel dense layer ("mlpconv").
