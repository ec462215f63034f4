"""Language layer: script detection, romanisation and matching forms of names."""

from listd.normalize.names import fold, normalize_entity, skeleton, tokens
from listd.normalize.scripts import script_of
from listd.normalize.translit import latin_variants, to_latin

__all__ = [
    "fold",
    "latin_variants",
    "normalize_entity",
    "script_of",
    "skeleton",
    "to_latin",
    "tokens",
]
