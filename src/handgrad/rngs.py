"""One seed, three random number Generators: every random number handgrad draws comes from one of
them, so the same seed gives the same numbers, and changing how one is used (say, the sampling)
never changes what another draws (the initialisation)."""

from __future__ import annotations

import numpy as np


class Rngs:
    """``init`` draws the initial weights, ``train`` the batches' order, dropout masks and augmentation,
    ``sample`` a character RNN's samples: ``numpy.random.SeedSequence(seed).spawn(3)``, as ``handgrad
    train`` does for a config's ``seed`` (so a script that builds and fits with these gets the same
    numbers as the command).

    >>> import handgrad as hg
    >>> rng = hg.Rngs(0)
    >>> layer = hg.Dense(3072, 10, rng=rng.init)
    """

    def __init__(self, seed: int = 0, streams: str = "spawned") -> None:
        """``streams='one'``: a single ``numpy.random.default_rng(seed)`` draws everything in turn,
        the initial weights first: what the 2025 sheets' code does (seed 42, W before b, then the
        shuffles), so that a run can start from exactly the sheet's weights."""
        if streams not in ("spawned", "one"):
            raise ValueError(f"streams must be 'spawned' or 'one', got {streams!r}")
        self.seed, self.streams = seed, streams
        if streams == "one":
            self.init = self.train = self.sample = np.random.default_rng(seed)
        else:
            self.init, self.train, self.sample = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))

    def __repr__(self) -> str:
        return f"Rngs(seed={self.seed})" if self.streams == "spawned" else f"Rngs(seed={self.seed}, streams='one')"
