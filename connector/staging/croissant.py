"""``croissant.json`` (Croissant 1.0) beside the published Parquet files.

Distribution: one ``cr:FileObject`` per part (``contentUrl`` relative to the version directory,
``sha256``, ``contentSize``) and one ``cr:FileSet`` (``includes`` naming exactly those parts)
that the record set reads. Record set ``records``: one ``cr:Field`` per column, typed from the
Arrow schema. Columns of nested types (list, struct, map), durations and nulls have no Croissant
1.0 counterpart mlcroissant can read; they stay in the Parquet files, are left out of the record
set and are named in its description. Dataset metadata (name, description, license, citation,
url, creator, keywords, datePublished, version) comes in as a plain dict.

Reading: ``mlcroissant.Dataset("<version dir>/croissant.json").records("records")`` on a POSIX
path (mlcroissant resolves relative files next to the JSON-LD).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from connector.manifest_read import decode_schema

RECORD_SET = "records"
FILE_SET = "parquet-files"
PARQUET = "application/x-parquet"
CONFORMS_TO = "http://mlcommons.org/croissant/1.0"

CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

_INTEGERS = {pa.int8(): "cr:Int8", pa.int16(): "cr:Int16", pa.int32(): "cr:Int32", pa.int64(): "cr:Int64",
             pa.uint8(): "cr:UInt8", pa.uint16(): "cr:UInt16", pa.uint32(): "cr:UInt32",
             pa.uint64(): "cr:UInt64"}
_FLOATS = {pa.float16(): "cr:Float16", pa.float32(): "cr:Float32", pa.float64(): "cr:Float64"}


def croissant_type(data_type: pa.DataType) -> str | None:
    """The Croissant ``dataType`` of an Arrow type, or None when there is none to read it as."""
    t = data_type.value_type if pa.types.is_dictionary(data_type) else data_type
    if t in _INTEGERS:
        return _INTEGERS[t]
    if t in _FLOATS:
        return _FLOATS[t]
    if pa.types.is_decimal(t):
        return "sc:Float"
    if pa.types.is_boolean(t):
        return "sc:Boolean"
    if pa.types.is_timestamp(t):
        return "sc:DateTime"
    if pa.types.is_date(t):
        return "sc:Date"
    if pa.types.is_time(t):
        return "sc:Time"
    if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
            or str(t) in ("string_view", "binary_view")):
        return "sc:Text"
    return None


def _field_id(column: str) -> str:
    return f"{RECORD_SET}/{quote(column, safe='')}"


def build_croissant(manifest: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Croissant 1.0 document of a version, from its manifest and the dataset's metadata."""
    metadata = dict(metadata or {})
    dataset = manifest["dataset"]
    schema = decode_schema(manifest["schema"]["arrow"])
    name = metadata.get("name") or dataset["name"]
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": str(name),
        "description": metadata.get("description")
        or f"Version {dataset['version']} of {dataset['id']}, staged for project {manifest['project']}.",
        "conformsTo": CONFORMS_TO,
        "version": str(metadata.get("version") or dataset["version"]),
        "dateCreated": manifest["created"],
    }
    if metadata.get("url"):
        doc["url"] = metadata["url"]
    if metadata.get("license"):
        doc["license"] = metadata["license"]
    if metadata.get("citation"):
        doc["citeAs"] = metadata["citation"]
    if metadata.get("keywords"):
        doc["keywords"] = list(metadata["keywords"])
    doc["datePublished"] = metadata.get("datePublished") or manifest["created"]
    creator = metadata.get("creator")
    if isinstance(creator, str):
        doc["creator"] = {"@type": "sc:Organization", "name": creator}
    elif creator:
        doc["creator"] = creator
    if manifest.get("expires"):
        doc["expires"] = manifest["expires"]

    files = manifest["files"]
    distribution: list[dict[str, Any]] = [
        {"@type": "cr:FileObject", "@id": f["path"], "name": f["path"], "contentUrl": f["path"],
         "encodingFormat": PARQUET, "contentSize": f"{f['bytes']} B", "sha256": f["sha256"]}
        for f in files
    ]
    distribution.append({
        "@type": "cr:FileSet", "@id": FILE_SET, "name": FILE_SET,
        "description": "The Parquet parts of this version, as listed in _manifest.json.",
        "encodingFormat": PARQUET, "includes": [f["path"] for f in files],
    })
    doc["distribution"] = distribution

    fields, skipped = [], []
    for column in schema:
        data_type = croissant_type(column.type)
        if data_type is None:
            skipped.append(f"{column.name} ({column.type})")
            continue
        fields.append({
            "@type": "cr:Field", "@id": _field_id(column.name), "name": column.name,
            "description": f"Column {column.name!r} ({column.type}).",
            "dataType": data_type,
            "source": {"fileSet": {"@id": FILE_SET}, "extract": {"column": column.name}},
        })
    description = f"{manifest['rows']} rows in {len(files)} Parquet file(s)."
    if skipped:
        description += " Columns in the files but not described here (no Croissant 1.0 type): " \
                       + ", ".join(skipped) + "."
    doc["recordSet"] = [{"@type": "cr:RecordSet", "@id": RECORD_SET, "name": RECORD_SET,
                         "description": description, "field": fields}]
    return doc
