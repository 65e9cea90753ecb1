"""A read-only CKAN Action API over the catalog, for the clients of the open-data world."""
