"""Harvesting: fill the catalog from CKAN portals and DCAT-AP catalogs.

``records`` holds what a harvester hands to the harvest service; ``ckan`` and ``dcat_rdf``
read the two kinds of source; ``service`` runs a harvest and records every record's outcome.
"""
