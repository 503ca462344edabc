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
# # 2. Write your own layer and prove its gradient
#
# handgrad's layers follow one small protocol, the one cs231n's `layers.py` uses: `forward(x, train)`
# keeps in `self.cache` what the backward pass needs, `backward(dy)` *assigns* the gradients of the
# parameters to `self.grads` and returns the gradient with respect to the input. Here we write a layer
# handgrad does not have, a leaky ReLU with a **learned** slope, check its gradients, plant a mistake and
# watch the check catch it, and train a network with it.
#
# **Time on 2 cores:** 5 seconds at the full budget (the CIFAR-10 network on all 10,000 images), 2 seconds at the reduced one
# (`HANDGRAD_BUDGET=reduced`: 2,000 images; the test suite runs that one).

# %%
import os

import numpy as np

import handgrad as hg

FULL = os.environ.get("HANDGRAD_BUDGET", "full") == "full"

# %% [markdown]
# ## The layer
#
# y = x where x > 0 and y = a·x elsewhere, one slope a per feature, learned:
#
# - ∂L/∂x = dy where x > 0, a·dy elsewhere;
# - ∂L/∂aⱼ = Σ dyᵢⱼ xᵢⱼ over the examples i where xᵢⱼ ≤ 0.
#
# Two details make the gradient check work. The branch is decided on the real part of x (the check
# runs the forward pass in complex numbers), and `kink_inputs` tells the check where the function has a
# kink (at x = 0), so that a perturbation that crosses it is not counted as an error.

# %%
class LeakyReLU(hg.Layer):
    """y = x where x > 0, a * x elsewhere, with a learned slope a per feature.
    Shapes: x (N, d) -> y (N, d); a (d,)."""

    def __init__(self, d, slope=0.1, dtype=np.float32):
        super().__init__(dtype)
        self.d = d
        self.params["a"] = np.full(d, slope, dtype=dtype)

    def forward(self, x, train=False):
        self.cache = x
        return np.where(x.real > 0, x, self.params["a"] * x)

    def backward(self, dy):
        x = self.cache
        neg = ~(x > 0)
        self.grads = {"a": (dy * x * neg).sum(axis=0)}
        return np.where(neg, self.params["a"] * dy, dy)

    def kink_inputs(self):
        return self.cache

    def config(self):  # what a saved model records to rebuild the layer
        return {"type": "LeakyReLU", "d": self.d}


# %% [markdown]
# ## Check it
#
# `hg.check_layer(layer, x)` compares the backward pass with the complex-step derivative of
# J = Σ y ⊙ R for a fixed random R, for every parameter and for the input.

# %%
x = np.random.default_rng(0).standard_normal((8, 5))
hg.check_layer(LeakyReLU(5), x)


# %% [markdown]
# ## Plant a mistake
#
# A classic slip: forgetting that the slope multiplies the gradient on the negative side.

# %%
class BrokenLeakyReLU(LeakyReLU):
    def backward(self, dy):
        x = self.cache
        neg = ~(x > 0)
        self.grads = {"a": (dy * x * neg).sum(axis=0)}
        return dy  # wrong: the negative side passes dy through unscaled


check = hg.check_layer(BrokenLeakyReLU(5), x)
print(check)
assert not check.passed

# %% [markdown]
# The check names the culprit: `dx` is wrong, `a` is right. One more classic: accumulating the
# gradients (`+=`) instead of assigning them. The check passes (the gradient is right the first time),
# but `handgrad.testing.check_layer_conformance` calls backward twice and catches it; it is what every
# layer of handgrad passes.
#
# When PyTorch is installed, the same check can use autograd as the oracle, the way the 2025 course
# sheets check students' gradients; a layer of your own then gives its function in torch:
#
# ```python
# import torch
# hg.check_layer(LeakyReLU(5), x, oracle="torch",
#                torch_forward=lambda p, x, train: torch.where(x > 0, x, p["a"] * x))
# ```

# %% [markdown]
# ## Train with it
#
# A two-layer network on CIFAR-10 with the new layer between the two Dense layers. The whole model's
# gradient is checked first (on 20 features, in float64), then trained with the cyclical learning rate.

# %%
data = hg.datasets.cifar10(split="a1")
n = len(data.y_train) if FULL else 2000
rng = hg.Rngs(seed=0)
model = hg.Sequential([hg.Dense(3072, 50, init="he", rng=rng.init), LeakyReLU(50),
                       hg.Dense(50, 10, init="he", rng=rng.init)], loss=hg.CrossEntropy(), lam=0.005)
tiny = hg.Sequential([hg.Dense(20, 6, init="he", rng=np.random.default_rng(1)), LeakyReLU(6),
                      hg.Dense(6, 10, init="he", rng=np.random.default_rng(2))], loss=hg.CrossEntropy(), lam=0.005)
print(hg.check_gradients(tiny, data.X_train[:10, :20], data.y_train[:10]))

# %%
n_s = 2 * (n // 100)
history = hg.fit(model, data.X_train[:n], data.y_train[:n], (data.X_val, data.y_val),
                 schedule=hg.Cyclical(1e-5, 0.1, n_s=n_s), n_batch=100, n_updates=2 * n_s * (2 if FULL else 1),
                 record_every=max(1, n_s // 5), sampling="shuffle", rng=rng.train)
print(f"test accuracy {100 * model.evaluate(data.X_test, data.y_test)['accuracy']:.2f}%; "
      f"learned slopes in [{model.layers[1].params['a'].min():.3f}, {model.layers[1].params['a'].max():.3f}]")
history.plot(by="step")

# %% [markdown]
# To save such a model, add the layer to `handgrad.nn.LAYER_TYPES` (`LAYER_TYPES["LeakyReLU"] =
# LeakyReLU`): a saved model names each layer's type, and is rebuilt from that without pickle.
# Next: [cyclical learning rates](03_cyclical_learning_rates.ipynb).
