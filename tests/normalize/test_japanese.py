"""Katakana read back as the foreign name it writes (`listd.normalize.japanese`)."""

from __future__ import annotations

import pytest

from listd.normalize.japanese import MAX_READINGS, hepburn, only_kana, readings


@pytest.mark.parametrize(
    ("kana", "latin"),
    [
        ("ハッカーニ", "hakkani"),  # the small tsu doubles the next consonant
        ("マッチ", "matchi"),  # ...and before chi writes t, as Hepburn does
        ("シラジュディン", "shirajudin"),  # small ュ joins ジ: ju; ディ di
        ("キャ", "kya"),
        ("ファティ", "fati"),
        ("ドゥトゥ", "dutu"),
        ("ウィウェウォ", "wiwewo"),
        ("ヴァヴィヴ", "vavivu"),
        ("シェジェチェ", "shejeche"),
        ("ツァイェ", "tsaye"),
        ("クァグァ", "kwagwa"),
        ("ムハンマド", "muhammado"),  # ン before m, b, p is m
        ("ザワーヒリー", "zawahiri"),  # the long-vowel mark is dropped
        ("やまだ", "yamada"),  # hiragana as katakana
        ("ﾊｯｶｰﾆ", "hakkani"),  # half-width katakana
    ],
)
def test_hepburn(kana: str, latin: str) -> None:
    assert hepburn(kana) == latin


@pytest.mark.parametrize(
    ("kana", "latin"),
    [
        ("ムハンマド", "muhammad"),  # the -o katakana adds after d
        ("オマル", "omar"),  # the -u it adds after other consonants
        ("アブド", "abd"),  # ...and between two consonants
        ("アブドゥル", "abdul"),  # ドゥ writes du: its u stays; r for l
        ("アフマド", "ahmad"),  # フ before a consonant writes h
        ("マフムード", "mahmud"),  # not mahmd: one vowel dropped, the next kept
        ("シラジュディン", "sirajudin"),  # shi for si
        ("アジーズ", "aziz"),  # ji for zi
        ("フセイン", "husein"),  # fu for hu
        ("ブッシュ", "bussh"),  # the final sh written シュ
        ("イブン", "ibn"),
    ],
)
def test_readings_hold_the_foreign_name(kana: str, latin: str) -> None:
    found = readings(kana)
    assert found[0] == hepburn(kana)
    assert latin in found
    assert len(found) <= MAX_READINGS


def test_readings_stay_few() -> None:
    words = ("アブドゥルラフマン", "ハビーブッラー", "ジャラール")
    assert max(len(readings(w)) for w in words) <= MAX_READINGS == 16
    assert readings("ハッカーニ") == ("hakkani",)
    assert readings("ジュ") == ("ju",)  # ュ writes the u: not dropped


def test_only_kana() -> None:
    assert only_kana("ハッカーニ") and only_kana("やまだ") and only_kana("ﾊｯｶｰﾆ")
    assert not only_kana("山田") and not only_kana("山田たろう") and not only_kana("Abc")
