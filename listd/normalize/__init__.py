"""Language layer: script detection, romanisation and matching forms of names."""

from listd.normalize.names import (
    fold,
    normalize_entity,
    normalize_names,
    readings,
    separate,
    skeleton,
    tokens,
)
from listd.normalize.scripts import script_of
from listd.normalize.translit import latin_variants, to_latin

__all__ = [
    "fold",
    "latin_variants",
    "normalize_entity",
    "normalize_names",
    "readings",
    "script_of",
    "separate",
    "skeleton",
    "to_latin",
    "tokens",
]
