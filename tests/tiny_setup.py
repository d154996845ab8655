"""The tiny config every training test uses (0 vs 6 at a small size and budget: every
approach trains in well under a second). A module of its own, not conftest's, because
tests/e2e/conftest.py shadows ``from conftest import``."""

TINY = dict(
    n_majority=300, n_minority=20, steps=30, batch_size=32, generator_steps=20, generator_batch_size=16, n_checkpoints=3,
)
