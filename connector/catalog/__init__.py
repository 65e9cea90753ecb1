"""The dataset catalog: DCAT-AP 3 datasets, their immutable versions, and search."""
