"""Stable per-purpose seeds derived from the run seed.

Each consumer (projection, exemplars, Sobol design, round r of BO, ...) gets its
own stream, so adding a consumer never shifts another's random numbers, and the
pipeline and the in-process loop draw identical values.
"""

import hashlib


def derive_seed(seed: int, *purpose: object) -> int:
    """A 31-bit seed from the run seed and a purpose label, e.g. `("bo", 3)`."""
    label = ":".join([str(seed), *map(str, purpose)])
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:4], "big") >> 1
