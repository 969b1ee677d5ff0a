"""Reading uploaded files into typed Arrow tables: sniff the content, pick a reader, check the result.

This package only names the public API. `upload` opens a file (decompress, `sniff` the content,
pick a reader, apply the `checks`). One module per family: `delimited` (CSV/TSV/…), `jsonl`
(JSON, NDJSON), `columnar` (Parquet, Arrow, and writing the Parquet copy),
`excel` (xlsx/xls via calamine), `encoding` (text encoding detection), `values` (NA tokens, booleans,
localized numbers, dates, 64-bit integers). The extension of the file name is a hint, never the truth.
"""

from cqox_ingest.readers.base import IngestError, Limits, Table, TableStream, safe_filename
from cqox_ingest.readers.columnar import write_parquet
from cqox_ingest.readers.sniff import sniff_format
from cqox_ingest.readers.upload import open_stream, read_table
from cqox_ingest.readers.values import PlanBroken

__all__ = [
    "IngestError",
    "Limits",
    "PlanBroken",
    "Table",
    "TableStream",
    "open_stream",
    "read_table",
    "safe_filename",
    "sniff_format",
    "write_parquet",
]
