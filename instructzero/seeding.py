"""Stable per-purpose seeds derived from the run seed.

Each consumer (projection, exemplars, Sobol design, round r of BO, ...) gets its
own stream, so adding a consumer never shifts another's random numbers, and the
pipeline and the in-process loop draw identical values.
"""

import hashlib


def seed_from_bytes(data: bytes) -> int:
    """A 31-bit seed from the sha256 of `data` (its first four bytes, big-endian, shifted right by one)."""
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big") >> 1


def derive_seed(seed: int, *purpose: object) -> int:
    """A 31-bit seed from the run seed and a purpose label, e.g. `("bo", 3)`."""
    return seed_from_bytes(":".join([str(seed), *map(str, purpose)]).encode())
