"""The synthetic DCAT-AP catalog (seeded per dataset: dataset *i* is the same in every run)
and the queries drawn from it."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from _catalog import KIND_ONE, KIND_TWO
from _catalog.vocab import (
    COUNTRIES,
    FORMATS,
    FREQUENCIES,
    LANGS,
    LICENCES,
    MEASURES,
    PUBLISHERS,
    SECTORS,
    SENTENCE_SOURCE,
    SENTENCE_WHAT,
    SENTENCE_WHO,
    SOURCES,
    STOPWORDS,
    TABLE_FIELDS,
)

THEME_URI = "http://publications.europa.eu/resource/authority/data-theme/"
ACCESS_URI = "http://publications.europa.eu/resource/authority/access-right/"
FILE_TYPE_URI = "http://publications.europa.eu/resource/authority/file-type/"
COUNTRY_URI = "http://publications.europa.eu/resource/authority/country/"
EUROPE_URI = "http://publications.europa.eu/resource/authority/continent/EUROPE"
INSPIRE_TG = "http://inspire.ec.europa.eu/id/document/tg/"
PUBLISHER_TYPES = (
    "http://purl.org/adms/publishertype/NationalAuthority",
    "http://purl.org/adms/publishertype/SupraNationalAuthority",
)
ACCESS_LEVELS = ("PUBLIC", "RESTRICTED", "NON_PUBLIC")
MEMBER_STATES = ("DEU", "FRA", "ESP", "ITA", "NLD", "AUT", "BEL")
_PUBLISHERS_BY_SECTOR = {s.tag: [p for p in PUBLISHERS if s.tag in p.sectors] for s in SECTORS}
_SECTOR_WEIGHTS = [s.weight for s in SECTORS]


@dataclass(frozen=True)
class Meta:
    """What query generation needs to know about a generated dataset."""

    access: str
    organisation: str
    sector: str
    languages: tuple[str, ...]
    title_words: tuple[tuple[str, ...], ...]  # query-worthy title tokens, per language
    themes: tuple[str, ...]
    formats: tuple[str, ...]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _query_words(text: str) -> tuple[str, ...]:
    from connector.catalog.dcat import tokens

    return tuple(w for w in tokens(text) if len(w) >= 4 and not w.isdigit() and w not in STOPWORDS)


def _weighted_sample(rng: random.Random, weights: dict[str, float], k: int) -> list[str]:
    pool = dict(weights)
    chosen: list[str] = []
    for _ in range(min(k, len(pool))):
        pick = rng.choices(list(pool), weights=list(pool.values()))[0]
        chosen.append(pick)
        del pool[pick]
    return chosen


class CatalogGenerator:
    """Dataset *i* depends only on (seed, i): runs repeat and a prefix of a run is a run."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def dataset(self, i: int) -> tuple[dict[str, Any], Meta]:
        rng = random.Random(f"catalog:{self.seed}:{i}")
        sector = rng.choices(SECTORS, weights=_SECTOR_WEIGHTS)[0]
        pub = rng.choice(_PUBLISHERS_BY_SECTOR[sector.tag])
        country = COUNTRIES[pub.country]
        subject = rng.choice(sector.subjects)
        measure = rng.choice(MEASURES)
        source = rng.choice(SOURCES)
        frequency = rng.choice(FREQUENCIES)

        langs = ["en"]
        for lang in country.languages:
            if lang != "en" and rng.random() < 0.8:
                langs.append(lang)
        if rng.random() < 0.15:
            langs.append(rng.choice([lang for lang in LANGS if lang not in langs]))

        # Where: a city or region (native name) or a country (localised name).
        if pub.country == "EUR":
            place_country = COUNTRIES[rng.choice(MEMBER_STATES)] if rng.random() < 0.5 else None
            native_place = None if place_country else rng.choice(country.places)
        else:
            place_country = country if rng.random() < 0.3 else None
            native_place = None if place_country else rng.choice(country.places)

        def place(lang: str) -> str:
            if native_place:
                return native_place
            return place_country.names[lang]  # type: ignore[union-attr]

        end = rng.randint(2008, 2025)
        span = rng.choice((0, 0, 0, 1, 2, 4, 9))
        start = end - span
        period = str(end) if span == 0 else f"{start}–{end}"
        space = sector.data_space if sector.data_space and rng.random() < 0.5 else country.portal

        title = {
            lang: f"{_cap(subject[lang])} – {measure[lang]}, {place(lang)} {period}"
            for lang in langs
        }
        description = {}
        for lang in langs:
            parts = [
                SENTENCE_WHAT[lang].format(
                    measure=_cap(measure[lang]),
                    subject=subject[lang],
                    place=place(lang),
                    period=period,
                ),
                SENTENCE_SOURCE[lang].format(source=source[lang], frequency=frequency[lang]),
                SENTENCE_WHO[lang].format(publisher=pub.name, space=space),
            ]
            if lang == "en" and rng.random() < 0.6:
                parts.append(sector.note)
            description[lang] = " ".join(parts)

        keywords = [
            w
            for w in re.findall(r"[\w-]+", subject["en"].lower())
            if len(w) > 3 and w not in STOPWORDS
        ]
        keywords += rng.sample(sector.keywords, k=min(len(sector.keywords), rng.randint(1, 3)))
        if native_place and rng.random() < 0.5:
            keywords.append(native_place)
        keywords = list(dict.fromkeys(keywords))
        keyword: list[str] | dict[str, list[str]] = keywords
        if len(langs) > 1 and rng.random() < 0.5:
            keyword = {"en": keywords, langs[1]: [subject[langs[1]]]}

        themes = [sector.themes[0][0]]
        themes += [code for code, p in sector.themes[1:] if rng.random() < p]
        access = rng.choices(ACCESS_LEVELS, weights=sector.access)[0]

        weights = {code: w for code, (_, _, w) in FORMATS.items()}
        for code, factor in sector.format_boost:
            weights[code] *= factor
        n_dist = rng.choices((1, 2, 3, 4), weights=(45, 35, 15, 5))[0]
        formats = _weighted_sample(rng, weights, n_dist)

        uid = f"{rng.getrandbits(128):032x}"
        slug = f"{_slug(subject['en'])}-{uid[:8]}"
        base = f"https://{pub.domain}/opendata/{slug}"
        issued = dt.date(end, 1, 1) + dt.timedelta(days=rng.randint(30, 400))
        modified = issued + dt.timedelta(days=rng.randint(0, 700))
        licence = None
        if access == "PUBLIC":
            licence = (
                "http://publications.europa.eu/resource/authority/licence/DL_DE_BY_2_0"
                if pub.country == "DEU" and rng.random() < 0.5
                else rng.choices([u for u, _ in LICENCES], [w for _, w in LICENCES])[0]
            )

        distributions = []
        for n, code in enumerate(formats):
            media, ext, _ = FORMATS[code]
            dist: dict[str, Any] = {
                "identifier": f"{base}/distribution/{n + 1}",
                "title": {lang: f"{_cap(subject[lang])} ({code})" for lang in langs[:2]},
                "accessURL": base,
                "downloadURL": f"{base}/{slug}-{end}.{ext}",
                "format": FILE_TYPE_URI + code if rng.random() < 0.3 else code,
                "mediaType": media,
                "byteSize": int(rng.lognormvariate(13, 2)),
                "checksum": {
                    "algorithm": "sha256",
                    "checksumValue": f"{rng.getrandbits(256):064x}",
                },
                "issued": issued.isoformat(),
                "modified": modified.isoformat(),
            }
            if licence:
                dist["license"] = licence
            if code in ("CSV", "PARQUET") and rng.random() < 0.4:
                fields = rng.sample(TABLE_FIELDS, k=rng.randint(3, len(TABLE_FIELDS)))
                dist["schema"] = {
                    "fields": [{"name": f, "type": t, "description": d} for f, t, d in fields]
                }
            distributions.append(dist)

        doc: dict[str, Any] = {
            "organisation": pub.slug,
            "identifier": f"https://{pub.domain}/id/dataset/{uid}",
            "title": title,
            "description": description,
            "publisher": {
                "name": pub.name if rng.random() < 0.5 else {"en": pub.name},
                "identifier": f"https://{pub.domain}/",
                "homepage": f"https://www.{pub.domain}/",
                "type": PUBLISHER_TYPES[pub.country == "EUR"],
            },
            "contactPoint": {
                "fn": f"{pub.name} – open data team",
                "hasEmail": f"mailto:opendata@{pub.domain}",
            },
            "keyword": keyword,
            "theme": [THEME_URI + t if rng.random() < 0.2 else t for t in themes],
            "accessRights": ACCESS_URI + access if rng.random() < 0.2 else access,
            "temporal": {"startDate": f"{start}-01-01", "endDate": f"{end}-12-31"},
            "spatial": [
                EUROPE_URI
                if pub.country == "EUR" and not place_country
                else COUNTRY_URI + (place_country or country).code
            ],
            "issued": issued.isoformat(),
            "modified": modified.isoformat(),
            "landingPage": base,
            "dataSpace": space,
            "sector": sector.tag,
            "distribution": distributions,
        }
        if licence:
            doc["license"] = licence
        if sector.tag == "environment" and rng.random() < 0.4:
            doc["conformsTo"] = [INSPIRE_TG + rng.choice(("ac-mf", "lc", "ps", "hy", "ef", "am"))]
        meta = Meta(
            access=access,
            organisation=pub.slug,
            sector=sector.tag,
            languages=tuple(langs),
            title_words=tuple(_query_words(title[lang]) for lang in langs),
            themes=tuple(themes),
            formats=tuple(formats),
        )
        return doc, meta


@dataclass(frozen=True)
class Query:
    text: str
    filters: dict[str, list[str]] = field(default_factory=dict)

    def params(self) -> list[tuple[str, str]]:
        return [("q", self.text)] + [(k, v) for k, vs in self.filters.items() for v in vs]

    def label(self) -> str:
        return "&".join(f"{k}={v}" for k, v in self.params())


def build_queries(
    metas: Sequence[Meta], org: str, n: int, rng: random.Random
) -> dict[str, list[Query]]:
    """``n`` queries of each kind, drawn from titles of datasets visible to a steward of ``org``."""
    visible = [m for m in metas if m.access == "PUBLIC" or m.organisation == org]
    one: list[Query] = []
    while len(one) < n:
        words = [w for ws in rng.choice(visible).title_words for w in ws]
        if words:
            one.append(Query(rng.choice(words)))
    two: list[Query] = []
    while len(two) < n:
        meta = rng.choice(visible)
        lists = [ws for ws in meta.title_words if len(set(ws)) >= 2]
        if not lists:
            continue
        words = rng.choice(lists)
        i, j = sorted(rng.sample(range(len(words)), 2))
        if words[i] == words[j]:
            continue
        two.append(
            Query(
                f"{words[i]} {words[j]}",
                {"theme": [rng.choice(meta.themes)], "format": [rng.choice(meta.formats)]},
            )
        )
    return {KIND_ONE: one, KIND_TWO: two}


def describe_catalog(metas: Sequence[Meta]) -> dict[str, Any]:
    n = len(metas)

    def shares(counter: Counter[str]) -> dict[str, float]:
        return {k: round(v / n, 4) for k, v in counter.most_common()}

    return {
        "datasets": n,
        "sectors": shares(Counter(m.sector for m in metas)),
        "access_rights": shares(Counter(m.access for m in metas)),
        "languages": shares(Counter(lang for m in metas for lang in m.languages)),
        "formats": shares(Counter(f for m in metas for f in m.formats)),
        "themes": shares(Counter(t for m in metas for t in m.themes)),
        "publishers": len({m.organisation for m in metas}),
        "mean_languages": round(sum(len(m.languages) for m in metas) / n, 2),
        "mean_distributions": round(sum(len(m.formats) for m in metas) / n, 2),
    }


