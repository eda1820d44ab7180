"""Per-epoch random generators derived from one seed, independent of build order."""

from __future__ import annotations

import secrets

import numpy as np

__all__ = ["VALIDATION_SPLIT_KEY", "epoch_rng", "resolve_seed"]

PATCH_TABLE_KEY = 0x7461626C  # "tabl": the patch tables of every epoch
VALIDATION_SPLIT_KEY = 0x76616C73  # "vals": the validation split


def resolve_seed(seed: int | np.integer | None) -> int:
    """Return the seed to store: the given one, or fresh entropy drawn once.

    Parameters
    ----------
    seed : int or numpy.integer or None
        A non-negative seed, or ``None`` for fresh OS entropy.

    Returns
    -------
    int
        The seed. An object that stores it reproduces its tables from then on.

    Raises
    ------
    ValueError
        When the seed is negative.
    TypeError
        When the seed is not an integer.

    Examples
    --------
    >>> resolve_seed(42)
    42
    >>> resolve_seed(None) >= 0
    True
    """
    if seed is None:
        return secrets.randbits(128)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"Seed must be an integer or None: got {seed!r}.")
    if seed < 0:
        raise ValueError(
            f"Seed must not be negative: expected an integer >= 0, got {seed}."
        )
    return int(seed)


def epoch_rng(seed: int, epoch: int, key: int = PATCH_TABLE_KEY) -> np.random.Generator:
    """Return the generator of one epoch: a ``SeedSequence`` child keyed by the epoch.

    The generator depends only on ``(seed, key, epoch)``, so the table of epoch 7
    is the same whether or not epochs 0 to 6 were built, in any process.

    Parameters
    ----------
    seed : int
        The strategy's seed (see :func:`resolve_seed`).
    epoch : int
        The epoch, ``>= 0``.
    key : int, optional
        What the numbers are for; tables and the validation split use different keys
        so they never share a stream.

    Returns
    -------
    numpy.random.Generator
        A fresh generator.

    Raises
    ------
    ValueError
        When the epoch is negative.

    Examples
    --------
    >>> a = epoch_rng(1, 7).integers(1000, size=3)
    >>> b = epoch_rng(1, 7).integers(1000, size=3)
    >>> bool((a == b).all())
    True
    """
    if epoch < 0:
        raise ValueError(f"Epoch must not be negative: expected >= 0, got {epoch}.")
    sequence = np.random.SeedSequence(seed, spawn_key=(key, int(epoch)))
    return np.random.default_rng(sequence)
