"""Customers in and out of CSV files (`helpdesk customers import` / `export`).

`source.py` reads a file (encoding, delimiter, header, numbered rows), `columns.py` turns a
row's cells into checked values, `references.py` finds the accounts and managers rows name,
`planning.py` decides what each row changes against the database, `writes.py` applies a batch
of those decisions in bulk, `importer.py` runs the batches, and `exporter.py` writes the same
columns back out.

A new column (consent, say): its name in `FIELDS` and its check in `cell_parsers`
(columns.py); what it changes in `planning.py` (a customers column: add it to `STORED`, and
`writes.py` follows) or its own step there and in `writes.py`; and its value in the export query."""

# Rows written per transaction unless `--batch-size` says: big enough that statements, not
# round trips, dominate; small enough that a batch written again row by row stays quick.
DEFAULT_BATCH_ROWS = 2_000
