"""Cache policies that follow the core library, not only the step's own source.

ZenML's cache key covers the step function's source. Each step lists the core
modules its result depends on, so changing the library invalidates the cache.
"""

from types import ModuleType

from zenml.config.cache_policy import CachePolicy

from instructzero import config, seeding


def depends_on(*modules: ModuleType) -> CachePolicy:
    """A cache policy keyed also on `modules` (plus config parsing and seeding, used by every step)."""
    return CachePolicy(source_dependencies=[config, seeding, *modules])

