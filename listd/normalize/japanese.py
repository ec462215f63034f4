"""Japanese kana in Latin letters: how Japan writes foreign names, read back.

Japanese press and banks write a foreign name in katakana (hiragana for a few Japanese
ones), a syllable at a time: Haqqani ハッカーニ, Muhammad ムハンマド, Omar オマル. Read a
character at a time (anyascii) that is `hatkani`, `muhanmado`. `hepburn` reads a word as
Hepburn writes it: the small tsu ッ doubles the next consonant (ハッカーニ hakkani, ッチ
tchi), the small vowels and ャュョ join the syllable before (ジュ ju, キャ kya, ディ di,
ファ fa, ウィ wi), ン before m, b, p is m (muhammado), the long-vowel mark ー is dropped.

`readings` adds the spellings of the foreign name the kana stand for: katakana writes a
consonant no vowel follows with a vowel after it (-o after t and d, -u after the others:
Muhammad ムハンマド, Omar オマル, Abd アブド), has one row for r and l (ラ ra, la), and
writes si and zi as shi and ji (Sirajuddin シラジュディン). A small set (`MAX_READINGS`),
never every combination.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Each katakana syllable as (consonant, vowel), Hepburn.
_ROWS = {
    "": "アイウエオ",
    "k": "カキクケコ",
    "g": "ガギグゲゴ",
    "s": "サシスセソ",
    "z": "ザジズゼゾ",
    "t": "タチツテト",
    "d": "ダヂヅデド",
    "n": "ナニヌネノ",
    "h": "ハヒフヘホ",
    "b": "バビブベボ",
    "p": "パピプペポ",
    "m": "マミムメモ",
    "r": "ラリルレロ",
}
_SYLLABLES: dict[str, tuple[str, str]] = {}
for _cons, _kana in _ROWS.items():
    for _vowel, _ch in zip("aiueo", _kana, strict=True):
        _SYLLABLES[_ch] = (_cons, _vowel)
_SYLLABLES |= {
    "シ": ("sh", "i"), "ジ": ("j", "i"), "チ": ("ch", "i"), "ヂ": ("j", "i"),
    "ツ": ("ts", "u"), "ヅ": ("z", "u"), "フ": ("f", "u"),
    "ヤ": ("y", "a"), "ユ": ("y", "u"), "ヨ": ("y", "o"),
    "ワ": ("w", "a"), "ヰ": ("", "i"), "ヱ": ("", "e"), "ヲ": ("", "o"),
    "ヴ": ("v", "u"), "ヷ": ("v", "a"), "ヸ": ("v", "i"), "ヹ": ("v", "e"), "ヺ": ("v", "o"),
    "ヵ": ("k", "a"), "ヶ": ("k", "e"),
}  # fmt: skip
# Small vowels replace the vowel of the syllable before (ファ fa, ティ ti, ドゥ du, シェ she);
# after イ, ウ, ク, グ they make ye, wi, kwa, gwa.
_SMALL_VOWELS = {"ァ": "a", "ィ": "i", "ゥ": "u", "ェ": "e", "ォ": "o", "ヮ": "a"}
_SMALL_Y = {"ャ": "a", "ュ": "u", "ョ": "o"}  # キャ kya, ジュ ju, ニョ nyo
_SOKUON = "ッ"  # the small tsu: the next consonant is doubled
_N = "ン"
_HIRAGANA = {c: c + 0x60 for c in range(0x3041, 0x3097)}  # ぁ..ゖ as ァ..ヶ
_KANA_WORD = re.compile("[\u3041-\u3096\u30a1-\u30fa\u30fc]+")

MAX_READINGS = 16


def only_kana(text: str) -> bool:
    """Whether `text` is written in hiragana or katakana alone (the long-vowel mark too)."""
    return _KANA_WORD.fullmatch(unicodedata.normalize("NFKC", text)) is not None


# One syllable of a word: consonant ("" for none, "N" for ン, "Q" for ッ), vowel, and
# whether it is one kana alone (its vowel may be one katakana adds; not in ドゥ, ジュ).
_Mora = tuple[str, str, bool]


def _morae(word: str) -> list[_Mora]:
    word = unicodedata.normalize("NFKC", word).translate(_HIRAGANA)
    out: list[_Mora] = []
    for ch in word:
        if ch in _SYLLABLES:
            out.append((*_SYLLABLES[ch], True))
        elif ch == _N:
            out.append(("N", "", False))
        elif ch == _SOKUON:
            out.append(("Q", "", False))
        elif ch in _SMALL_VOWELS and out and out[-1][0] not in ("N", "Q"):
            cons, vowel, _ = out.pop()
            if cons == "" and vowel in ("a", "e"):
                out.append((cons, vowel, True))  # アァ: two vowels
            elif cons == "":
                cons = "y" if vowel == "i" else "w"  # イェ ye; ウィ wi, ウォ wo
            elif cons in ("k", "g") and vowel == "u" and ch != "ゥ":
                cons += "w"  # クァ kwa, グァ gwa
            out.append((cons, _SMALL_VOWELS[ch], False))
        elif ch in _SMALL_Y and out and out[-1][0] not in ("N", "Q", ""):
            cons = out.pop()[0]
            if cons not in ("sh", "ch", "j"):
                cons += "y"
            out.append((cons, _SMALL_Y[ch], False))
        elif ch in _SMALL_VOWELS:  # a small vowel alone reads as the vowel
            out.append(("", _SMALL_VOWELS[ch], False))
        elif ch in _SMALL_Y:
            out.append(("y", _SMALL_Y[ch], False))
        # the long-vowel mark ー and anything else (the iteration marks) is dropped
    return out


def _spell(morae: list[_Mora]) -> str:
    out: list[str] = []
    for i, (cons, vowel, _) in enumerate(morae):
        nxt = morae[i + 1][0] if i + 1 < len(morae) else ""
        if cons == "N":
            out.append("m" if nxt[:1] in ("m", "b", "p") else "n")
        elif cons == "Q":
            if nxt[:1] and nxt not in ("N", "Q"):
                out.append("t" if nxt.startswith("ch") else nxt[:1])
        else:
            out.append(cons + vowel)
    return "".join(out)


@lru_cache(maxsize=1 << 14)
def hepburn(word: str) -> str:
    """The Hepburn reading of a kana word (ハッカーニ hakkani, ムハンマド muhammado,
    シラジュディン shirajudin); characters that are no kana are left out."""
    return _spell(_morae(word))


def _consonant(cons: str) -> bool:
    return cons not in ("", "N", "Q")


def _unvoweled(morae: list[_Mora], medial: bool) -> list[_Mora]:
    """`morae` without the vowels katakana adds to a consonant: the last one (-o after t
    and d, -u after the others), and with `medial` also those before another consonant
    (not in the first syllable, nor after one dropped: ムハンマド is mu-, アブドゥル ab-dul,
    マフムード mah-mud)."""
    out = list(morae)
    last = len(out) - 1
    for i, (cons, vowel, alone) in enumerate(out):
        if i == last and cons in ("sh", "ch", "j") and vowel == "u":
            alone = True  # ブッシュ Bush, ハウシュ Hawsh: the final sh written シュ
        if not alone or not _consonant(cons) or cons in ("y", "w"):
            continue
        added = vowel == "o" if cons in ("t", "d") else vowel == "u"
        if not added:
            continue
        if i == last and i > 0:
            out[i] = (cons, "", False)
        elif (
            medial
            and 0 < i < last
            and out[i - 1][1]  # not after a dropped one: マフムード is mah-mud, not mahmd
            and (_consonant(out[i + 1][0]) or i + 1 == last)
        ):
            # フ before a consonant writes the Arabic h, kh: アフマド Ahmad, ラフマン Rahman.
            out[i] = ("h" if cons == "f" else cons, "", False)
    return out


def _alternatives(base: str) -> list[str]:
    """`base` with si, zi for shi, ji, hu for fu (Hussein フセイン), and l for r: every r
    at once first, then each r apart when there are two. The likeliest first."""
    swapped = [base]
    if "shi" in base or "ji" in base:
        swapped.append(re.sub("shi|j?ji", _si, base))
    if "fu" in base:
        swapped += [w.replace("fu", "hu") for w in swapped]
    out = [w for word in swapped for w in (word, word.replace("r", "l"))]
    for word in swapped:
        rs = [m.start() for m in re.finditer("r", word)]
        if len(rs) == 2:
            for pos in rs:
                out.append(word[:pos] + "l" + word[pos + 1 :])
    return list(dict.fromkeys(out))


def _si(match: re.Match[str]) -> str:
    return {"shi": "si", "ji": "zi", "jji": "zzi"}[match.group()]


@lru_cache(maxsize=1 << 14)
def readings(word: str) -> tuple[str, ...]:
    """The Latin spellings a kana word stands for, its Hepburn reading first: the foreign
    name without the vowels katakana adds (ムハンマド muhammad, アブドゥル abdul), with l
    for r, si, zi for shi, ji and hu for fu (シラジュディン sirajudin). At most
    `MAX_READINGS`, the likeliest."""
    morae = _morae(word)
    bases = [_spell(morae), _spell(_unvoweled(morae, False)), _spell(_unvoweled(morae, True))]
    each = [_alternatives(b) for b in dict.fromkeys(bases) if b]
    out: dict[str, None] = {}
    for i in range(max(map(len, each), default=0)):  # each base's likeliest first
        for spelled in each:
            if i < len(spelled):
                out.setdefault(spelled[i])
    return tuple(out)[:MAX_READINGS]
