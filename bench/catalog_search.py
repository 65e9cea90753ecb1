#!/usr/bin/env python
"""Catalog benchmark: registration rate and search latency at 100,000 DCAT-AP datasets.

Generates synthetic but realistic DCAT-AP 3 datasets (multilingual titles and descriptions
from the vocabularies of health, defence, mobility, environment, energy ... open data; EU
data-theme codes; real European publishers; keywords; CSV/JSON/PARQUET/... distributions;
access rights mostly PUBLIC, some RESTRICTED and NON_PUBLIC). Generation is seeded per
dataset, so dataset *i* is the same in every run and for every ``--datasets``.

For each backend (SQLite: the embedded default under a temporary ``CONNECTOR_HOME``;
PostgreSQL: schema ``bench_catalog``, dropped and created at the start) it

1. registers the datasets through ``connector.catalog.service.register_dataset`` (one unit of
   work per dataset, the OPERATOR principal) and times each call;
2. starts a real server (``connector serve`` in a subprocess on a free loopback port) and
   registers a smaller sample with ``POST /api/v1/datasets``, to show the HTTP cost;
3. times searches as a steward (made with ``connector users create ... --json``): one-word
   queries, and two-word queries with two facet filters (``theme`` and ``format``), in-process
   (``connector.catalog.service.search_datasets``) and over HTTP (``GET /api/v1/datasets``).
   Query words are drawn from titles of datasets the steward may see, so results are
   non-empty; facet filters are a theme and a format of that same dataset.

It prints a table, writes JSON under ``bench/results/`` and rewrites its section of
``docs/benchmarks.md``. ``--profile`` adds cProfile hotspots, SQL time per statement and
query plans.

    .venv/bin/python bench/catalog_search.py --datasets 100000 --backend both
"""

# ruff: noqa: E501  (the multilingual vocabulary tables below are one row per line)
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import random
import re
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
DOCS_PATH = REPO / "docs" / "benchmarks.md"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_PG_SCHEMA = "bench_catalog"
TARGET_P95_MS = 50.0
MARK_BEGIN = "<!-- catalog_search:begin -->"
MARK_END = "<!-- catalog_search:end -->"

KIND_ONE = "one-word"
KIND_TWO = "two-word+theme+format"
KIND_LABELS = {KIND_ONE: "1 word", KIND_TWO: "2 words + theme + format"}


# ---------------------------------------------------------------------------------------
# Vocabularies. Every table row is ``en | de | fr | es | it | nl``.
# ---------------------------------------------------------------------------------------
# fmt: off

LANGS = ("en", "de", "fr", "es", "it", "nl")


def _rows(table: str) -> list[dict[str, str]]:
    rows = []
    for line in table.strip().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) != len(LANGS):
            raise ValueError(f"vocabulary row needs {len(LANGS)} cells: {line!r}")
        rows.append(dict(zip(LANGS, cells, strict=True)))
    return rows


@dataclass(frozen=True)
class Sector:
    tag: str                       # the ``sector`` value
    weight: float                  # share of the catalog
    themes: tuple[tuple[str, float], ...]  # (EU data-theme code, probability); the first always
    access: tuple[float, float, float]     # PUBLIC, RESTRICTED, NON_PUBLIC shares
    subjects: tuple[dict[str, str], ...]
    keywords: tuple[str, ...]
    data_space: str                # the sector's European data space
    note: str                      # an extra English sentence for descriptions
    format_boost: tuple[tuple[str, float], ...] = ()


SECTORS: tuple[Sector, ...] = (
    Sector(
        "health", 14, (("HEAL", 1.0), ("SOCI", 0.15)), (0.74, 0.19, 0.07),
        tuple(_rows("""
hospital admissions | Krankenhausaufnahmen | admissions hospitalières | ingresos hospitalarios | ricoveri ospedalieri | ziekenhuisopnames
vaccination coverage | Impfquoten | couverture vaccinale | cobertura de vacunación | copertura vaccinale | vaccinatiegraad
cancer incidence | Krebsinzidenz | incidence des cancers | incidencia del cáncer | incidenza dei tumori | kankerincidentie
antibiotic prescriptions | Antibiotikaverordnungen | prescriptions d'antibiotiques | prescripciones de antibióticos | prescrizioni di antibiotici | antibioticavoorschriften
intensive care bed occupancy | Belegung der Intensivbetten | occupation des lits de réanimation | ocupación de camas de cuidados intensivos | occupazione dei posti letto in terapia intensiva | bezetting van intensivecarebedden
influenza surveillance | Influenza-Surveillance | surveillance de la grippe | vigilancia de la gripe | sorveglianza dell'influenza | griepsurveillance
life expectancy at birth | Lebenserwartung bei Geburt | espérance de vie à la naissance | esperanza de vida al nacer | speranza di vita alla nascita | levensverwachting bij geboorte
emergency department visits | Notaufnahmebesuche | passages aux urgences | visitas a urgencias | accessi al pronto soccorso | bezoeken aan de spoedeisende hulp
diabetes prevalence | Diabetesprävalenz | prévalence du diabète | prevalencia de la diabetes | prevalenza del diabete | prevalentie van diabetes
mental health consultations | Konsultationen wegen psychischer Erkrankungen | consultations en santé mentale | consultas de salud mental | consultazioni di salute mentale | consulten in de geestelijke gezondheidszorg
pharmacy locations | Apothekenstandorte | localisation des pharmacies | ubicación de farmacias | ubicazione delle farmacie | locaties van apotheken
""")),
        ("public health", "epidemiology", "healthcare", "hospitals", "disease surveillance",
         "COVID-19", "prevention"),
        "European Health Data Space (HealthData@EU)",
        "Figures are broken down by age group, sex and ICD-10 chapter; small counts are suppressed.",
    ),
    Sector(
        "defence", 6, (("GOVE", 1.0), ("INTR", 0.3), ("JUST", 0.1)), (0.45, 0.30, 0.25),
        tuple(_rows("""
military personnel strength | Personalstärke der Streitkräfte | effectifs des forces armées | efectivos de las fuerzas armadas | consistenza del personale militare | personeelssterkte van de krijgsmacht
defence expenditure | Verteidigungsausgaben | dépenses de défense | gasto en defensa | spesa per la difesa | defensie-uitgaven
equipment procurement contracts | Beschaffungsverträge für Wehrmaterial | contrats d'acquisition d'équipements militaires | contratos de adquisición de material militar | contratti di acquisizione di materiali militari | contracten voor materieelverwerving
cyber incident reports | Meldungen von Cybervorfällen | signalements d'incidents cyber | notificaciones de incidentes cibernéticos | segnalazioni di incidenti informatici | meldingen van cyberincidenten
military airspace restrictions | Beschränkungen des militärischen Luftraums | restrictions de l'espace aérien militaire | restricciones del espacio aéreo militar | restrizioni dello spazio aereo militare | beperkingen van het militaire luchtruim
peacekeeping deployments | Auslandseinsätze zur Friedenssicherung | déploiements de maintien de la paix | despliegues de mantenimiento de la paz | missioni di mantenimento della pace | vredesmissies
training area usage | Nutzung der Truppenübungsplätze | utilisation des camps d'entraînement | uso de campos de maniobras | utilizzo dei poligoni addestrativi | gebruik van militaire oefenterreinen
maritime surveillance tracks | Spurdaten der Seeraumüberwachung | pistes de surveillance maritime | trazas de vigilancia marítima | tracce di sorveglianza marittima | sporen van maritieme bewaking
military logistics fuel consumption | Kraftstoffverbrauch der Militärlogistik | consommation de carburant de la logistique militaire | consumo de combustible de la logística militar | consumo di carburante della logistica militare | brandstofverbruik van de militaire logistiek
""")),
        ("defence", "armed forces", "security", "NATO", "military", "procurement"),
        "European Defence Data Space (pilot)",
        "Values are aggregated to protect operational details.",
        (("PDF", 2.0), ("XML", 1.5)),
    ),
    Sector(
        "mobility", 14, (("TRAN", 1.0), ("REGI", 0.2), ("ENVI", 0.1)), (0.92, 0.06, 0.02),
        tuple(_rows("""
traffic counts | Verkehrszählungen | comptages routiers | aforos de tráfico | conteggi del traffico | verkeerstellingen
public transport ridership | Fahrgastzahlen im öffentlichen Verkehr | fréquentation des transports publics | viajeros del transporte público | passeggeri del trasporto pubblico | reizigersaantallen openbaar vervoer
bicycle counts | Radverkehrszählungen | comptages vélo | aforos de bicicletas | conteggi delle biciclette | fietstellingen
road accidents | Straßenverkehrsunfälle | accidents de la route | accidentes de tráfico | incidenti stradali | verkeersongevallen
electric vehicle charging points | Ladepunkte für Elektrofahrzeuge | points de recharge pour véhicules électriques | puntos de recarga para vehículos eléctricos | punti di ricarica per veicoli elettrici | laadpunten voor elektrische voertuigen
parking occupancy | Parkplatzbelegung | occupation des parkings | ocupación de aparcamientos | occupazione dei parcheggi | parkeerbezetting
rail punctuality | Pünktlichkeit im Schienenverkehr | ponctualité ferroviaire | puntualidad ferroviaria | puntualità ferroviaria | punctualiteit van het spoor
air passenger traffic | Fluggastaufkommen | trafic aérien de passagers | tráfico aéreo de pasajeros | traffico aereo passeggeri | luchtreizigersverkeer
bus stop locations | Haltestellen des Busverkehrs | arrêts de bus | paradas de autobús | fermate degli autobus | bushaltes
commuter flows | Pendlerströme | flux domicile-travail | flujos de movilidad obligada | flussi pendolari | woon-werkverkeer
""")),
        ("transport", "traffic", "mobility", "public transport", "road safety", "GTFS"),
        "Mobility Data Space",
        "Locations are given in WGS 84; stop and station codes follow the national access point.",
        (("JSON", 2.0), ("GEOJSON", 2.0)),
    ),
    Sector(
        "environment", 14, (("ENVI", 1.0), ("REGI", 0.1), ("AGRI", 0.05)), (0.95, 0.04, 0.01),
        tuple(_rows("""
air quality measurements | Luftqualitätsmessungen | mesures de la qualité de l'air | mediciones de la calidad del aire | misurazioni della qualità dell'aria | luchtkwaliteitsmetingen
bathing water quality | Badegewässerqualität | qualité des eaux de baignade | calidad de las aguas de baño | qualità delle acque di balneazione | zwemwaterkwaliteit
greenhouse gas emissions | Treibhausgasemissionen | émissions de gaz à effet de serre | emisiones de gases de efecto invernadero | emissioni di gas serra | broeikasgasemissies
environmental noise maps | Umgebungslärmkarten | cartes de bruit environnemental | mapas de ruido ambiental | mappe acustiche | geluidsbelastingkaarten
land cover | Bodenbedeckung | occupation des sols | cobertura del suelo | copertura del suolo | bodembedekking
Natura 2000 protected areas | Natura-2000-Schutzgebiete | zones protégées Natura 2000 | espacios protegidos Natura 2000 | aree protette Natura 2000 | Natura 2000-beschermde gebieden
river discharge levels | Abflusspegel der Flüsse | débits des cours d'eau | caudales de los ríos | portate dei fiumi | rivierafvoer
municipal waste collection | kommunale Abfallsammlung | collecte des déchets municipaux | recogida de residuos municipales | raccolta dei rifiuti urbani | inzameling van huishoudelijk afval
biodiversity observations | Beobachtungen der Artenvielfalt | observations de la biodiversité | observaciones de biodiversidad | osservazioni sulla biodiversità | biodiversiteitswaarnemingen
forest fire perimeters | Waldbrandflächen | périmètres des feux de forêt | perímetros de incendios forestales | perimetri degli incendi boschivi | contouren van bosbranden
""")),
        ("environment", "climate", "pollution", "water", "INSPIRE", "biodiversity"),
        "Green Deal Data Space",
        "The dataset implements the INSPIRE data specification of its theme.",
        (("NETCDF", 4.0), ("GEOJSON", 3.0), ("SHP", 3.0)),
    ),
    Sector(
        "energy", 8, (("ENER", 1.0), ("ENVI", 0.3)), (0.90, 0.07, 0.03),
        tuple(_rows("""
electricity consumption | Stromverbrauch | consommation d'électricité | consumo de electricidad | consumo di energia elettrica | elektriciteitsverbruik
solar power generation | Solarstromerzeugung | production d'électricité solaire | generación solar fotovoltaica | produzione di energia solare | zonnestroomproductie
wind power generation | Windstromerzeugung | production d'électricité éolienne | generación eólica | produzione di energia eolica | windstroomproductie
natural gas prices | Erdgaspreise | prix du gaz naturel | precios del gas natural | prezzi del gas naturale | aardgasprijzen
energy performance certificates | Energieausweise | diagnostics de performance énergétique | certificados de eficiencia energética | attestati di prestazione energetica | energielabels
transmission grid load | Netzlast im Übertragungsnetz | charge du réseau de transport | carga de la red de transporte | carico della rete di trasmissione | belasting van het transportnet
district heating networks | Fernwärmenetze | réseaux de chaleur | redes de calefacción urbana | reti di teleriscaldamento | warmtenetten
""")),
        ("energy", "electricity", "renewables", "energy transition", "grid"),
        "Common European Energy Data Space",
        "Time stamps are in UTC at quarter-hour resolution.",
        (("CSV", 1.5), ("PARQUET", 2.0)),
    ),
    Sector(
        "agriculture", 7, (("AGRI", 1.0), ("ENVI", 0.15)), (0.90, 0.07, 0.03),
        tuple(_rows("""
crop yields | Ernteerträge | rendements des cultures | rendimientos de los cultivos | rese delle colture | gewasopbrengsten
livestock census | Viehbestandserhebung | recensement du cheptel | censo ganadero | censimento del bestiame | veetelling
pesticide sales | Absatz von Pflanzenschutzmitteln | ventes de pesticides | ventas de plaguicidas | vendite di pesticidi | verkoop van gewasbeschermingsmiddelen
organic farming area | ökologisch bewirtschaftete Fläche | surfaces en agriculture biologique | superficie de agricultura ecológica | superficie ad agricoltura biologica | biologisch landbouwareaal
milk production | Milcherzeugung | production laitière | producción de leche | produzione di latte | melkproductie
fishing catches | Fangmengen der Fischerei | captures de pêche | capturas pesqueras | catture della pesca | visvangsten
agricultural parcels | landwirtschaftliche Parzellen | parcelles agricoles | parcelas agrícolas | particelle agricole | landbouwpercelen
""")),
        ("agriculture", "farming", "food", "CAP", "rural development"),
        "Agricultural Data Space",
        "Parcel identifiers follow the Land Parcel Identification System (LPIS).",
    ),
    Sector(
        "economy", 10, (("ECON", 1.0), ("GOVE", 0.1)), (0.96, 0.03, 0.01),
        tuple(_rows("""
unemployment rate | Arbeitslosenquote | taux de chômage | tasa de paro | tasso di disoccupazione | werkloosheidspercentage
consumer price index | Verbraucherpreisindex | indice des prix à la consommation | índice de precios de consumo | indice dei prezzi al consumo | consumentenprijsindex
business registrations | Gewerbeanmeldungen | créations d'entreprises | altas de empresas | iscrizioni di imprese | bedrijfsinschrijvingen
tourist overnight stays | touristische Übernachtungen | nuitées touristiques | pernoctaciones turísticas | presenze turistiche | toeristische overnachtingen
public procurement notices | öffentliche Ausschreibungen | avis de marchés publics | anuncios de contratación pública | bandi di gara pubblici | aanbestedingen
gross domestic product | Bruttoinlandsprodukt | produit intérieur brut | producto interior bruto | prodotto interno lordo | bruto binnenlands product
household disposable income | verfügbares Einkommen der Haushalte | revenu disponible des ménages | renta disponible de los hogares | reddito disponibile delle famiglie | besteedbaar inkomen van huishoudens
""")),
        ("economy", "labour market", "prices", "business", "statistics"),
        "",
        "Seasonally adjusted and unadjusted series are both provided.",
        (("CSV", 1.5), ("XLSX", 1.5)),
    ),
    Sector(
        "education", 7, (("EDUC", 1.0), ("SOCI", 0.2)), (0.94, 0.05, 0.01),
        tuple(_rows("""
school enrolment | Schülerzahlen | effectifs scolaires | matriculación escolar | iscrizioni scolastiche | leerlingenaantallen
university graduates | Hochschulabsolventen | diplômés de l'enseignement supérieur | titulados universitarios | laureati | afgestudeerden hoger onderwijs
teacher workforce | Lehrkräfte | effectifs enseignants | profesorado | personale docente | onderwijspersoneel
Erasmus student mobility | Erasmus-Studierendenmobilität | mobilité étudiante Erasmus | movilidad de estudiantes Erasmus | mobilità studentesca Erasmus | Erasmus-studentenmobiliteit
school locations | Schulstandorte | implantations scolaires | centros educativos | sedi scolastiche | schoollocaties
early school leavers | frühe Schulabgänger | sorties précoces du système scolaire | abandono escolar temprano | abbandono scolastico precoce | voortijdig schoolverlaters
""")),
        ("education", "schools", "students", "higher education"),
        "",
        "School years run from September to August.",
    ),
    Sector(
        "public-safety", 6, (("JUST", 1.0), ("SOCI", 0.15)), (0.80, 0.14, 0.06),
        tuple(_rows("""
recorded crime | polizeilich erfasste Straftaten | crimes et délits enregistrés | infracciones penales registradas | delitti denunciati | geregistreerde criminaliteit
court caseload | Geschäftsanfall der Gerichte | activité des juridictions | carga de trabajo de los tribunales | carico di lavoro dei tribunali | werklast van de rechtbanken
prison population | Gefangenenbestand | population carcérale | población reclusa | popolazione carceraria | gevangenispopulatie
fire brigade interventions | Feuerwehreinsätze | interventions des sapeurs-pompiers | intervenciones de bomberos | interventi dei vigili del fuoco | brandweerinzetten
flood risk zones | Hochwasserrisikogebiete | zones à risque d'inondation | zonas de riesgo de inundación | zone a rischio di alluvione | overstromingsrisicogebieden
emergency call volumes | Notrufaufkommen | volume des appels d'urgence | volumen de llamadas de emergencia | volume delle chiamate di emergenza | aantal noodoproepen
""")),
        ("public safety", "crime", "justice", "emergency services", "civil protection"),
        "",
        "Offences are classified according to the International Classification of Crime for Statistical Purposes.",
    ),
    Sector(
        "population", 7, (("SOCI", 1.0), ("REGI", 0.2)), (0.95, 0.04, 0.01),
        tuple(_rows("""
population by age and sex | Bevölkerung nach Alter und Geschlecht | population par âge et sexe | población por edad y sexo | popolazione per età e sesso | bevolking naar leeftijd en geslacht
births and deaths | Geburten und Sterbefälle | naissances et décès | nacimientos y defunciones | nascite e decessi | geboorten en sterfgevallen
migration flows | Wanderungsbewegungen | flux migratoires | flujos migratorios | flussi migratori | migratiestromen
housing prices | Wohnimmobilienpreise | prix des logements | precios de la vivienda | prezzi delle abitazioni | woningprijzen
social benefit recipients | Empfänger von Sozialleistungen | bénéficiaires de prestations sociales | perceptores de prestaciones sociales | beneficiari di prestazioni sociali | ontvangers van uitkeringen
household composition | Haushaltszusammensetzung | composition des ménages | composición de los hogares | composizione delle famiglie | samenstelling van huishoudens
""")),
        ("population", "demography", "census", "housing", "social affairs"),
        "",
        "Regional codes follow the NUTS 2021 classification.",
        (("CSV", 1.5), ("XLSX", 1.5)),
    ),
    Sector(
        "government", 4, (("GOVE", 1.0), ("REGI", 0.2)), (0.93, 0.05, 0.02),
        tuple(_rows("""
municipal budgets | Gemeindehaushalte | budgets communaux | presupuestos municipales | bilanci comunali | gemeentebegrotingen
election results | Wahlergebnisse | résultats électoraux | resultados electorales | risultati elettorali | verkiezingsuitslagen
public sector employment | Beschäftigte im öffentlichen Dienst | emploi public | empleo público | occupazione nel settore pubblico | werkgelegenheid in de publieke sector
administrative boundaries | Verwaltungsgrenzen | limites administratives | límites administrativos | confini amministrativi | bestuurlijke grenzen
parliamentary questions | parlamentarische Anfragen | questions parlementaires | preguntas parlamentarias | interrogazioni parlamentari | Kamervragen
""")),
        ("government", "public administration", "elections", "budget", "transparency"),
        "",
        "Amounts are in euro at current prices.",
    ),
    Sector(
        "science", 3, (("TECH", 1.0), ("ENVI", 0.2)), (0.90, 0.08, 0.02),
        tuple(_rows("""
broadband coverage | Breitbandversorgung | couverture haut débit | cobertura de banda ancha | copertura della banda larga | breedbanddekking
research grants | Forschungsförderung | subventions de recherche | ayudas a la investigación | finanziamenti alla ricerca | onderzoekssubsidies
patent applications | Patentanmeldungen | demandes de brevets | solicitudes de patentes | domande di brevetto | octrooiaanvragen
satellite imagery | Satellitenbilder | images satellitaires | imágenes de satélite | immagini satellitari | satellietbeelden
weather station observations | Wetterstationsbeobachtungen | observations des stations météorologiques | observaciones de estaciones meteorológicas | osservazioni delle stazioni meteorologiche | waarnemingen van weerstations
""")),
        ("research", "innovation", "earth observation", "meteorology", "open science"),
        "Copernicus Data Space Ecosystem",
        "Processing follows the provider's documented quality-control chain.",
        (("NETCDF", 4.0), ("PARQUET", 1.5)),
    ),
)

MEASURES = _rows("""
annual statistics | Jahresstatistik | statistiques annuelles | estadísticas anuales | statistiche annuali | jaarstatistieken
monthly time series | monatliche Zeitreihe | série mensuelle | serie temporal mensual | serie storica mensile | maandelijkse tijdreeks
weekly report | Wochenbericht | bulletin hebdomadaire | informe semanal | bollettino settimanale | weekrapportage
register | Register | registre | registro | registro | register
survey results | Erhebungsergebnisse | résultats d'enquête | resultados de la encuesta | risultati dell'indagine | enquêteresultaten
key indicators | Kennzahlen | indicateurs clés | indicadores clave | indicatori chiave | kerncijfers
map | Karte | carte | mapa | mappa | kaart
forecast | Prognose | prévisions | previsiones | previsioni | prognose
real-time feed | Echtzeitdaten | flux en temps réel | datos en tiempo real | dati in tempo reale | realtimegegevens
regional breakdown | regionale Aufschlüsselung | ventilation régionale | desglose regional | ripartizione regionale | regionale uitsplitsing
quarterly statistics | Quartalsstatistik | statistiques trimestrielles | estadísticas trimestrales | statistiche trimestrali | kwartaalstatistieken
open data extract | Open-Data-Auszug | extrait open data | extracto de datos abiertos | estratto open data | open-data-extract
""")

SOURCES = _rows("""
administrative registers | Verwaltungsregistern | registres administratifs | registros administrativos | registri amministrativi | administratieve registers
sensor networks | Sensornetzen | réseaux de capteurs | redes de sensores | reti di sensori | sensornetwerken
sample surveys | Stichprobenerhebungen | enquêtes par sondage | encuestas por muestreo | indagini campionarie | steekproefonderzoeken
satellite observations | Satellitenbeobachtungen | observations satellitaires | observaciones por satélite | osservazioni satellitari | satellietwaarnemingen
reports from local authorities | Meldungen der Kommunen | remontées des collectivités locales | informes de las entidades locales | segnalazioni degli enti locali | meldingen van gemeenten
operator systems | Betreibersystemen | systèmes des opérateurs | sistemas de los operadores | sistemi dei gestori | systemen van de beheerders
""")

FREQUENCIES = _rows("""
daily | täglich | quotidiennement | diariamente | quotidianamente | dagelijks
weekly | wöchentlich | chaque semaine | semanalmente | settimanalmente | wekelijks
monthly | monatlich | chaque mois | mensualmente | mensilmente | maandelijks
quarterly | vierteljährlich | chaque trimestre | trimestralmente | trimestralmente | per kwartaal
annually | jährlich | chaque année | anualmente | annualmente | jaarlijks
""")

#: Description sentences per language: what, where from, who.
SENTENCE_WHAT = {
    "en": "{measure} on {subject} for {place}, {period}.",
    "de": "{measure} zu {subject} für {place}, {period}.",
    "fr": "{measure} : {subject}, {place}, {period}.",
    "es": "{measure} sobre {subject} en {place}, {period}.",
    "it": "{measure} su {subject} per {place}, {period}.",
    "nl": "{measure} over {subject} voor {place}, {period}.",
}
SENTENCE_SOURCE = {
    "en": "The data come from {source} and are updated {frequency}.",
    "de": "Die Daten stammen aus {source} und werden {frequency} aktualisiert.",
    "fr": "Les données proviennent de {source} et sont mises à jour {frequency}.",
    "es": "Los datos proceden de {source} y se actualizan {frequency}.",
    "it": "I dati provengono da {source} e sono aggiornati {frequency}.",
    "nl": "De gegevens zijn afkomstig uit {source} en worden {frequency} bijgewerkt.",
}
SENTENCE_WHO = {
    "en": "Published by {publisher} on {space}.",
    "de": "Veröffentlicht von {publisher} auf {space}.",
    "fr": "Publié par {publisher} sur {space}.",
    "es": "Publicado por {publisher} en {space}.",
    "it": "Pubblicato da {publisher} su {space}.",
    "nl": "Gepubliceerd door {publisher} op {space}.",
}


@dataclass(frozen=True)
class Country:
    code: str                      # EU country authority code (ISO 3166-1 alpha-3)
    languages: tuple[str, ...]     # official languages among LANGS
    names: dict[str, str]
    places: tuple[str, ...]        # cities and regions, native names
    portal: str                    # the national open-data portal


COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country("DEU", ("de",), _rows("Germany | Deutschland | Allemagne | Alemania | Germania | Duitsland")[0],
                ("Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Stuttgart", "Leipzig",
                 "Dresden", "Bremen", "Hannover", "Bayern", "Nordrhein-Westfalen",
                 "Baden-Württemberg", "Sachsen"), "GovData.de"),
        Country("FRA", ("fr",), _rows("France | Frankreich | France | Francia | Francia | Frankrijk")[0],
                ("Paris", "Lyon", "Marseille", "Toulouse", "Lille", "Bordeaux", "Nantes",
                 "Strasbourg", "Île-de-France", "Occitanie", "Bretagne", "Auvergne-Rhône-Alpes"),
                "data.gouv.fr"),
        Country("ESP", ("es",), _rows("Spain | Spanien | Espagne | España | Spagna | Spanje")[0],
                ("Madrid", "Barcelona", "Valencia", "Sevilla", "Zaragoza", "Bilbao", "Málaga",
                 "Andalucía", "Cataluña", "Galicia", "Castilla y León"), "datos.gob.es"),
        Country("ITA", ("it",), _rows("Italy | Italien | Italie | Italia | Italia | Italië")[0],
                ("Roma", "Milano", "Napoli", "Torino", "Bologna", "Firenze", "Palermo", "Genova",
                 "Lombardia", "Toscana", "Sicilia", "Emilia-Romagna"), "dati.gov.it"),
        Country("NLD", ("nl",), _rows("Netherlands | Niederlande | Pays-Bas | Países Bajos | Paesi Bassi | Nederland")[0],
                ("Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen",
                 "Noord-Holland", "Zuid-Holland", "Gelderland", "Noord-Brabant"), "data.overheid.nl"),
        Country("AUT", ("de",), _rows("Austria | Österreich | Autriche | Austria | Austria | Oostenrijk")[0],
                ("Wien", "Graz", "Linz", "Salzburg", "Innsbruck", "Tirol", "Steiermark"), "data.gv.at"),
        Country("BEL", ("fr", "nl"), _rows("Belgium | Belgien | Belgique | Bélgica | Belgio | België")[0],
                ("Bruxelles", "Antwerpen", "Gent", "Liège", "Brugge", "Wallonie", "Vlaanderen"),
                "data.gov.be"),
        Country("EUR", ("en",), _rows("European Union | Europäische Union | Union européenne | Unión Europea | Unione europea | Europese Unie")[0],
                ("EU-27", "euro area", "EEA member countries"), "data.europa.eu"),
    )
}


@dataclass(frozen=True)
class Publisher:
    slug: str
    name: str
    country: str
    domain: str
    sectors: tuple[str, ...]


STATS = ("economy", "population", "education", "government")
PUBLISHERS: tuple[Publisher, ...] = (
    Publisher("rki", "Robert Koch-Institut", "DEU", "rki.de", ("health",)),
    Publisher("sante-publique-france", "Santé publique France", "FRA", "santepubliquefrance.fr", ("health",)),
    Publisher("iss", "Istituto Superiore di Sanità", "ITA", "iss.it", ("health",)),
    Publisher("rivm", "Rijksinstituut voor Volksgezondheid en Milieu", "NLD", "rivm.nl", ("health", "environment")),
    Publisher("isciii", "Instituto de Salud Carlos III", "ESP", "isciii.es", ("health",)),
    Publisher("ecdc", "European Centre for Disease Prevention and Control", "EUR", "ecdc.europa.eu", ("health",)),
    Publisher("sciensano", "Sciensano", "BEL", "sciensano.be", ("health",)),
    Publisher("bmvg", "Bundesministerium der Verteidigung", "DEU", "bmvg.de", ("defence",)),
    Publisher("ministere-armees", "Ministère des Armées", "FRA", "defense.gouv.fr", ("defence",)),
    Publisher("mde", "Ministerio de Defensa", "ESP", "defensa.gob.es", ("defence",)),
    Publisher("difesa", "Ministero della Difesa", "ITA", "difesa.it", ("defence",)),
    Publisher("mindef-nl", "Ministerie van Defensie", "NLD", "defensie.nl", ("defence",)),
    Publisher("eda", "European Defence Agency", "EUR", "eda.europa.eu", ("defence",)),
    Publisher("bast", "Bundesanstalt für Straßenwesen", "DEU", "bast.de", ("mobility",)),
    Publisher("idf-mobilites", "Île-de-France Mobilités", "FRA", "iledefrance-mobilites.fr", ("mobility",)),
    Publisher("dgt", "Dirección General de Tráfico", "ESP", "dgt.es", ("mobility", "public-safety")),
    Publisher("rijkswaterstaat", "Rijkswaterstaat", "NLD", "rijkswaterstaat.nl", ("mobility", "environment")),
    Publisher("rfi", "Rete Ferroviaria Italiana", "ITA", "rfi.it", ("mobility",)),
    Publisher("oebb-infra", "ÖBB-Infrastruktur", "AUT", "oebb.at", ("mobility",)),
    Publisher("eea", "European Environment Agency", "EUR", "eea.europa.eu", ("environment",)),
    Publisher("uba", "Umweltbundesamt", "DEU", "umweltbundesamt.de", ("environment",)),
    Publisher("ispra", "Istituto Superiore per la Protezione e la Ricerca Ambientale", "ITA", "isprambiente.gov.it", ("environment",)),
    Publisher("ademe", "Agence de la transition écologique (ADEME)", "FRA", "ademe.fr", ("environment", "energy")),
    Publisher("miteco", "Ministerio para la Transición Ecológica y el Reto Demográfico", "ESP", "miteco.gob.es", ("environment", "energy")),
    Publisher("bnetza", "Bundesnetzagentur", "DEU", "bundesnetzagentur.de", ("energy",)),
    Publisher("rte", "Réseau de transport d'électricité (RTE)", "FRA", "rte-france.com", ("energy",)),
    Publisher("tennet", "TenneT TSO", "NLD", "tennet.eu", ("energy",)),
    Publisher("ree", "Red Eléctrica", "ESP", "ree.es", ("energy",)),
    Publisher("terna", "Terna", "ITA", "terna.it", ("energy",)),
    Publisher("ble", "Bundesanstalt für Landwirtschaft und Ernährung", "DEU", "ble.de", ("agriculture",)),
    Publisher("franceagrimer", "FranceAgriMer", "FRA", "franceagrimer.fr", ("agriculture",)),
    Publisher("crea", "Consiglio per la ricerca in agricoltura e l'analisi dell'economia agraria", "ITA", "crea.gov.it", ("agriculture",)),
    Publisher("wur", "Wageningen University & Research", "NLD", "wur.nl", ("agriculture", "science")),
    Publisher("destatis", "Statistisches Bundesamt (Destatis)", "DEU", "destatis.de", STATS),
    Publisher("insee", "Institut national de la statistique et des études économiques", "FRA", "insee.fr", STATS),
    Publisher("ine", "Instituto Nacional de Estadística", "ESP", "ine.es", STATS),
    Publisher("istat", "Istituto Nazionale di Statistica", "ITA", "istat.it", STATS),
    Publisher("cbs", "Centraal Bureau voor de Statistiek", "NLD", "cbs.nl", STATS),
    Publisher("eurostat", "Eurostat", "EUR", "ec.europa.eu", STATS + ("agriculture", "energy", "health")),
    Publisher("statistik-austria", "Statistik Austria", "AUT", "statistik.at", STATS),
    Publisher("statbel", "Statbel", "BEL", "statbel.fgov.be", STATS),
    Publisher("kmk", "Kultusministerkonferenz", "DEU", "kmk.org", ("education",)),
    Publisher("education-nationale", "Ministère de l'Éducation nationale", "FRA", "education.gouv.fr", ("education",)),
    Publisher("duo", "Dienst Uitvoering Onderwijs", "NLD", "duo.nl", ("education",)),
    Publisher("mim", "Ministero dell'Istruzione e del Merito", "ITA", "mim.gov.it", ("education",)),
    Publisher("bka", "Bundeskriminalamt", "DEU", "bka.de", ("public-safety",)),
    Publisher("interieur", "Ministère de l'Intérieur", "FRA", "interieur.gouv.fr", ("public-safety", "government")),
    Publisher("politie", "Politie Nederland", "NLD", "politie.nl", ("public-safety",)),
    Publisher("interior-es", "Ministerio del Interior", "ESP", "interior.gob.es", ("public-safety",)),
    Publisher("kadaster", "Kadaster", "NLD", "kadaster.nl", ("government", "population")),
    Publisher("agid", "Agenzia per l'Italia Digitale", "ITA", "agid.gov.it", ("government", "science")),
    Publisher("dwd", "Deutscher Wetterdienst", "DEU", "dwd.de", ("science", "environment")),
    Publisher("meteo-france", "Météo-France", "FRA", "meteofrance.com", ("science", "environment")),
    Publisher("aemet", "Agencia Estatal de Meteorología", "ESP", "aemet.es", ("science",)),
    Publisher("ecmwf", "European Centre for Medium-Range Weather Forecasts", "EUR", "ecmwf.int", ("science", "environment")),
    Publisher("rea", "European Research Executive Agency", "EUR", "rea.ec.europa.eu", ("science",)),
)

#: EU file-type code -> (media type, file extension, base weight).
FORMATS: dict[str, tuple[str, str, float]] = {
    "CSV": ("text/csv", "csv", 30),
    "JSON": ("application/json", "json", 15),
    "XLSX": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", 12),
    "PARQUET": ("application/vnd.apache.parquet", "parquet", 8),
    "XML": ("application/xml", "xml", 8),
    "PDF": ("application/pdf", "pdf", 6),
    "GEOJSON": ("application/geo+json", "geojson", 5),
    "SHP": ("application/zip", "zip", 4),
    "NETCDF": ("application/x-netcdf", "nc", 3),
    "RDF_TURTLE": ("text/turtle", "ttl", 2),
}

LICENCES = (
    ("http://publications.europa.eu/resource/authority/licence/CC_BY_4_0", 50),
    ("http://publications.europa.eu/resource/authority/licence/CC0", 20),
    ("http://publications.europa.eu/resource/authority/licence/CC_BY_SA_4_0", 8),
    ("http://publications.europa.eu/resource/authority/licence/ODC_BY", 5),
    ("http://publications.europa.eu/resource/authority/licence/DL_DE_BY_2_0", 10),
)

TABLE_FIELDS = (
    ("period", "date", "Reference period"),
    ("nuts_code", "string", "NUTS region code"),
    ("indicator", "string", "Indicator code"),
    ("value", "number", "Observed value"),
    ("unit", "string", "Unit of measure"),
    ("obs_status", "string", "Observation status flag"),
    ("sex", "string", "Sex (F, M, T)"),
    ("age_group", "string", "Age band"),
)

#: Words too common or too short to make a realistic search query.
STOPWORDS = frozenset(
    """the of and for from with data des der die das und von zu im auf nach eine einer einem
    les une pour par sur dans avec del las los por con una para sobre per dei delle della
    degli dello dell nella alla sulla van het een voor over naar door open extract""".split()
)

# fmt: on


# ---------------------------------------------------------------------------------------
# The synthetic catalog
# ---------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    s = sorted(samples_ms)
    return {
        "n": len(s),
        "p50_ms": round(percentile(s, 50), 3),
        "p95_ms": round(percentile(s, 95), 3),
        "p99_ms": round(percentile(s, 99), 3),
        "mean_ms": round(sum(s) / len(s), 3),
        "min_ms": round(s[0], 3),
        "max_ms": round(s[-1], 3),
    }


# ---------------------------------------------------------------------------------------
# Processes: the CLI and the server
# ---------------------------------------------------------------------------------------


def connector_command() -> list[str]:
    script = Path(sys.executable).parent / "connector"
    return [str(script)] if script.exists() else [sys.executable, "-m", "connector.cli"]


def cli_json(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [*connector_command(), *args],
        env=env,
        cwd=env["CONNECTOR_HOME"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"connector {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``connector serve`` in a subprocess on a free loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path, threads: int) -> None:
        import requests

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "w")  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            [
                *connector_command(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--threads",
                str(threads),
            ],
            env=env,
            cwd=env["CONNECTOR_HOME"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"connector serve exited with {self.proc.returncode}; see {log_path}"
                )
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"connector serve did not become healthy; see {log_path}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ---------------------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------------------


def with_search_path(url: str, schema: str) -> str:
    """``url`` with libpq ``options=-csearch_path=<schema>`` (psycopg passes URL query keys
    to ``connect``), so the app, the CLI and the server all use the schema unchanged."""
    from sqlalchemy.engine import make_url

    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


def reset_pg_schema(url: str, schema: str, *, create: bool = True) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            if create:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            return conn.execute(text("SHOW server_version")).scalar_one()
    finally:
        engine.dispose()


def database_size(engine: Any, backend: str, home: Path, schema: str) -> int:
    from sqlalchemy import text

    if backend == "sqlite":
        return sum(p.stat().st_size for p in home.glob("connector.db*"))
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :s AND c.relkind IN ('r', 'm')"
                ),
                {"s": schema},
            ).scalar_one()
        )


_CAST = r"(?:::(?:TIMESTAMP WITH TIME ZONE|[A-Z]+))?"


def normalise_sql(statement: str) -> str:
    """One key per statement shape: whitespace folded, IN lists of any length alike."""
    s = " ".join(statement.split())
    s = re.sub(r"%\([^)]*\)s" + _CAST, "?", s)
    s = re.sub(r"(IN \((?:VALUES )?)\(\?(?:, \?)*\)(?:, \(\?(?:, \?)*\))*", r"\1(?, ?), ...", s)
    return re.sub(r"\?(?:, \?)+", "?, ...", s)


class StatementTimer:
    """Sums time per SQL statement while attached to an engine.

    The time is from cursor.execute() to its return. psycopg has every row by then; sqlite3
    has only stepped to the first row (the rest happens in fetchall), so on SQLite this
    undercounts and :func:`explain` times each statement to its last row instead.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.times: dict[str, list[float]] = {}
        self.captured: list[tuple[str, Any]] = []
        self.capture = False

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())
        if self.capture:
            self.captured.append((statement, parameters))

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        elapsed = time.perf_counter() - conn.info["bench_t0"].pop()
        self.times.setdefault(normalise_sql(statement), []).append(elapsed)

    def __enter__(self) -> StatementTimer:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def report(self, calls: int, top: int = 8) -> list[dict[str, Any]]:
        rows = sorted(self.times.items(), key=lambda kv: -sum(kv[1]))[:top]
        return [
            {
                "statement": k[:400],
                "executions": len(v),
                "total_ms": round(sum(v) * 1000, 1),
                "ms_per_call": round(sum(v) * 1000 / calls, 3),
            }
            for k, v in rows
        ]


def explain(engine: Any, backend: str, statements: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The plan of each query (SELECT or WITH) and its time to the last row (median of 5)."""
    plans = []
    with engine.connect() as conn:
        for statement, params in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            runs = []
            for _ in range(5):
                t = time.perf_counter()
                conn.exec_driver_sql(statement, params).fetchall()
                runs.append((time.perf_counter() - t) * 1000)
            prefix = "EXPLAIN QUERY PLAN " if backend == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
            rows = conn.exec_driver_sql(prefix + statement, params).fetchall()
            if backend == "sqlite":
                plan = "\n".join(f"{r[0]:>3} {r[1]:>3} {r[3]}" for r in rows)
            else:
                plan = "\n".join(r[0] for r in rows)
            plans.append(
                {
                    "statement": normalise_sql(statement)[:600],
                    "ms_to_last_row": round(sorted(runs)[2], 3),
                    "plan": plan,
                }
            )
        conn.rollback()
    return plans


_SQLITE_DRIVER = re.compile(
    r"<method '(execute|executemany|fetchall|fetchone|fetchmany)' "
    r"of 'sqlite3\.Cursor' objects>|<method 'commit' of 'sqlite3"
)


def sqlite_driver_seconds(profiler: cProfile.Profile) -> float:
    """Time inside sqlite3's C methods (execute, fetch*, commit): SQLite's own work."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return sum(v[2] for (_, _, name), v in stats.items() if _SQLITE_DRIVER.search(name))


def profile_top(profiler: cProfile.Profile, path: Path, lines: int = 25) -> dict[str, str]:
    profiler.dump_stats(path)
    out: dict[str, str] = {"pstats": str(path)}
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(key).print_stats(lines)
        text = buf.getvalue()
        out[key] = text[text.find("   ncalls") :].rstrip()
    return out


# ---------------------------------------------------------------------------------------
# One backend
# ---------------------------------------------------------------------------------------


class MachineLoad:
    """Whole-machine CPU use while a measurement runs (other work skews latencies)."""

    def __init__(self) -> None:
        self.load_start = os.getloadavg()[0]
        self.cpu_start = self._cpu()

    @staticmethod
    def _cpu() -> tuple[int, int]:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except OSError:
            return 0, 0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields) - idle, sum(fields)

    def summary(self) -> dict[str, float]:
        busy0, total0 = self.cpu_start
        busy1, total1 = self._cpu()
        busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else float("nan")
        return {
            "loadavg_1m_start": round(self.load_start, 2),
            "loadavg_1m_end": round(os.getloadavg()[0], 2),
            "machine_cpu_busy": round(busy, 3),
        }


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks used) of a process, or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return int(rest[1]), int(rest[11]) + int(rest[12])


def _proc_title(pid: int) -> str:
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        return title or "[" + Path(f"/proc/{pid}/comm").read_text().strip() + "]"
    except (OSError, UnicodeDecodeError):
        return "?"


def _local_ports(pids: set[int]) -> set[int]:
    """Local TCP ports of the sockets the processes ``pids`` hold."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[9] in inodes:
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


class ProcessCpu:
    """CPU used by other processes than the benchmark's own while a measurement runs.

    The benchmark's own: this process and its descendants (the server), the PostgreSQL
    backends serving their connections (found by client port in the process title) and
    those backends' parallel workers. Everything else, another session's test suite
    included, is "other". Linux /proc only; elsewhere it reports nothing.
    """

    def __init__(self) -> None:
        self.machine = MachineLoad()
        self.t0 = time.monotonic()
        self.start = self._others()

    @staticmethod
    def _others() -> dict[int, tuple[int, str]]:
        if not Path("/proc/self/stat").exists():
            return {}
        stats = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and (st := _proc_stat(int(name))):
                stats[int(name)] = st
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        mine, stack = set(), [os.getpid()]
        while stack:
            pid = stack.pop()
            mine.add(pid)
            stack.extend(children.get(pid, []))
        ports = _local_ports(mine)
        titles, pg_mine = {}, set()
        for pid in stats:
            if pid in mine:
                continue
            title = _proc_title(pid)
            port = re.search(r"\(([0-9]+)\)", title)
            if title.startswith("postgres:") and port and int(port.group(1)) in ports:
                pg_mine.add(pid)
            else:
                titles[pid] = title
        others = {}
        for pid, title in titles.items():
            leader = re.search(r"parallel worker for PID ([0-9]+)", title)
            if not (leader and int(leader.group(1)) in pg_mine):
                others[pid] = (stats[pid][1], title)
        return others

    def summary(self) -> dict[str, Any]:
        end = self._others()
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        used: Counter[str] = Counter()
        for pid, (ticks, title) in end.items():
            before = self.start[pid][0] if pid in self.start else 0
            used[title[:80]] += max(0, ticks - before)
        return {
            "other_cpus": round(sum(used.values()) / CLK_TCK / elapsed, 2),
            "other_top": [
                [name, round(t / CLK_TCK / elapsed, 2)] for name, t in used.most_common(3) if t
            ],
            **self.machine.summary(),
        }


def wait_until_quiet(args: argparse.Namespace, label: str) -> float:
    """Wait until other processes use at most ``--quiet-cpus`` CPUs; returns seconds waited."""
    started = time.monotonic()
    last_log = 0.0
    while True:
        probe = ProcessCpu()
        time.sleep(2)
        seen = probe.summary()
        waited = time.monotonic() - started
        if seen["other_cpus"] <= args.quiet_cpus:
            return round(waited, 1)
        if waited > args.quiet_timeout:
            log(f"{label}: machine still busy after {waited:.0f} s; measuring anyway")
            return round(waited, 1)
        if waited - last_log >= 60 or last_log == 0:
            last_log = waited or 1e-9
            log(
                f"{label}: waiting for a quiet machine (others use {seen['other_cpus']} CPUs: "
                f"{', '.join(n for n, _ in seen['other_top'])})"
            )
        time.sleep(5)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _progress(label: str, done: int, total: int, started: float, busy: float) -> None:
    wall = time.perf_counter() - started
    log(
        f"{label}: {done:,}/{total:,}  {done / busy:,.0f}/s in the service "
        f"({done / wall:,.0f}/s wall, {wall:,.0f} s)"
    )


def run_backend(
    backend: str, args: argparse.Namespace, gen: CatalogGenerator, results_stamp: str
) -> dict[str, Any]:
    import requests
    from sqlalchemy import text

    from connector.app import create_app
    from connector.catalog import service
    from connector.catalog.search import SearchQuery
    from connector.identity import service as identity
    from connector.identity.principal import OPERATOR
    from connector.uow import UnitOfWork

    home = Path(tempfile.mkdtemp(prefix=f"bench-catalog-{backend}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update({"CONNECTOR_HOME": str(home), "CONNECTOR_LOG_LEVEL": "WARNING"})
    config: dict[str, Any] = {"HOME": str(home), "LOG_LEVEL": "WARNING"}
    out: dict[str, Any] = {"backend": backend}
    if backend == "postgresql":
        version = reset_pg_schema(args.pg_url, args.pg_schema)
        url = with_search_path(args.pg_url, args.pg_schema)
        config.update({"DATABASE_URL": url, "AUTO_MIGRATE": True})
        env["CONNECTOR_DATABASE_URL"] = url
        out["database"] = {
            "engine": "PostgreSQL",
            "version": version,
            "schema": args.pg_schema,
            "url": make_safe_url(url),
        }
    else:
        out["database"] = {
            "engine": "SQLite",
            "version": sqlite3.sqlite_version,
            "path": str(home / "connector.db"),
        }
    log(f"{backend}: database ready ({out['database']})")

    app = create_app(config)
    ext = app.extensions["connector"]
    engine = ext.engine

    def new_uow() -> UnitOfWork:
        return UnitOfWork(ext.session_factory)

    for pub in PUBLISHERS:
        identity.create_organisation(new_uow(), pub.slug, pub.name)

    n_total = args.datasets
    n_http = min(args.http_datasets, n_total // 10) if n_total >= 10 else 0
    n_inproc = n_total - n_http
    n_profiled = min(2000, n_inproc // 10) if args.profile else 0
    metas: list[Meta] = []

    # Schema validation of a sample: the service expects schema-valid documents (the API and
    # the CLI validate before calling it), so prove the generator's documents are valid.
    sample = [gen.dataset(i)[0] for i in range(min(500, n_total))]
    t0 = time.perf_counter()
    for doc in sample:
        ext.schemas.validate("dataset", doc)
    out["schema_validation_ms_per_doc"] = round((time.perf_counter() - t0) * 1000 / len(sample), 3)
    del sample

    # 1. registration through the service function
    durations: list[float] = []
    chunks: list[dict[str, Any]] = []
    chunk_size = max(1, n_inproc // 10)
    started = time.perf_counter()
    chunk_busy = 0.0
    reg_load = ProcessCpu()
    profiler = cProfile.Profile() if n_profiled else None
    reg_timer = StatementTimer(engine) if n_profiled else None
    for i in range(n_inproc):
        doc, meta = gen.dataset(i)
        metas.append(meta)
        profiled = profiler is not None and i >= n_inproc - n_profiled
        if profiled and i == n_inproc - n_profiled:
            reg_timer.__enter__()  # type: ignore[union-attr]
            profiler.enable()  # type: ignore[union-attr]
        t = time.perf_counter()
        service.register_dataset(new_uow(), OPERATOR, doc)
        elapsed = time.perf_counter() - t
        if not profiled:
            durations.append(elapsed)
            chunk_busy += elapsed
        if (i + 1) % chunk_size == 0 and not profiled:
            chunks.append({"upto": i + 1, "datasets_per_s": round(chunk_size / chunk_busy, 1)})
            chunk_busy = 0.0
            _progress(f"{backend} register (service)", i + 1, n_inproc, started, sum(durations))
    if profiler is not None:
        profiler.disable()
        reg_timer.__exit__()  # type: ignore[union-attr]
    wall = time.perf_counter() - started
    reg_ms = [d * 1000 for d in durations]
    out["registration_service"] = {
        "datasets": len(durations),
        "seconds_in_service": round(sum(durations), 2),
        "wall_seconds_incl_generation": round(wall, 2),
        "datasets_per_s": round(len(durations) / sum(durations), 1),
        **latency_summary(reg_ms),
        "chunks": chunks,
        "machine": reg_load.summary(),
    }
    if profiler is not None:
        out["profile_registration"] = {
            "datasets": n_profiled,
            "cprofile": profile_top(
                profiler, RESULTS_DIR / f"catalog_search-{results_stamp}-{backend}-register.pstats"
            ),
            "sql": reg_timer.report(n_profiled),  # type: ignore[union-attr]
        }
        if backend == "sqlite":
            out["profile_registration"]["sqlite_driver_ms_per_dataset"] = round(
                sqlite_driver_seconds(profiler) * 1000 / n_profiled, 3
            )
    log(
        f"{backend}: service registration "
        f"{out['registration_service']['datasets_per_s']:,} datasets/s"
    )

    server: Server | None = None
    completed = False
    try:
        # users and tokens through the CLI, as an operator would make them
        admin_token = cli_json(env, "users", "create", "bench-admin", "--role", "admin", "--json")[
            "token"
        ]
        steward_token = cli_json(
            env,
            "users",
            "create",
            "bench-steward",
            "--role",
            "steward",
            "--org",
            args.steward_org,
            "--json",
        )["token"]
        server = Server(env, home / "server.log", args.server_threads)
        log(f"{backend}: connector serve at {server.base}")

        # 2. registration over HTTP
        session = requests.Session()
        session.headers.update(
            {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
        )
        http_ms: list[float] = []
        http_load = ProcessCpu()
        for i in range(n_inproc, n_total):
            doc, meta = gen.dataset(i)
            metas.append(meta)
            body = json.dumps(doc, ensure_ascii=False).encode()
            t = time.perf_counter()
            resp = session.post(server.base + "/api/v1/datasets", data=body, timeout=60)
            http_ms.append((time.perf_counter() - t) * 1000)
            if resp.status_code != 201:
                raise RuntimeError(
                    f"POST /api/v1/datasets -> {resp.status_code}: {resp.text[:500]}"
                )
        if http_ms:
            out["registration_http"] = {
                "datasets": len(http_ms),
                "datasets_per_s": round(len(http_ms) * 1000 / sum(http_ms), 1),
                **latency_summary(http_ms),
                "machine": http_load.summary(),
            }
            log(
                f"{backend}: HTTP registration "
                f"{out['registration_http']['datasets_per_s']:,} datasets/s"
            )

        if backend == "postgresql":
            # What autovacuum does shortly after a bulk load; done now so plans do not depend
            # on when the daemon last woke up.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        out["database"]["size_bytes"] = database_size(engine, backend, home, args.pg_schema)
        out["catalog"] = describe_catalog(metas)

        # 3. searches
        rng = random.Random(f"queries:{args.seed}")
        queries = build_queries(metas, args.steward_org, args.queries, rng)
        warmups = build_queries(metas, args.steward_org, args.warmup, rng)
        steward = identity.authenticate(new_uow(), steward_token)

        def in_process(q: Query) -> tuple[float, int]:
            sq = SearchQuery(text=q.text, filters=q.filters)
            t = time.perf_counter()
            result, _views = service.search_datasets(new_uow(), steward, sq)
            return (time.perf_counter() - t) * 1000, result.count

        search_session = requests.Session()
        search_session.headers["Authorization"] = f"Bearer {steward_token}"

        def over_http(q: Query) -> tuple[float, int]:
            t = time.perf_counter()
            resp = search_session.get(
                server.base + "/api/v1/datasets", params=q.params(), timeout=60
            )
            elapsed = (time.perf_counter() - t) * 1000
            if resp.status_code != 200:
                raise RuntimeError(
                    f"GET /api/v1/datasets?{q.label()} -> {resp.status_code}: {resp.text[:300]}"
                )
            return elapsed, resp.json()["count"]

        searches: dict[str, dict[str, Any]] = {}
        for mode, fn in (("in-process", in_process), ("http", over_http)):
            for kind, qs in queries.items():
                discarded = []
                for attempt in range(1, args.attempts + 1):
                    waited = wait_until_quiet(args, f"{backend} {mode} {kind}")
                    for q in warmups[kind]:
                        fn(q)
                    samples, counts = [], []
                    load = ProcessCpu()
                    for q in qs:
                        ms, count = fn(q)
                        samples.append(ms)
                        counts.append(count)
                    contention = load.summary()
                    if contention["other_cpus"] <= args.max_other_cpus or attempt == args.attempts:
                        break
                    rejected = latency_summary(samples)
                    discarded.append(
                        {
                            "p50_ms": rejected["p50_ms"],
                            "p95_ms": rejected["p95_ms"],
                            "machine": contention,
                        }
                    )
                    log(
                        f"{backend} {mode} {kind}: other processes used "
                        f"{contention['other_cpus']} CPUs during the row; measuring it again"
                    )
                summary = latency_summary(samples)
                summary["machine"] = contention
                summary["waited_for_quiet_s"] = waited
                summary["discarded_attempts"] = discarded
                summary["mean_results"] = round(sum(counts) / len(counts), 1)
                summary["median_results"] = sorted(counts)[len(counts) // 2]
                summary["empty_results"] = sum(1 for c in counts if c == 0)
                order = sorted(range(len(samples)), key=samples.__getitem__)
                summary["slowest"] = [
                    {"query": qs[k].label(), "ms": round(samples[k], 1), "results": counts[k]}
                    for k in order[-3:][::-1]
                ]
                searches.setdefault(mode, {})[kind] = summary
                log(
                    f"{backend} {mode:10} {kind:22} p50 {summary['p50_ms']:7.1f}  "
                    f"p95 {summary['p95_ms']:7.1f}  p99 {summary['p99_ms']:7.1f} ms  "
                    f"mean results {summary['mean_results']:,}"
                )
                if mode == "in-process":
                    summary["_samples"] = samples  # for the profile step; removed below
        out["search"] = searches

        if args.profile:
            out["profile_search"] = profile_search(
                engine, backend, queries, searches, in_process, results_stamp
            )
        for kind in queries:
            searches["in-process"][kind].pop("_samples", None)
        completed = True
    finally:
        if server is not None:
            server.stop()
        engine.dispose()
        if args.keep or not completed:
            log(
                f"{backend}: kept {home} (server log: {home / 'server.log'})"
                + (f" and schema {args.pg_schema}" if backend == "postgresql" else "")
            )
        else:
            shutil.rmtree(home, ignore_errors=True)
            if backend == "postgresql":
                reset_pg_schema(args.pg_url, args.pg_schema, create=False)
    return out


def profile_search(
    engine: Any,
    backend: str,
    queries: dict[str, list[Query]],
    searches: dict[str, dict[str, Any]],
    in_process: Callable[[Query], tuple[float, int]],
    stamp: str,
) -> dict[str, Any]:
    """cProfile and SQL time of each query kind in-process, and the plans of its p95 query."""
    report: dict[str, Any] = {}
    for kind, qs in queries.items():
        subset = qs[:100]
        with StatementTimer(engine) as timer:
            t = time.perf_counter()
            for q in subset:
                in_process(q)
            total = time.perf_counter() - t
        profiler = cProfile.Profile()
        profiler.enable()
        for q in subset:
            in_process(q)
        profiler.disable()
        if backend == "sqlite":
            db_seconds = sqlite_driver_seconds(profiler)
        else:
            db_seconds = sum(sum(v) for v in timer.times.values())
        samples = searches["in-process"][kind]["_samples"]
        order = sorted(range(len(samples)), key=samples.__getitem__)
        p95_query = qs[order[int(0.95 * (len(order) - 1))]]
        with StatementTimer(engine) as capture:
            capture.capture = True
            in_process(p95_query)
        report[kind] = {
            "queries": len(subset),
            "ms_per_query": round(total * 1000 / len(subset), 2),
            "sql_ms_per_query": round(db_seconds * 1000 / len(subset), 2),
            "sql": timer.report(len(subset)),
            "cprofile": profile_top(
                profiler, RESULTS_DIR / f"catalog_search-{stamp}-{backend}-{kind}.pstats"
            ),
            "p95_query": p95_query.label(),
            "plans": explain(engine, backend, capture.captured),
        }
        log(
            f"{backend} profile {kind}: {report[kind]['ms_per_query']} ms/query, "
            f"{report[kind]['sql_ms_per_query']} ms of it in SQL"
        )
    return report


def make_safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# ---------------------------------------------------------------------------------------
# Machine, report, docs
# ---------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("SQLAlchemy", "Flask", "waitress", "psycopg", "requests", "alembic"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            pass
    info["packages"] = packages
    return info


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def use_committed_code() -> dict[str, Any]:
    """Run against a clean ``git archive`` export of HEAD's connector/ and schemas/.

    The working tree may be edited while a long run goes on; a snapshot first on
    ``sys.path`` and ``PYTHONPATH`` (which the ``connector`` subprocesses inherit) keeps the
    code under test fixed and known. The repository itself is only read.
    """
    commit = _git("rev-parse", "HEAD")
    snapshot = Path(tempfile.mkdtemp(prefix="bench-catalog-code-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "connector", "schemas"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(snapshot, filter="data")
    sys.path.insert(0, str(snapshot))
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(snapshot) + (os.pathsep + previous if previous else "")
    import connector

    child = subprocess.run(  # what the connector subprocesses will import
        [sys.executable, "-c", "import connector; print(connector.__file__)"],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for where in (connector.__file__, child):
        if not Path(where).resolve().is_relative_to(snapshot.resolve()):
            raise RuntimeError(f"connector imported from {where}, not from the snapshot")
    return {"source": "head", "commit": commit[:12], "snapshot": str(snapshot)}


def git_state() -> dict[str, Any]:
    """The working tree's HEAD and its uncommitted changes under connector/ and schemas/."""
    porcelain = _git("status", "--porcelain", "--", "connector", "schemas")
    return {
        "source": "worktree",
        "commit": _git("rev-parse", "HEAD")[:12],
        "dirty_paths": [line[3:] for line in porcelain.splitlines()],
    }


def _fmt(value: float) -> str:
    return f"{value:,.1f}"


def search_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for backend, data in result["backends"].items():
        for mode, kinds in data.get("search", {}).items():
            for kind, s in kinds.items():
                target = ""
                if kind == KIND_TWO:
                    target = "met" if s["p95_ms"] < TARGET_P95_MS else "MISSED"
                rows.append(
                    [
                        backend,
                        mode,
                        KIND_LABELS[kind],
                        str(s["n"]),
                        _fmt(s["p50_ms"]),
                        _fmt(s["p95_ms"]),
                        _fmt(s["p99_ms"]),
                        _fmt(s["mean_ms"]),
                        f"{s['mean_results']:,.0f}",
                        _busy(s),
                        target,
                    ]
                )
    return rows


SEARCH_HEADER = [
    "backend",
    "path",
    "query",
    "n",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "mean ms",
    "mean results",
    "other CPUs",
    "p95 < 50 ms",
]
REG_HEADER = [
    "backend",
    "path",
    "datasets",
    "datasets/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "other CPUs",
]


def _busy(row: dict[str, Any]) -> str:
    other = row.get("machine", {}).get("other_cpus")
    return "" if other is None else f"{other:.2f}"


def registration_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for backend, data in result["backends"].items():
        for key, label in (
            ("registration_service", "service (in-process)"),
            ("registration_http", "HTTP POST"),
        ):
            r = data.get(key)
            if r:
                rows.append(
                    [
                        backend,
                        label,
                        f"{r['datasets']:,}",
                        f"{r['datasets_per_s']:,.0f}",
                        _fmt(r["p50_ms"]),
                        _fmt(r["p95_ms"]),
                        _fmt(r["p99_ms"]),
                        _busy(r),
                    ]
                )
    return rows


_NUMBER = re.compile(r"^[\d,.]+$")


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                c.rjust(w) if _NUMBER.match(c) else c.ljust(w)
                for c, w in zip(row, widths, strict=True)
            )
        )
    return "\n".join(lines)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    right = [bool(rows) and all(_NUMBER.match(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if r else "---" for r in right) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    p = result["parameters"]
    pg = next(
        (
            d["database"]["version"]
            for d in result["backends"].values()
            if d["database"]["engine"] == "PostgreSQL"
        ),
        "not run",
    )
    cat = next(iter(result["backends"].values())).get("catalog", {})
    code = result["code"]
    if code["source"] == "head":
        commit = f"`{code['commit']}` (a clean `git archive` export of it, `--code head`)"
    else:
        dirty = code["dirty_paths"]
        commit = f"`{code['commit']}`" + (
            f" plus uncommitted changes in {', '.join(f'`{d}`' for d in dirty)}" if dirty else ""
        )
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    sectors = ", ".join(f"{k} {v:.0%}" for k, v in cat.get("sectors", {}).items())
    access = ", ".join(f"{k} {v:.1%}" for k, v in cat.get("access_rights", {}).items())
    langs = ", ".join(f"{k} {v:.0%}" for k, v in cat.get("languages", {}).items())
    formats = ", ".join(f"{k} {v:.0%}" for k, v in list(cat.get("formats", {}).items())[:6])
    sizes = "; ".join(
        f"{b}: {d['database'].get('size_bytes', 0) / 2**20:,.0f} MiB"
        for b, d in result["backends"].items()
    )
    retried = sum(
        1
        for d in result["backends"].values()
        for kinds in d.get("search", {}).values()
        for row in kinds.values()
        if row.get("discarded_attempts")
    )
    validation = "; ".join(
        f"{b}: {d['schema_validation_ms_per_doc']} ms" for b, d in result["backends"].items()
    )
    lines = [
        MARK_BEGIN,
        "## Catalog search (`bench/catalog_search.py`)",
        "",
        f"One run, {result['started'][:10]}, commit {commit}. Command, from the repository root:",
        "",
        "```sh",
        result["command"],
        "```",
        "",
        f"**Machine.** {m['nproc']} CPUs ({m['cpu']}), {m.get('memory_gib', '?')} GiB memory, "
        f"{m['os']}; Python {m['python']}; SQLite {m['sqlite']}; PostgreSQL {pg} "
        f"(on the same machine, 127.0.0.1:5432). {packages}.",
        "",
        f"**Catalog.** {cat.get('datasets', p['datasets']):,} synthetic DCAT-AP 3 datasets (seed "
        f"{p['seed']}) from {cat.get('publishers', '?')} European publishers. Sectors: {sectors}. "
        f"Access rights: {access}. Title/description languages (share of datasets): {langs}; "
        f"{cat.get('mean_languages', '?')} languages and {cat.get('mean_distributions', '?')} "
        f"distributions per dataset on average; formats: {formats}, ... "
        f"Database size after loading: {sizes}.",
        "",
        "### Registration",
        "",
        md_table(REG_HEADER, registration_rows(result)),
        "",
        "*service*: `connector.catalog.service.register_dataset`, one unit of work (transaction) "
        "per dataset, OPERATOR principal, timed around the call only"
        + (
            f" (the last {p['profiled_registrations']:,} in-process registrations ran under "
            "cProfile for `--profile` and are left out of these figures)"
            if p.get("profiled_registrations")
            else ""
        )
        + ". *HTTP POST*: the last "
        f"{p['http_datasets_effective']:,} datasets, one at a time over a keep-alive connection "
        "to `connector serve` (waitress), with an admin token; includes authentication, "
        f"JSON-Schema validation (measured alone: {validation} per document) and serialisation.",
        "",
        f"### Search latency ({p['queries']} queries per row, after {p['warmup']} warm-up queries)",
        "",
        md_table(SEARCH_HEADER, search_rows(result)),
        "",
        "Searches run as a steward of one organisation (`" + p["steward_org"] + "`), so the "
        "visibility filter (PUBLIC, or owned by the steward's organisation) applies. *1 word*: a "
        "word drawn from the title of a random dataset the steward may see. *2 words + theme + "
        "format*: two words of one title of such a dataset, with `theme=` one of its themes and "
        "`format=` one of its formats (e.g. `q=hospital admissions&theme=HEAL&format=CSV`). "
        "Default page size (20), default sort (`-updated`), the API's default facet counts. "
        "*in-process*: "
        "`connector.catalog.service.search_datasets` timed around the call. *http*: "
        "`GET /api/v1/datasets` with `requests` over a keep-alive connection to `connector "
        "serve`, timed until the body has arrived. *other CPUs*: CPUs used on average by "
        "processes other than the benchmark's own (itself, its server, the PostgreSQL backends "
        "serving them) while the row ran; the machine may be shared, so each search row waits "
        f"until others use at most {p['quiet_cpus']} CPUs and is measured again (up to "
        f"{p['attempts']} times) if they used more than {p['max_other_cpus']}"
        + (f"; {retried} row(s) were measured again" if retried else "")
        + ". Target (issue 2): p95 under 50 ms for two "
        "words with facets at 100,000 datasets, on both databases."
        + (
            " PostgreSQL: `VACUUM ANALYZE` after loading (what autovacuum does shortly after a "
            "bulk load)."
            if "postgresql" in result["backends"]
            else ""
        ),
        MARK_END,
    ]
    return "\n".join(lines) + "\n"


DOC_HEADER = """# Benchmarks

Each benchmark rewrites its own section, between its markers, with the results of one run
and the command that produced it. Analysis written by hand goes outside the markers.

"""


def update_docs(path: Path, section: str) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else DOC_HEADER
    if MARK_BEGIN in current and MARK_END in current:
        before, rest = current.split(MARK_BEGIN, 1)
        after = rest.split(MARK_END, 1)[1]
        current = before + section.rstrip("\n") + after
    else:
        current = current.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(current, encoding="utf-8")


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/catalog_search.py",
        description="Register N synthetic DCAT-AP datasets and measure registration rate and "
        "search latency on SQLite and PostgreSQL, in-process and over HTTP.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--datasets", type=int, default=100_000, help="catalog size")
    parser.add_argument(
        "--queries", type=int, default=300, help="timed queries per query kind and path"
    )
    parser.add_argument(
        "--warmup", type=int, default=30, help="untimed queries per kind and path first"
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--http-datasets",
        type=int,
        default=1000,
        help="how many of the datasets to register over HTTP (at most a tenth)",
    )
    parser.add_argument(
        "--output",
        default=str(DOCS_PATH.relative_to(REPO)),
        help="markdown file whose catalog_search section is rewritten; '' for none",
    )
    parser.add_argument(
        "--results-dir",
        default=str(RESULTS_DIR.relative_to(REPO)),
        help="where the JSON results (and --profile stats) go",
    )
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--steward-org", default="rki", help="organisation of the searching steward"
    )
    parser.add_argument("--server-threads", type=int, default=8)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument(
        "--pg-schema",
        default=DEFAULT_PG_SCHEMA,
        help="dedicated schema, dropped and created at the start",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile registration and searches, SQL time per statement, query plans",
    )
    parser.add_argument(
        "--quiet-cpus",
        type=float,
        default=0.1,
        help="before each timed search row, wait until other processes use at most this many "
        "CPUs (the machine may be shared); 0 waits for an idle machine, a large value not at all",
    )
    parser.add_argument(
        "--max-other-cpus",
        type=float,
        default=0.25,
        help="measure a search row again (up to --attempts times) if other processes used more "
        "CPUs than this while it ran",
    )
    parser.add_argument("--attempts", type=int, default=3, help="see --max-other-cpus")
    parser.add_argument(
        "--quiet-timeout", type=float, default=1800, help="longest wait for a quiet machine, s"
    )
    parser.add_argument(
        "--code",
        choices=("head", "worktree"),
        default="head",
        help="head: run against a clean git-archive export of the committed HEAD (the working "
        "tree may be edited during a long run); worktree: the installed (editable) package",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the SQLite home and the PostgreSQL schema afterwards",
    )
    args = parser.parse_args(argv)
    if args.datasets < 100:
        parser.error("--datasets must be at least 100")
    if args.queries < 1 or args.warmup < 0:
        parser.error("--queries must be positive and --warmup not negative")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.pg_schema):
        parser.error("--pg-schema must be a plain lower-case identifier")
    if args.steward_org not in {p.slug for p in PUBLISHERS}:
        parser.error(
            f"--steward-org must be one of the generated publishers: "
            f"{', '.join(p.slug for p in PUBLISHERS)}"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    code = use_committed_code() if args.code == "head" else git_state()
    global RESULTS_DIR
    RESULTS_DIR = (REPO / args.results_dir).resolve()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    stamp = time.strftime("%Y%m%dT%H%M%S")
    exe = Path(sys.executable)
    try:
        exe = exe.relative_to(REPO)
    except ValueError:
        pass
    result: dict[str, Any] = {
        "benchmark": "catalog_search",
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": shlex.join([str(exe), "bench/catalog_search.py", *(argv or sys.argv[1:])]),
        "code": code,
        "machine": machine_info(),
        "parameters": {
            "datasets": args.datasets,
            "queries": args.queries,
            "warmup": args.warmup,
            "http_datasets_effective": min(args.http_datasets, args.datasets // 10),
            "seed": args.seed,
            "steward_org": args.steward_org,
            "server_threads": args.server_threads,
            "quiet_cpus": args.quiet_cpus,
            "max_other_cpus": args.max_other_cpus,
            "attempts": args.attempts,
            "profile": args.profile,
            "profiled_registrations": (
                min(2000, (args.datasets - min(args.http_datasets, args.datasets // 10)) // 10)
                if args.profile
                else 0
            ),
        },
        "targets": {"two_word_two_facets_p95_ms": TARGET_P95_MS},
        "backends": {},
    }
    gen = CatalogGenerator(args.seed)
    for backend in backends:
        result["backends"][backend] = run_backend(backend, args, gen, stamp)
    result["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if args.code == "worktree":
        result["code_at_finish"] = git_state()
        if result["code_at_finish"] != code:
            log("warning: connector/ or schemas/ changed during the run (see code_at_finish)")
    else:
        shutil.rmtree(code["snapshot"], ignore_errors=True)

    path = RESULTS_DIR / f"catalog_search-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    print()
    print(f"Registration ({args.datasets:,} datasets)")
    print(text_table(REG_HEADER, registration_rows(result)))
    print()
    print(f"Search latency ({args.queries} queries per row, {args.warmup} warm-up)")
    print(text_table(SEARCH_HEADER, search_rows(result)))
    if args.profile:
        for backend, data in result["backends"].items():
            for kind, prof in data.get("profile_search", {}).items():
                print(
                    f"\n--- {backend} {kind}: {prof['ms_per_query']} ms/query, "
                    f"{prof['sql_ms_per_query']} ms in SQL"
                )
                for row in prof["sql"][:4]:
                    print(
                        f"  {row['ms_per_call']:8.2f} ms/query  x{row['executions']:<5} "
                        f"{row['statement'][:150]}"
                    )
    print(f"\nresults: {path}")
    if args.output:
        docs = (REPO / args.output).resolve()
        update_docs(docs, render_markdown(result))
        print(f"docs:    {docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
