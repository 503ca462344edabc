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
# # 6. Writing like the book
#
# The fourth assignment: a vanilla recurrent network reads "Harry Potter and the Goblet of Fire" one
# character at a time and learns to predict the next one. Backpropagation through time is written by hand;
# only the recurrence is a loop. We check its gradients, train it the sheet's way, look at the smooth
# loss and how much it depends on the seed, and let it write.
#
# **Time on 2 cores:** 80 seconds at the full budget (100,000 updates), 7 seconds at the reduced one
# (`HANDGRAD_BUDGET=reduced`: 4,000 updates; the test suite runs that one).

# %%
import os

import numpy as np
from IPython.display import Markdown

import handgrad as hg

FULL = os.environ.get("HANDGRAD_BUDGET", "full") == "full"
book = hg.datasets.text("text/goblet_book.txt", n_val=50_000)  # under $HANDGRAD_DATA
print(book, f"| {len(book.alphabet)} characters:", book.alphabet)

# %% [markdown]
# ## The model
#
# aₜ = W hₜ₋₁ + U xₜ + b, hₜ = tanh(aₜ), oₜ = V hₜ + c, softmax; the loss of a sequence
# is the cross-entropy summed over its 25 characters. m = 100 hidden units, U, W, V ~ N(0,
# 0.01²). The model keeps its alphabet and the book's opening (the *preamble*, read before any text it
# writes or is scored on: a model trained the sheet's way relies on the state the book's title sets).

# %%
rng = hg.Rngs(seed=0)
model = hg.char_rnn(book.alphabet, m=100, preamble=book.preamble, rng=rng.init)
model

# %% [markdown]
# ## Its gradients
#
# The sheet checks with m = 5; every parameter, and the gradient with respect to the initial state
# h₀ (the state carried from the previous sequence), against the complex step:

# %%
small = hg.RNN(len(book.alphabet), 5, std=0.5, rng=np.random.default_rng(0), dtype=np.float64)
x = book.X_train[:50].reshape(2, 25)
hg.check_layer(small, x, h0=np.random.default_rng(1).standard_normal((2, 5)))

# %% [markdown]
# ## Training the sheet's way
#
# Sequences of 25 characters read in order, the hidden state carried from one to the next and reset at
# each epoch; AdaGrad with η = 0.1, every gradient entry clipped to [−5, 5]; the smooth loss
# 0.999 ℓ_smooth + 0.001 ℓ.

# %%
updates = 100_000 if FULL else 4000
history = hg.fit_text(model, book, optimizer=hg.AdaGrad(clip=5.0), schedule=hg.Constant(0.1), n_updates=updates,
                      record_every=updates // 4, sample_every=updates // 2, rng=rng.train, sample_rng=rng.sample)
hg.plots.smooth_loss(history, title=f"{updates:,} updates")

# %%
for s in history.text["samples"]:
    print(f"--- update {s['step']:,} (smooth loss {s['smooth_loss']:.1f})\n{s['text']}\n")

# %% [markdown]
# ## One run is one draw
#
# The sheet shows a smooth loss of 39.45 after 363,000 updates. Where a run ends depends on the seed
# more than on anything else: over 16 seeds of the same setting, handgrad's smooth loss at update
# 363,000 ranged from 40.43 to 48.38 (median 44.02), and four of the sixteen went below 40 at some point
# on the way (`handgrad train configs/rnn/goblet.toml --repeat 16`; see the
# [reproduced results](../results.md)). The sheet's 39.45 is one good run. A few short runs show the
# spread starting:

# %%
seeds = range(4 if FULL else 3)
short = 30_000 if FULL else 2000
ends = []
for seed in seeds:
    r = hg.Rngs(seed)
    m = hg.char_rnn(book.alphabet, m=100, preamble=book.preamble, rng=r.init)
    h = hg.fit_text(m, book, optimizer=hg.AdaGrad(clip=5.0), schedule=hg.Constant(0.1), n_updates=short,
                    record_every=short, sample_every=0, passage_length=1, rng=r.train, sample_rng=r.sample)
    ends.append(h.last("smooth_loss"))
Markdown(f"smooth loss after {short:,} updates, seeds {list(seeds)}: " + ", ".join(f"{e:.2f}" for e in ends)
         + f" (spread {max(ends) - min(ends):.2f})")

# %% [markdown]
# ## Writing: temperature and nucleus sampling
#
# The scores of the next character are divided by a temperature before the softmax (below 1: safer,
# more repetitive; above 1: wilder), and nucleus sampling keeps only the most probable characters whose
# probabilities add up to `top_p`. The same Generator state gives the same text.

# %%
for temperature, top_p in ((1.0, 1.0), (0.6, 1.0), (1.0, 0.9)):
    text = model.sample(200, np.random.default_rng(7), prime="Harry ", temperature=temperature, top_p=top_p)
    print(f"--- temperature {temperature}, top_p {top_p}\nHarry {text}\n")

# %% [markdown]
# `handgrad train configs/rnn/goblet.toml` trains the sheet's full 363,000 updates into a run folder,
# and `handgrad sample RUN_DIR --prime "Harry " --temperature 0.8` writes from it: exactly what
# `model.sample` writes here for the same model and seed.
