"""Chinese names in Latin letters: pinyin and Wade-Giles syllables.

The lists write Chinese names mostly in pinyin (XI Jinping, ZHANG Wei); Taiwanese and older
records in Wade-Giles (Hsi Chin-ping, Chang Wei, Mao Tse-tung), usually without its
apostrophes and umlauts (Ch'en is Chen, Hsü is Hsu), which is also why a Wade-Giles syllable
can stand for more than one pinyin one (Chang: Zhang or Chang). `chinese_readings` gives a
word's pinyin readings, `looks_chinese` says whether a whole name is written in such
syllables, and `wade_giles_name` whether it is evidently Wade-Giles: a syllable pinyin does
not have (Hsi, Tse, Tung, Chin). The screening rule `wade_giles` pairs two words of such
names with a reading in common (`screening/words.py`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from listd.normalize.translit import hangul_reading

# Every pinyin syllable, toneless, ü written u (as `fold` writes it: lü, nüe are lu, nue).
_PINYIN = """
    a ai an ang ao ba bai ban bang bao bei ben beng bi bian biao bie bin bing bo bu ca cai
    can cang cao ce cen ceng cha chai chan chang chao che chen cheng chi chong chou chu chua
    chuai chuan chuang chui chun chuo ci cong cou cu cuan cui cun cuo da dai dan dang dao de
    dei den deng di dia dian diao die ding diu dong dou du duan dui dun duo e ei en eng er
    fa fan fang fei fen feng fo fou fu ga gai gan gang gao ge gei gen geng gong gou gu gua
    guai guan guang gui gun guo ha hai han hang hao he hei hen heng hong hou hu hua huai
    huan huang hui hun huo ji jia jian jiang jiao jie jin jing jiong jiu ju juan jue jun ka
    kai kan kang kao ke kei ken keng kong kou ku kua kuai kuan kuang kui kun kuo la lai lan
    lang lao le lei leng li lia lian liang liao lie lin ling liu long lou lu luan lue lun
    luo ma mai man mang mao me mei men meng mi mian miao mie min ming miu mo mou mu na nai
    nan nang nao ne nei nen neng ni nian niang niao nie nin ning niu nong nou nu nuan nue
    nuo o ou pa pai pan pang pao pei pen peng pi pian piao pie pin ping po pou pu qi qia
    qian qiang qiao qie qin qing qiong qiu qu quan que qun ran rang rao re ren reng ri rong
    rou ru rua ruan rui run ruo sa sai san sang sao se sen seng sha shai shan shang shao she
    shei shen sheng shi shou shu shua shuai shuan shuang shui shun shuo si song sou su suan
    sui sun suo ta tai tan tang tao te teng ti tian tiao tie ting tong tou tu tuan tui tun
    tuo wa wai wan wang wei wen weng wo wu xi xia xian xiang xiao xie xin xing xiong xiu xu
    xuan xue xun ya yan yang yao ye yi yin ying yo yong you yu yuan yue yun za zai zan zang
    zao ze zei zen zeng zha zhai zhan zhang zhao zhe zhei zhen zheng zhi zhong zhou zhu zhua
    zhuai zhuan zhuang zhui zhun zhuo zi zong zou zu zuan zui zun zuo
"""
PINYIN = frozenset(_PINYIN.split())

# Wade-Giles initials without their apostrophes (p is b or p, t d or t, k g or k, ch zh
# or ch, and before i or ü j or q; ts and tz z or c; hs x; j r), longest first.
_WG_INITIALS = (
    ("ch", ("zh", "ch")),
    ("hs", ("x",)),
    ("sh", ("sh",)),
    ("ts", ("z", "c")),
    ("tz", ("z", "c")),
    ("ss", ("s",)),
    ("sz", ("s",)),
    ("p", ("b", "p")),
    ("t", ("d", "t")),
    ("k", ("g", "k")),
    ("j", ("r",)),
    ("m", ("m",)),
    ("f", ("f",)),
    ("n", ("n",)),
    ("l", ("l",)),
    ("h", ("h",)),
    ("s", ("s",)),
    ("w", ("w",)),
    ("y", ("y",)),
    ("", ("",)),
)
_PALATAL = ("j", "q")  # ch before i or ü
# Wade-Giles finals as pinyin writes them; the rest are written alike.
_FINALS = {
    "ih": ("i",),  # chih, shih, jih: zhi, shi, ri
    "ieh": ("ie",),  # hsieh: xie
    "ueh": ("ue",),  # hsüeh: xue
    "ien": ("ian",),  # chien: jian
    "ung": ("ong",),  # tung: dong
    "iung": ("iong",),  # hsiung: xiong
    "uei": ("ui",),  # kuei: gui
    "erh": ("er",),
}
_VOWEL_START = frozenset("aeiou")
_LABIAL = frozenset({"p", "m", "f", "w", "y"})  # po, mo: bo, mo (to, lo: duo, luo)


def _finals(initial: str, final: str) -> tuple[str, ...]:
    if final == "o":  # ko, ho, o: ge, he, e; po: bo; to, lo, cho: duo, luo, zhuo
        if initial in ("k", "h", ""):
            return ("e",)
        return ("o",) if initial in _LABIAL else ("uo",)
    if initial in ("tz", "ss", "sz") and final == "u":
        return ("i",)  # tzu, ssu: zi, si
    if initial == "y":  # yeh: ye; yen: yan; yu: you, or yü: yu
        return {"eh": ("e",), "en": ("an",), "u": ("ou", "u")}.get(
            final, _FINALS.get(final, (final,))
        )
    return _FINALS.get(final, (final,))


@lru_cache(maxsize=1 << 12)
def wade_giles(syllable: str) -> frozenset[str]:
    """The pinyin syllables a Wade-Giles `syllable` (folded: no apostrophe, no umlaut)
    writes; empty if it is none."""
    out: set[str] = set()
    for initial, pinyin_initials in _WG_INITIALS:
        if not syllable.startswith(initial) or len(syllable) == len(initial):
            continue
        if not initial and syllable[0] not in _VOWEL_START:
            break  # b, d, g, q, x, z, c, r: pinyin's letters, no Wade-Giles initial
        final = syllable[len(initial) :]
        if initial in ("ss", "sz") and final != "u":
            break  # ssu, szu: si (Hassan is no ha-ssan)
        if initial == "ch" and final[:1] in ("i", "u") and final != "ih":
            pinyin_initials = (*pinyin_initials, *_PALATAL)  # chi, chu: ji, qi; ju, qu
        out |= {p + f for p in pinyin_initials for f in _finals(initial, final) if p + f in PINYIN}
        if not initial and final == "i":
            out.add("yi")
        elif not initial and final in ("in", "ing"):
            out.add("y" + final)
        break  # the longest initial the syllable starts with
    return frozenset(out)


_MAX_SYLLABLES = 3  # a surname (Ouyang: 2) or a given name (Jinping: 2); 3 for a joined one


@lru_cache(maxsize=1 << 16)
def syllables(word: str) -> tuple[tuple[str, ...], ...]:
    """Every way folded `word` is written in pinyin or Wade-Giles syllables (up to three; a
    syllable starting with a vowel only first, as pinyin writes Xi'an with an apostrophe)."""
    if not word.isascii() or not word.isalpha():
        return ()
    out: list[tuple[str, ...]] = []

    def cut(rest: str, done: tuple[str, ...]) -> None:
        if not rest:
            out.append(done)
            return
        if len(done) == _MAX_SYLLABLES or (done and rest[0] in _VOWEL_START):
            return
        for end in range(1, min(len(rest), 6) + 1):
            part = rest[:end]
            if part in PINYIN or wade_giles(part):
                cut(rest[end:], (*done, part))

    cut(word, ())
    return tuple(out)


def _wade_giles_only(syllable: str) -> bool:
    return syllable not in PINYIN and bool(wade_giles(syllable))


@lru_cache(maxsize=1 << 16)
def chinese_readings(word: str, wade_giles_too: bool) -> frozenset[str]:
    """The pinyin words folded `word` reads as: its own syllables where they are pinyin,
    and with `wade_giles_too` what they write as Wade-Giles (Chinping: jinping, qinping,
    jinbing, qinbing). Empty for a word not written in such syllables."""
    found: set[str] = set()
    for cut in syllables(word):
        words = {""}
        for syllable in cut:
            readings = {syllable} & PINYIN
            if wade_giles_too:
                readings |= wade_giles(syllable)
            words = {w + r for w in words for r in readings}
        found |= words
    return frozenset(found) if len(found) <= 64 else frozenset()


def looks_chinese(words: list[str]) -> bool:
    """Whether a name's folded words (2-4 of them, hyphenated parts apart) are all pinyin
    or Wade-Giles syllables, a word at most two of them: a Chinese name as the lists and
    records write it (Xi Jinping, Mao Tse-tung), not Tina or Maria."""
    if not 2 <= len(words) <= 4:
        return False
    return all(any(len(cut) <= 2 for cut in syllables(w)) for w in words)


def wade_giles_name(words: list[str]) -> bool:
    """Whether a name that `looks_chinese` has a syllable only Wade-Giles writes (Hsi, Tse,
    Tung, Chin, Tsai): its other syllables are then read as Wade-Giles too (Chang as
    Zhang), where a name in pinyin (Ting Wei) keeps its own."""
    return any(_wade_giles_only(s) for w in words for cut in syllables(w) for s in cut)


# Where `joined_given_name` joins syllables: a private-use character no list or record
# writes (`names.readings` removes any typed one), which the tokenizer takes out again and
# remembers (`marked_words`): such a word pairs only by its pinyin reading
# (`tokens.WADE_GILES`) or exactly, never by the rules for typos, which would take the
# joined Korean Ji-yong for RYONG or Wen-ji for Wenjian.
SYLLABLE_JOIN = "\ue000"
_MARKED = re.compile(r"[^\W\d_]+(?:['’\ue000]+[^\W\d_]+)*")  # with Wade-Giles' apostrophes

_HYPHENS = "-‐‑"  # hyphen-minus, hyphen, non-breaking hyphen (a class: "-" stays first)
_HYPHEN = re.compile(f"[{_HYPHENS}]")
_HYPHENED = re.compile(rf"(?<=[^\W\d_])[{_HYPHENS}](?=[^\W\d_])")
_HYPHENED_WORD = re.compile(rf"[^\W\d_]+(?:[{_HYPHENS}][^\W\d_]+)+")
_WORDS = re.compile(r"[^\W\d_]+")


def joined_given_name(text: str) -> str | None:
    """A Chinese or Korean name with its given name written together, as pinyin and the
    Revised Romanization write it (Zedong, Jinping; Gildong, and Kwangil as banks and
    passports write KIM KWANG-IL): hyphenated syllables joined (Mao Tse-tung: Mao
    Tsetung), or in a name of three single syllables the last two (TSANG YUNG YUAN:
    TSANG YUNGYUAN, the family name first as the lists write it). None when there is no
    such name or it looks neither Chinese nor Korean (each word a syllable
    `translit.hangul_reading` knows)."""
    hyphened = any(h in text for h in _HYPHENS) and _HYPHENED.search(text) is not None
    if not hyphened and text.count(" ") != 2:
        return None  # most names: every list name, query and customer is read here
    words = [w.lower() for w in _WORDS.findall(text.replace("'", "").replace("’", ""))]
    if not hyphened and len(words) != 3:
        return None
    korean = all(map(hangul_reading, words))
    if not korean and (
        not looks_chinese(words)
        or not hyphened
        and any(len(min(syllables(w), key=len, default=())) != 1 for w in words)
    ):
        return None
    if hyphened:
        return _HYPHENED_WORD.sub(_joined, text)
    family, first, second = text.rsplit(maxsplit=2)
    return f"{family} {first}{SYLLABLE_JOIN}{second if first.isupper() else second.lower()}"


def _joined(match: re.Match[str]) -> str:
    # Ho-Chin is Hochin, not HoChin, which a query's rewrite would cut at the capital.
    first, *rest = _HYPHEN.split(match.group())
    return first + "".join(SYLLABLE_JOIN + (p if first.isupper() else p.lower()) for p in rest)


def marked_words(text: str) -> tuple[str, tuple[str, ...]]:
    """`text` without the marks `joined_given_name` put in, and the words that held them
    (Mao Tse<mark>tung: Mao Tsetung, and Tsetung)."""
    if SYLLABLE_JOIN not in text:
        return text, ()
    words = tuple(
        m.group().replace(SYLLABLE_JOIN, "")
        for m in _MARKED.finditer(text)
        if SYLLABLE_JOIN in m.group()
    )
    return text.replace(SYLLABLE_JOIN, ""), words
