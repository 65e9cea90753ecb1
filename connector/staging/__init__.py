"""Staging: approved data into a storage tier as Parquet, published atomically.

Modules, each importable on its own (nothing happens at import time):

* :mod:`~connector.staging.duties`    drop and pseudonymise columns on record batches
* :mod:`~connector.staging.writer`    streaming Parquet writer with inline sha256
* :mod:`~connector.staging.row_groups`, :mod:`~connector.staging.parts`,
  :mod:`~connector.staging.dictionary_encoding`, :mod:`~connector.staging.parallel_parts`
  the writer's pieces: coalescing, part files, dictionary choice, parallel encoding
* :mod:`~connector.staging.storage`   storage tiers (fsspec URLs), temp prefixes, atomic publish, GC
* :mod:`~connector.staging.manifest`  ``_manifest.json``: what a published version contains
* :mod:`~connector.staging.croissant` ``croissant.json`` (Croissant 1.0) beside the data
* :mod:`~connector.staging.pipeline`  :func:`stage_batches`, tying the above together
* :mod:`~connector.staging.errors`    staging errors, each with its HTTP status

Training jobs read published versions with :mod:`connector.client`.
"""
