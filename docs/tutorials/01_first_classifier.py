# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Your first classifier
#
# The course's first assignment, step by step: a linear classifier *s = Wx + b* with softmax and
# cross-entropy on CIFAR-10, its gradient checked against a numerical one, trained by mini-batch
# gradient descent, and the four settings of the sheet beside the numbers Ruggeri 2020 reported
# ([references](../references.md#ruggeri-2020-a1)).
#
# **Time on 2 cores:** 15 seconds at the full budget (40 epochs per setting), 4 seconds at the reduced one
# (`HANDGRAD_BUDGET=reduced`: 4 epochs; the test suite runs that one).

# %%
import os

import numpy as np
from IPython.display import Markdown

import handgrad as hg

FULL = os.environ.get("HANDGRAD_BUDGET", "full") == "full"
EPOCHS = 40 if FULL else 4

# %% [markdown]
# ## The data
#
# `hg.datasets.cifar10(split="a1")` reads the course's split (data_batch_1 for training,
# data_batch_2 for validation, test_batch for testing) from the folder `HANDGRAD_DATA` names, or
# downloads CIFAR-10 with its checksum checked. It standardises the images the way the 2020+ sheets
# ask: pixels divided by 255, then every one of the 3,072 features centred and scaled with the mean and
# standard deviation of the **training** images only, applied to all three parts.

# %%
data = hg.datasets.cifar10(split="a1")
data

# %%
mean, std = data.state["mean"], data.state["std"]
print(f"X_train {data.X_train.shape} {data.X_train.dtype}; feature means in [{mean.min():.3f}, {mean.max():.3f}], "
      f"standard deviations in [{std.min():.3f}, {std.max():.3f}] (pixel units / 255)")
print("training features after standardisation: mean", round(float(data.X_train.mean()), 6),
      "std", round(float(data.X_train.std()), 4))

# %% [markdown]
# ## The model
#
# A `Sequential` model is a list of layers, a loss and an L2 weight λ: the cost is
# J = (1/n) Σᵢ −log p(yᵢ) + λ‖W‖². Every random number comes from a Generator
# built from one seed (`hg.Rngs`: one for the initialisation, one for training), so the same seed gives
# the same numbers, exactly those `handgrad train configs/linear/setting2.toml` gives.

# %%
rng = hg.Rngs(seed=0)
model = hg.Sequential([hg.Dense(3072, 10, rng=rng.init)], loss=hg.CrossEntropy(), lam=0.0)
model

# %% [markdown]
# A forward pass gives the scores, and with the labels the cost as well:

# %%
scores, cost = model(data.X_train[:100], data.y_train[:100])
print(scores.shape, f"cost {cost:.4f} (about log 10 = {np.log(10):.4f}: the initial weights are tiny)")

# %% [markdown]
# ## Is the gradient right?
#
# The backward pass is written by hand, so the first thing to do is to compare it with a numerical
# gradient. The sheet's procedure: the first 20 input dimensions, a batch of 1 and then 100, λ 0
# and then 1, and the relative error |gₐ − gₙ| / max(ε, |gₐ| + |gₙ|).
#
# `hg.check_gradients` differentiates with the **complex step**, Im J(θ + ih) / h with
# h = 10⁻²⁰: nothing is subtracted, so the reference is exact to rounding. The course's centred
# differences (`oracle="centred"`, its ComputeGradsNumSlow) lose the digits below ε/h of the
# cost and look worse for no fault of the gradient.

# %%
for n, lam in ((1, 0.0), (100, 1.0)):
    small = hg.Sequential([hg.Dense(20, 10, rng=np.random.default_rng(0))], loss=hg.CrossEntropy(), lam=lam)
    X, y = data.X_train[:n, :20], data.y_train[:n]
    print(f"batch {n}, lambda {lam}:")
    print(hg.check_gradients(small, X, y))
    print(hg.check_gradients(small, X, y, oracle="centred"), "\n")

# %% [markdown]
# ## Training
#
# Mini-batch gradient descent: 100 images per update, a constant learning rate, the data in its order.
# `hg.fit` evaluates cost, loss and accuracy on the training and validation data once per epoch and
# returns the `History`.

# %%
history = hg.fit(model, data.X_train, data.y_train, (data.X_val, data.y_val), optimizer=hg.SGD(),
                 schedule=hg.Constant(0.001), n_batch=100, n_epochs=EPOCHS, rng=rng.train)
history

# %%
history.plot(title="lambda 0, eta .001")

# %% [markdown]
# ## What the classifier learned
#
# Each row of W is an image of its class: the *class templates*, min-max scaled.

# %%
hg.plots.class_templates(model, data.classes)

# %% [markdown]
# ## The four settings
#
# The sheet's four settings (40 epochs, batch 100) and the test accuracies Ruggeri 2020 reported. A
# learning rate of .1 oscillates, so its single run lands anywhere within about two points.

# %%
PUBLISHED = {(0.0, 0.1): 29.74, (0.0, 0.001): 38.69, (0.1, 0.001): 39.08, (1.0, 0.001): 37.57}
rows = ["| lambda | eta | test accuracy (%) | Ruggeri 2020 (%) |", "|---:|---:|---:|---:|"]
for (lam, eta), published in PUBLISHED.items():
    rng = hg.Rngs(seed=0)
    m = hg.Sequential([hg.Dense(3072, 10, rng=rng.init)], loss=hg.CrossEntropy(), lam=lam)
    hg.fit(m, data.X_train, data.y_train, optimizer=hg.SGD(), schedule=hg.Constant(eta), n_batch=100,
           n_epochs=EPOCHS, rng=rng.train)
    acc = 100 * m.evaluate(data.X_test, data.y_test)["accuracy"]
    rows.append(f"| {lam:g} | {eta:g} | {acc:.2f} | {published:.2f} |")
Markdown("\n".join(rows) + f"\n\n({EPOCHS} epochs each" + ("" if FULL else ": the reduced budget, so not comparable")
         + ")")

# %% [markdown]
# At the full budget these are exactly the numbers of `handgrad train configs/linear/setting1.toml` to
# `setting4.toml` with seed 0; `handgrad reproduce linear` runs them all (setting 1 over five seeds)
# and puts them beside the published ones. Next: [write your own layer](02_your_own_layer.ipynb).
