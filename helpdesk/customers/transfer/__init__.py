"""Customers in and out of CSV files (`helpdesk customers import` / `export`).

`source.py` reads a file (encoding, delimiter, header, numbered rows), `columns.py` turns a
row's cells into checked values, `planning.py` decides what each row changes against the
database, `writes.py` applies a batch of those decisions in bulk, `importer.py` runs the batches,
and `exporter.py` writes the same columns back out."""
