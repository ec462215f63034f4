"""Folding, tokens, skeletons and entity enrichment."""

from __future__ import annotations

from dataclasses import replace

import pytest

from listd.model import Entity, Name
from listd.normalize import fold, normalize_entity, skeleton, tokens


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        # Apostrophes join, hyphens and other punctuation split.
        ("O'Neil", "oneil"),
        ("O’Neil", "oneil"),
        ("Jean-Luc", "jean luc"),
        ("'UTHMAN 'ABD AL-SALAM", "uthman abd al salam"),  # UN QDi.343 fourth name
        ("TAHA MUHYI-AL-DIN MA'RUF", "taha muhyi al din maruf"),  # UN IQi.024
        ("Oʻzbekiston Qurʼan ʿAbd `Ali´s", "ozbekiston quran abd alis"),
        ('«Pierre» „Jan“ “Paul” "Ali"', "pierre jan paul ali"),
        ("JAMAAT-UL-AHRAR (JuA)", "jamaat ul ahrar jua"),  # UN QDe.152
        ("ADNAN S. HASAN, AHMED / Ali", "adnan s hasan ahmed ali"),
        ("  A \t B\n", "a b"),
        ("---", ""),
        ("", ""),
        # Diacritics and letters NFKD leaves alone.
        ("Abdoulaye Hissène", "abdoulaye hissene"),
        ("Müller Straße Łukasz Øster Ærø", "muller strasse lukasz oster aero"),
        ("Đorđević İSTANBUL ıspanak Œuvre Þór", "dordevic istanbul ispanak oeuvre thor"),
        # Compatibility forms; a soft hyphen, like every invisible mark, is a word boundary
        # (readings() gives the joined "Mustafa" as a second reading).
        ("ＡＢＣ ﬁ", "abc fi"),
        ("Mus\u00adtafa", "mus tafa"),
        ("ERIC\u200bBADEGE", "eric badege"),
        # Other scripts through to_latin: Cyrillic (ICAO), Arabic, Han.
        ("Құралбай Нұрбек Маратұлы", "kuralbai nurbek maratuly"),
        ("ЖОМАРТ", "zhomart"),
        ('"Аль-Каеда"', "al kaeda"),  # AFM org 1
        ("Жанқуатов Мейiрбек Берікұлы", "zhankuatov meiirbek berikuly"),  # Latin i inside
        ("عبد الرحمن", "abd al rhmn"),
        ("عامر علی چوہدری", "amr ali chuhdri"),
        ("朝鲜", "chaoxian"),
        ("١٢٣", "123"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_is_idempotent() -> None:
    for text in ("Құралбай Нұрбек", "O'Neil «Jean-Luc»", "عبدالحميد المصلي", "Straße"):
        assert fold(fold(text)) == fold(text)


def test_tokens() -> None:
    assert tokens("AL-QAIDA IN IRAQ") == ["al", "qaida", "in", "iraq"]
    assert tokens("Абдубайтов  Асылжан  Сапарханович") == [
        "abdubaitov",
        "asylzhan",
        "saparkhanovich",
    ]
    assert tokens(" - ") == []


@pytest.mark.parametrize(
    ("spellings", "key"),
    [
        (("Muhammad", "Mohammed", "MUKHAMMED", "Мухаммед", "محمد", "مُحَمَّد"), "mhmd"),
        (("Yusuf", "Yousef", "Iusuf", "Юсуф", "يوسف"), "sf"),
        (("Abdallah", "Abdalla", "ABDULLAH", "عبدالله"), "bdl"),
        (("Lounici", "LOUNISSI", "لونيسي"), "lns"),  # UN QDi.155: French c before i is s
        (("Belgacem", "Belkassem", "Belqasim", "بلقاسم"), "blksm"),  # ق as g, k, q
        (("Zhomart", "Jomart", "Жомарт"), "jmrt"),
        (("Huwaysh", "حويش"), "hc"),  # UN IQi.019
    ],
)
def test_skeleton_across_spellings(spellings: tuple[str, ...], key: str) -> None:
    assert {skeleton(s) for s in spellings} == {key}


def test_skeleton_keeps_distinct_names_apart() -> None:
    assert skeleton("Ahmad") == "hmd"
    assert skeleton("Hamid") == "hmd"  # same root consonants: an accepted collision
    assert skeleton("Hasan") != skeleton("Husayn Ahmad")
    assert skeleton("Shamil") != skeleton("Samil")


def _entity(*names: Name) -> Entity:
    return Entity(
        id="un:QDi.312",
        source="un",
        schema="person",
        reference="QDi.312",
        names=names,
        list_type="Al-Qaida",
        nationalities=("Pakistan",),
        meta={"dataid": "6908555"},
    )


def test_normalize_entity() -> None:
    entity = _entity(
        Name("AAMIR ALI CHAUDHRY", kind="primary", parts=("AAMIR", "ALI", "CHAUDHRY")),
        Name("عامر علی چوہدری", kind="original"),
        Name("Құралбай Нұрбек Маратұлы", quality="good"),
        # A stale script and transliteration are replaced, not trusted.
        Name("Тархан Газиев", script="Latin", latin="wrong"),
        Name("Abdoulaye Hissène", latin="stale"),
        Name("---"),
    )
    out = normalize_entity(entity)
    assert out is not entity
    assert out.names == (
        Name(
            "AAMIR ALI CHAUDHRY",
            kind="primary",
            script="Latin",
            parts=("AAMIR", "ALI", "CHAUDHRY"),
        ),
        Name("عامر علی چوہدری", kind="original", script="Arabic", latin="'Amr 'Ali Chuhdri"),
        Name(
            "Құралбай Нұрбек Маратұлы",
            quality="good",
            script="Cyrillic",
            latin="Kuralbai Nurbek Maratuly",
        ),
        Name("Тархан Газиев", script="Cyrillic", latin="Tarkhan Gaziev"),
        Name("Abdoulaye Hissène", script="Latin"),
        Name("---"),
    )
    # Everything but the names is untouched, the input too.
    assert replace(out, names=entity.names) == entity
    assert out.meta == {"dataid": "6908555"}
    assert entity.names[1].script is None and entity.names[1].latin is None
    # Deterministic and idempotent.
    assert normalize_entity(out) == out
    assert normalize_entity(entity).content_hash() == out.content_hash()


def test_normalize_entity_without_names() -> None:
    entity = _entity()
    assert normalize_entity(entity) == entity
