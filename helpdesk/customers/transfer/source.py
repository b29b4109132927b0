"""Reading a customers file: its encoding, its delimiter, its header and its numbered rows.

The whole file is read once before anything is written, so that a file that cannot be read
(a wrong encoding, no header) is refused whole rather than half imported. Rows are numbered as
a spreadsheet numbers them: the header is row 1, the first customer row 2."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
DELIMITERS = ",;\t|"
# A cell is as long as the file lets it be: the file is the admin's own, on the admin's disk,
# and an oversized cell is rejected with its row rather than stopping the reader (Python's
# csv stops at 128 KiB by default).
CELL_LIMIT = 2**31 - 1


class FileRefused(ValueError):
    """The file as a whole cannot be imported; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Source:
    path: Path
    encoding: str
    delimiter: str
    header: list[str]
    rows: int

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """(row number, cells) for every row under the header; blank lines are skipped but
        counted, as a spreadsheet shows them."""
        with self.path.open(encoding=self.encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            next(reader, None)
            for number, cells in enumerate(reader, start=2):
                if cells and any(cell.strip() for cell in cells):
                    yield number, cells


def open_source(path: Path, encoding: str | None, delimiter: str | None) -> Source:
    """Check the whole file can be read and count its rows. Raises FileRefused."""
    csv.field_size_limit(CELL_LIMIT)
    chosen = _encoding(path, encoding)
    _check_decodes(path, chosen, given=encoding is not None)
    try:
        with path.open(encoding=chosen, newline="") as handle:
            first = handle.readline()
            if not first.strip():
                raise FileRefused(f"{path} is empty: the first line must name the columns")
            sep = delimiter or _delimiter(first)
            handle.seek(0)
            reader = csv.reader(handle, delimiter=sep)
            header = next(reader)
            rows = sum(1 for cells in reader if cells and any(c.strip() for c in cells))
    except csv.Error as exc:
        raise FileRefused(f"{path}: not a CSV file the import can read: {exc}") from None
    return Source(path, chosen, sep, [cell.strip() for cell in header], rows)


def _encoding(path: Path, given: str | None) -> str:
    if given:
        try:
            return codecs.lookup(given).name
        except LookupError:
            raise FileRefused(f"--encoding {given}: no such encoding") from None
    try:
        with path.open("rb") as handle:
            start = handle.read(4)
    except OSError as exc:
        raise FileRefused(f"cannot read {path}: {exc.strerror}") from None
    if start.startswith(UTF8_BOM):
        return "utf-8-sig"
    if start.startswith(UTF16_BOMS):
        return "utf-16"
    return "utf-8"


def _check_decodes(path: Path, encoding: str, *, given: bool) -> None:
    """Decode the whole file before any row is used, naming the line of the first bad byte."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line = 1
    with path.open("rb") as handle:
        for chunk in handle:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = chunk[exc.start : exc.start + 1].hex()
                advice = (
                    "check the encoding you gave"
                    if given
                    else "if it was saved as Latin-1 or Windows-1252 (as Excel does), import "
                    "it with --encoding cp1252, or save it as 'CSV UTF-8'"
                )
                raise FileRefused(
                    f"{path} is not {encoding} text: byte 0x{bad} on line {line} cannot be "
                    f"read ({advice}); nothing was imported"
                ) from None
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FileRefused(f"{path} ends in the middle of a {encoding} character") from None


def _delimiter(header_line: str) -> str:
    """The header's most frequent delimiter: Excel writes ';' where ',' is the decimal mark."""
    counts = {sep: header_line.count(sep) for sep in DELIMITERS}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","
