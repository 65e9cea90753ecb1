"""Vocabularies of the synthetic catalog: sectors with their subjects and keywords in six
languages, measures, sources, frequencies, countries and real European publishers, licences,
table fields and stop words. Every table row is ``en | de | fr | es | it | nl``.

About 450 lines of data tables, kept in one module: they are read as one vocabulary and
split only by kind; there is no logic here beyond the row parser.
"""

# ruff: noqa: E501  (the multilingual vocabulary tables below are one row per line)

from __future__ import annotations

from dataclasses import dataclass

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


