"""Synthetic customers of a Kazakh bank, for the notification benchmark.

Persons (about 90%) with Kazakh, Russian, Uzbek, Tatar, Korean and Muslim names in
Cyrillic (some in Latin, as foreign customers' passports give them), patronymics, birth
dates and valid IINs; legal entities with their legal forms (ТОО, АО, ИП, LLP). Names
are drawn from pools, so common words recur as they do in a real customer base.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from listd.normalize.kzid import check_digit
from listd.notifications.watchlist import Customer


def _words(text: str) -> list[str]:
    return text.split()


_MALE = _words(
    "Нурлан Ерлан Серик Бауыржан Асхат Дамир Арман Алибек Мурат Ержан Нурсултан Айдос "
    "Данияр Руслан Тимур Марат Жандос Азамат Бекзат Ринат Сергей Алексей Дмитрий Андрей "
    "Владимир Игорь Олег Николай Александр Павел Виктор Евгений Максим Артём Ильдар Рустам "
    "Фарид Шамиль Ахмед Мухаммед Али Хасан Юсуф Ибрагим Абдулла Карим Рахим Саид Умар Бахтияр "
    "Жасулан Ерболат Канат Болат Галым Талгат Куаныш Санжар Темирлан Алмас Еркебулан Мирас "
    "Дильшод Шерзод Улугбек Фаррух Жахонгир Отабек Тимофей Роман Станислав Вячеслав Константин "
    "Геннадий Юрий Валерий Ким Сон Чен Вадим Эльдар Ренат Камиль Ильяс Адиль Аслан Мадияр"
)
_FEMALE = _words(
    "Айгуль Асель Динара Гульнара Жанна Сауле Айжан Мадина Алия Дана Камила Зарина Айым "
    "Гульмира Назерке Аружан Томирис Малика Салтанат Жулдыз Ольга Елена Наталья Татьяна "
    "Ирина Светлана Анна Мария Екатерина Юлия Анастасия Оксана Людмила Галина Валентина "
    "Фатима Зейнеп Лейла Амина Сабина Эльмира Гузель Лиана Диляра Нигора Дилноза Шахноза "
    "Феруза Мунира Акмарал Балжан Ботагоз Гаухар Жибек Карлыгаш Меруерт Сымбат Толганай"
)
_STEMS = _words(
    "Ахмет Серик Нурлан Жумабай Касым Омар Байтурсын Сейтказы Абдулла Карим Рахим Исмаил "
    "Хасан Мамед Алиев Ибрагим Юсуп Токтар Ермек Кожахмет Бекмухамбет Досмухамбет Садык "
    "Есен Калиев Мусин Сулейман Жаксылык Куаныш Турсун Сагын Баймухан Оразбай Жаныбек Кенже "
    "Иван Петр Смирн Кузнецов Попов Соколов Лебедев Козлов Новиков Морозов Волков Соловьёв "
    "Васильев Зайцев Павлов Семёнов Голубев Виноградов Богданов Воробьёв Фёдоров Михайлов "
    "Беляев Тарасов Белов Комаров Орлов Киселёв Макаров Андреев Ковалёв Ильин Гусев Титов "
    "Кузьмин Кудрявцев Баранов Куликов Алексеев Степанов Яковлев Сорокин Сергеев Романов "
    "Захаров Борисов Королёв Герасимов Пономарёв Григорьев Лазарев Медведев Ершов Никитин "
    "Абенов Тулегенов Жакупов Сарсенбаев Ахметжанов Нургалиев Бекмуратов Каримов Рахимов "
    "Юлдашев Усманов Турсунов Холматов Эргашев Назаров Мирзаев Хамидов Салимов Шарипов "
    "Хабибуллин Галиев Зарипов Шайхутдинов Валиев Ким Пак Ли Цой Хан Тен Шин"
)
_COMPANY = _words(
    "Астана Алматы Каспий Самрук Байтерек Жетысу Сарыарка Алтын Шыгыс Батыс Нур Кызыл Жулдыз "
    "Темир Кен Мунай Газ Агро Строй Транс Логистик Трейд Сервис Инвест Капитал Технолоджи "
    "Энерго Металл Фарм Медикал Фуд Текстиль Авто Сталь Цемент Бетон Жол Курылыс Сауда Береке"
)
_FORMS = ("ТОО", "АО", "ИП", "ТОО", "ТОО", "LLP", "ЖШС")
_LATIN = str.maketrans(
    {"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
     "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
     "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
     "ч": "ch", "ш": "sh", "щ": "shch", "ы": "y", "э": "e", "ю": "yu", "я": "ya", "ь": "",
     "ъ": "", "ә": "a", "ғ": "g", "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h",
     "і": "i"}
)  # fmt: skip


def _surname(stem: str, female: bool) -> str:
    if stem.endswith(("ов", "ев", "ёв", "ин")):
        base = stem
    elif stem in ("Ким", "Пак", "Ли", "Цой", "Хан", "Тен", "Шин"):
        return stem
    else:
        base = stem + ("ов" if stem[-1] not in "аеиоуыэюяй" else "ев")
    return base + "а" if female else base


def _patronymic(father: str, female: bool) -> str:
    if father[-1] in "аеиоуыэюяй":
        return father[:-1] + ("евна" if female else "евич")
    return father + ("овна" if female else "ович")


def latin(text: str) -> str:
    out = text.lower().translate(_LATIN)
    return " ".join(w.capitalize() for w in out.split())


def iin(rng: random.Random, year: int, month: int, day: int, female: bool) -> str:
    century = (3 if year < 2000 else 5) + int(female)
    while True:
        base = f"{year % 100:02d}{month:02d}{day:02d}{century}{rng.randrange(10000):04d}"
        digit = check_digit(base)
        if digit is not None:
            return base + str(digit)


def customers(seed: int, count: int, prefix: str = "C") -> Iterator[Customer]:
    """`count` customers, deterministic for `seed`."""
    rng = random.Random(seed)
    for n in range(count):
        ref = f"{prefix}{n:07d}"
        if rng.random() < 0.1:
            words = " ".join(rng.sample(_COMPANY, rng.choice((1, 2))))
            form = rng.choice(_FORMS)
            name = f"{form} «{words}»" if form != "LLP" else f"{latin(words)} {form}"
            yield Customer(ref, name, type="entity")
            continue
        female = rng.random() < 0.5
        given = rng.choice(_FEMALE if female else _MALE)
        name = f"{_surname(rng.choice(_STEMS), female)} {given}"
        if rng.random() < 0.8:
            name += " " + _patronymic(rng.choice(_MALE), female)
        year, month, day = rng.randint(1940, 2006), rng.randint(1, 12), rng.randint(1, 28)
        foreign = rng.random() < 0.05
        yield Customer(
            ref,
            latin(name) if foreign else name,
            type="person",
            birth_date=f"{year}-{month:02d}-{day:02d}",
            iin=None if foreign else iin(rng, year, month, day, female),
            passport=f"N{rng.randrange(10**7, 10**8)}" if rng.random() < 0.3 else None,
            nationality="UZ" if foreign else "KZ",
        )
