"""Knowledge about names that no transliteration table holds: equivalent given names,
particles, titles, company legal forms and generic organisation words.

Every spelling here is written as people write it (Latin, Cyrillic or Arabic script);
`listd.screening.tokens` folds and phonetically normalises them once at import, so the
tables need no care about case, diacritics or transliteration system.
"""

from __future__ import annotations

# Given names that are one name in different languages and romanisations. A query token
# and a list token in the same group match by the "equivalence" rule; tokens in two
# *different* groups never match by the looser phonetic rule (Mahmoud is not Muhammad).
EQUIVALENT_NAMES: tuple[tuple[str, ...], ...] = (
    (
        "muhammad",
        "mohammed",
        "mohamed",
        "mohammad",
        "muhammed",
        "mohamad",
        "muhamad",
        "mukhammed",
        "mukhamed",
        "mukhammad",
        "magomed",
        "mahomed",
        "mehmet",
        "mehmed",
        "muhamed",
        "mohd",
        "mhd",
        "mochammad",
        "muhammet",
        "mukhametov",
        "мухаммед",
        "мухаммад",
        "мухамед",
        "магомед",
        "мохаммед",
        "мохамед",
        "мұхаммед",
        "мұхамед",
        "محمد",
    ),
    (
        "ahmad",
        "ahmed",
        "akhmed",
        "akhmad",
        "ahmet",
        "achmed",
        "akhmet",
        "ахмед",
        "ахмад",
        "ахмет",
        "أحمد",
        "احمد",
    ),
    ("mahmud", "mahmoud", "mahmood", "makhmud", "mahmut", "махмуд", "محمود"),
    ("hamid", "hamed", "khamid", "hameed", "хамид", "حامد"),
    ("ali", "aly", "alee", "али", "әли", "علي", "على"),
    ("hasan", "hassan", "gasan", "khasan", "hassen", "гасан", "хасан", "حسن"),
    (
        "husain",
        "hussein",
        "husein",
        "hussain",
        "husayn",
        "hossein",
        "huseyin",
        "guseyn",
        "gusein",
        "khusein",
        "khuseyn",
        "гусейн",
        "хусейн",
        "хуссейн",
        "حسين",
    ),
    (
        "ibrahim",
        "ebrahim",
        "ibragim",
        "ibrahima",
        "brahim",
        "ибрагим",
        "ибрахим",
        "إبراهيم",
        "ابراهيم",
    ),
    (
        "ismail",
        "ismoil",
        "ismayil",
        "ismael",
        "ismaeel",
        "esmail",
        "исмаил",
        "исмаиль",
        "إسماعيل",
        "اسماعيل",
    ),
    (
        "yusuf",
        "yousef",
        "youssef",
        "yusup",
        "yussuf",
        "jusuf",
        "yousuf",
        "yousif",
        "iusuf",
        "юсуф",
        "юсуп",
        "жүсіп",
        "يوسف",
    ),
    ("yakub", "yaqub", "jakub", "yacoub", "yaqoob", "yakoub", "якуб", "жақып", "يعقوب"),
    ("yunus", "younis", "yunis", "younes", "younus", "юнус", "يونس"),
    # Not عمر: unvowelled it is also Amr (عمرو) and reads like عامر Aamir.
    ("umar", "omar", "omer", "умар", "омар"),
    ("usman", "osman", "uthman", "othman", "usmon", "усман", "осман", "عثمان"),
    (
        "abdullah",
        "abdallah",
        "abdulla",
        "abdalla",
        "abdulloh",
        "abdellah",
        "abdollah",
        "абдулла",
        "абдуллах",
        "عبدالله",
        "عبد الله",
    ),
    (
        "abdulrahman",
        "abdurrahman",
        "abdelrahman",
        "abdurakhman",
        "abdurahmon",
        "abdurakhmon",
        "abdul rahman",
        "abd al rahman",
        "abdel rahman",
        "abdur rahman",
        "абдурахман",
        "абдурахмон",
        "عبدالرحمن",
        "عبد الرحمن",
    ),
    ("khalid", "khaled", "halid", "khalied", "халид", "خالد"),
    ("mustafa", "mostafa", "moustafa", "mustapha", "mustofa", "мустафа", "مصطفى"),
    (
        "sulaiman",
        "suleiman",
        "suleyman",
        "sulayman",
        "soliman",
        "sulaymon",
        "сулейман",
        "сулайман",
        "سليمان",
    ),
    ("said", "saeed", "sayed", "sayyid", "saied", "saiid", "саид", "сайид", "سعيد"),
    ("zakaria", "zakariya", "zakariyya", "zakariah", "zakarie", "закария", "زكريا"),
    ("abubakar", "abu bakr", "abu bakar", "abubakr", "abubakir", "абубакар", "ابوبكر", "أبو بكر"),
    ("jamal", "djamel", "gamal", "jamel", "camal", "джамал", "جمال"),
    ("salah", "saleh", "salih", "solih", "салах", "салих", "صالح"),
    ("rahim", "rakhim", "raheem", "рахим", "رحيم"),
    ("karim", "kerim", "kareem", "karim", "карим", "كريم"),
    ("nursultan", "nursoltan", "нурсултан", "нұрсұлтан"),
    ("zhomart", "jomart", "жомарт"),
    ("aleksandr", "alexander", "alexandr", "aleksander", "oleksandr", "александр", "олександр"),
    ("sergei", "sergey", "serhii", "serhiy", "sergiy", "сергей", "сергій"),
    ("dmitrii", "dmitry", "dmitriy", "dmytro", "dimitri", "дмитрий", "дмитро"),
    ("evgenii", "yevgeny", "evgeny", "yevgeniy", "evgeniy", "ievgen", "евгений", "євген"),
    ("mikhail", "michael", "mykhailo", "михаил", "михайло"),
    ("nikolai", "nikolay", "mykola", "nicholas", "николай", "микола"),
    ("aleksei", "alexey", "alexei", "oleksii", "алексей", "олексій"),
    ("yurii", "yuri", "yuriy", "iurii", "юрий", "юрій"),
    ("andrei", "andrey", "andrii", "andriy", "андрей", "андрій"),
    ("vladimir", "volodymyr", "wladimir", "владимир", "володимир"),
    ("georgii", "georgy", "george", "heorhii", "георгий"),
    ("ilia", "ilya", "illia", "elias", "илья", "ілля"),
)

# Tokens so common on the lists and among customers that they prove little on their own
# (weight lowered, see tokens.WEIGHTS); grouped names count through their group's first
# spelling.
COMMON_NAMES: frozenset[str] = frozenset(
    {"muhammad", "ahmad", "ali", "hasan", "husain", "ibrahim", "abdullah", "umar",
     "khan", "abdul", "abd", "mahmud", "said", "salah", "yusuf", "ismail", "usman",
     "rahman", "islam", "allah", "din", "jan", "shah", "amir", "aziz", "kim", "li", "pak",
     "ri", "choe", "jong", "chol", "song", "il", "nam",
     "wang", "zhang", "nurlan", "erlan", "serik", "ruslan", "azamat", "kairat"}
)  # fmt: skip

# Stand-alone particles: filial (bin, ibn...), the Arabic article and its assimilated
# forms, prepositions of company and place names. They cost little when missing.
PARTICLES: frozenset[str] = frozenset(
    {"bin", "ibn", "ben", "bint", "binti", "bn", "ould", "wuld", "walad", "ait", "ag",
     "al", "el", "ul", "ad", "ar", "as", "ash", "at", "az", "an", "ud", "ur", "us", "ed",
     "er", "es", "ez",
     "of", "the", "and", "for", "de", "da", "do", "dos", "das", "du", "des", "del", "della",
     "di", "la", "le", "van", "von", "der", "den", "и", "және", "va", "wa", "fi", "في"}
)  # fmt: skip
# Arabic article forms that join the following word: al-Baghdadi ~ Albaghdadi ~ Baghdadi.
ARTICLES: frozenset[str] = frozenset(
    {"al", "el", "ul", "ad", "ar", "as", "ash", "at", "az", "an", "ud", "ur", "us", "ed",
     "er", "es", "ez"}
)  # fmt: skip
# Patronymic words that follow (Kyrgyz, Azeri, Uzbek, Kazakh) the father's name.
PATRONYMIC_WORDS: frozenset[str] = frozenset(
    {"uulu", "uly", "ulu", "uli", "ugli", "ogly", "oglu", "ogli", "kyzy", "kizi", "qizi",
     "gyzy", "kyzi", "уулу", "ұлы", "улы", "угли", "оглы", "оглу", "огли", "қызы", "кызы",
     "кизи"}
)  # fmt: skip
# Patronymic endings written into one word: Маратович, Маратовна, Маратұлы, Маратқызы.
PATRONYMIC_SUFFIXES: tuple[str, ...] = (
    "ovich", "evich", "ovych", "evych", "ovna", "evna", "inichna", "ichna", "uulu", "uly",
    "uli", "ulu", "kyzy", "kizi", "qizi", "ogly", "oglu", "ogli", "ugli",
)  # fmt: skip
# Russified surname endings: Құралбай ~ Кұралбаев, Абдибеков ~ Абдибекова.
SURNAME_SUFFIXES: tuple[str, ...] = ("ova", "eva", "ov", "ev", "ina", "in", "skaya", "skii")

# Honorifics, religious and military titles and forms of address: ignored on both sides.
TITLES: frozenset[str] = frozenset(
    {"mr", "mrs", "ms", "miss", "mister", "madam", "mme", "mlle", "dr", "doctor", "prof",
     "professor", "sir", "dame", "lord", "herr", "frau", "sheikh", "shaykh", "shaikh",
     "sheik", "cheikh", "haji", "hajji", "hadji", "hajj", "alhaji", "alhaj", "mullah",
     "mulla", "mullo", "molla", "maulana", "mawlana", "maulvi", "mawlawi", "moulvi",
     "molvi", "maulavi", "mawlavi", "qari", "hafiz", "ustadh", "ustad", "ustaz", "eng",
     "engineer", "gen", "general", "col", "colonel", "capt", "captain", "maj", "major",
     "lt", "lieutenant", "brig", "brigadier", "sgt", "admiral", "adm", "hon", "rev",
     "president", "vice", "minister", "deputy", "governor", "ambassador", "chairman",
     "commander", "senator", "emir", "excellency", "monsieur", "madame", "mademoiselle",
     "señor", "señora", "senhor", "senhora", "signor", "signora", "präsident",
     "präsidentin", "président", "présidente", "presidente", "президент", "министр", "губернатор",
     "посол", "командир", "председатель", "الرئيس", "الوزير", "العقيد", "اللواء", "الدكتور",
     "господин", "госпожа", "гн", "гжа", "мырза", "ханым", "доктор", "шейх", "хаджи",
     "мулла", "генерал", "полковник", "майор", "капитан", "имени",
     "ملا", "الملا", "شيخ", "الشيخ", "حاجي", "الحاج", "حاج", "مولوي", "مولانا", "قاري"}
)  # fmt: skip

# Words firms' names abbreviate (First Bank Int'l, Acme Mfg.), and spellings of one word:
# each is also read as the word in full.
ABBREVIATIONS: dict[str, str] = {
    "intl": "international", "natl": "national", "dept": "department",
    "mfg": "manufacturing", "assn": "association", "assoc": "association",
    "bros": "brothers", "svcs": "services", "mgmt": "management", "inds": "industries",
    "ctr": "center", "centre": "center", "engg": "engineering", "univ": "university",
}  # fmt: skip

# Company legal forms, by the label shown in explanations. Multi-word forms are matched
# as phrases (after folding), so "товарищество с ограниченной ответственностью", "ТОО",
# "LLP" and "limited liability partnership" are all the token LLP.
LEGAL_FORMS: dict[str, tuple[str, ...]] = {
    "LLP": ("llp", "тоо", "жшс", "limited liability partnership",
            "товарищество с ограниченной ответственностью",
            "жауапкершілігі шектеулі серіктестік"),
    "LLC": ("llc", "l l c", "ooo", "ооо", "limited liability company", "fz llc",
            "общество с ограниченной ответственностью",
            "obshchestvo s ogranichennoi otvetstvennostyu",
            "obshchestvo s ogranichennoy otvetstvennostyu", "mchj", "mas uliyati cheklangan",
            "sherkat-e ba masuliyat-e mahdud", "sherkat ba masuliyat mahdud",
            "sharikat dhat mas'uliyya mahduda", "sharikat dhat masuliyya mahduda"),
    "JSC": ("jsc", "ao", "ао", "joint stock company", "joint-stock company",
            "акционерное общество", "aktsionernoe obshchestvo", "акционерлік қоғам",
            "ojsc", "оао", "oao", "open joint stock company",
            "открытое акционерное общество", "otkrytoe aktsionernoe obshchestvo",
            "cjsc", "зао", "zao", "closed joint stock company",
            "закрытое акционерное общество", "zakrytoe aktsionernoe obshchestvo",
            "pjsc", "пао", "pao", "public joint stock company",
            "публичное акционерное общество", "publichnoe aktsionernoe obshchestvo",
            "nao", "нао", "non-profit joint stock company", "sherkat-e sahami",
            "sherkat-e sahami-ye aam", "sherkat-e sahami-ye khass", "sharikat musahama",
            "sharikat musahima"),
    "IE": ("ип", "ip", "individual entrepreneur", "индивидуальный предприниматель",
           "жеке кәсіпкер"),
    "LTD": ("ltd", "limited", "pvt ltd", "private limited", "pte ltd", "pty ltd",
            "ltda", "limitada", "sociedad limitada", "ltd sti", "limited sirketi",
            "limited şirketi", "s l", "sociedad de responsabilidad limitada",
            "sp z o o", "spółka z ograniczoną odpowiedzialnością", "s r o", "spol s r o",
            "společnost s ručením omezeným", "d o o", "kft", "uab", "oü", "aps",
            "societatea cu răspundere limitată", "societate cu răspundere limitată"),
    "INC": ("inc", "incorporated"),
    "CORP": ("corp", "corporation"),
    "CO": ("co", "company", "компания", "kompaniya", "and co", "sherkat", "sherkate",
           "shirkat", "sharikat", "sharikah", "sharika", "شركة", "شرکت", "gesellschaft",
           "compagnie", "compañía", "compania", "compagnia", "şirketi", "sirketi"),
    "PLC": ("plc", "public limited company"),
    "LP": ("lp", "limited partnership", "kg", "kommanditgesellschaft", "sp k",
           "spółka komandytowa"),
    "GMBH": ("gmbh", "mbh", "gesellschaft mit beschränkter haftung",
             "gesellschaft mit beschraenkter haftung"),
    "AG": ("ag", "aktiengesellschaft"),
    "SA": ("sa", "s a", "sarl", "s a r l", "sas", "sal", "s a l", "sae", "spa", "s p a",
           "srl", "s r l", "société anonyme", "sociedad anónima", "sa de cv", "s a de c v",
           "société à responsabilité limitée", "société par actions simplifiée",
           "società per azioni", "società a responsabilità limitata", "a s", "a ş",
           "anonim şirketi", "anonim sirketi", "spółka akcyjna", "societate pe acțiuni",
           "societatea pe acțiuni", "akciová společnost", "zrt", "nyrt"),
    "BV": ("bv", "b v", "nv", "n v"),
    "FZE": ("fze", "fzco", "fzc", "fz co", "dmcc"),
    "NGO": ("ngo", "нпо", "ано", "фонд", "foundation", "fund"),
}  # fmt: skip

# Legal forms of one kind in different countries: a firm's form written in another
# language (Aktiengesellschaft, S.A., A.Ş. for a joint-stock company; GmbH, S.A.R.L.,
# Ltd. Şti. for a limited one). S.A. stands for both in the table above (SARL, S.r.l.).
LEGAL_FAMILIES: tuple[frozenset[str], ...] = (
    frozenset({"JSC", "AG", "SA", "CORP", "PLC", "INC"}),
    frozenset({"LTD", "LLC", "GMBH", "LLP", "SA", "BV"}),
)

# Legal forms that end a Chinese or Japanese firm's name, written without a space
# (旷视科技有限公司): cut off and labelled like the others, longest first.
CJK_LEGAL_FORMS: dict[str, str] = {
    "股份有限公司": "JSC", "株式会社": "JSC", "有限责任公司": "LLC", "有限責任公司": "LLC",
    "有限公司": "LTD", "有限会社": "LTD", "合同会社": "LLC", "公司": "CO", "会社": "CO",
    "會社": "CO",
}  # fmt: skip

# Generic organisation words: they match, but a match on them alone proves little.
ORG_WORDS: frozenset[str] = frozenset(
    {"group", "holding", "holdings", "trading", "trade", "international", "industries",
     "industry", "industrial", "services", "service", "bank", "national", "state",
     "general", "enterprise", "enterprises", "development", "technology", "technologies",
     "shipping", "investment", "investments", "management", "global", "organization",
     "organisation", "association", "movement", "front", "party", "islamic", "republic",
     "center", "centre", "office", "agency", "committee", "council", "network", "brigade",
     "brigades", "battalion", "army", "forces", "компания", "группа", "банк",
     "государственный", "организация", "движение", "партия", "фронт", "центр"}
)  # fmt: skip

# Numbers written as words, cardinal and ordinal, by value: "Seventh of Tir" is the
# listed "7TH OF TIR". Tens followed by a unit make one number (Forty-Four, forty four,
# Forty 4).
# Not "ten": Тен / Ten is a common Korean surname in Kazakhstan.
UNITS: dict[str, int] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
    "seventh": 7, "eighth": 8, "ninth": 9,
}  # fmt: skip
NUMBER_WORDS: dict[str, int] = {
    **UNITS, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "twentieth": 20, "thirtieth": 30, "fortieth": 40,
    "fiftieth": 50, "sixtieth": 60, "seventieth": 70, "eightieth": 80, "ninetieth": 90,
    "hundred": 100, "hundredth": 100,
}  # fmt: skip
TENS: frozenset[str] = frozenset(
    {"twenty", "thirty", "forty", "fourty", "fifty", "sixty", "seventy", "eighty", "ninety"}
)  # (fourty: as often typed as forty)
# Digits typed for the letters they look like (M0HAMMAD, AL1): 1 is I or L.
LOOK_ALIKE_DIGITS: dict[str, str] = {"0": "o", "1": "i", "3": "e", "5": "s", "4": "a", "7": "t"}
