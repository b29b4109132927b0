"""The columns a customers file may have, how a header maps onto them, and each cell's check.

A row's cells become a `ParsedRow` holding only the columns the file has: a column the file
lacks leaves what is stored alone. A cell that does not fit its column (a value that is no
number, a name longer than the database keeps) rejects the whole row with the reason."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpdesk.common.sanitize import clean_text
from helpdesk.customers.lookup import BadAddress, normalise

# The column lengths of `customers/models.py` (and `accounts` for the account's columns).
EXTERNAL_REF_CHARS = 100
NAME_CHARS = 200
EMAIL_CHARS = 254
PHONE_CHARS = 40
LANGUAGE_CHARS = 16
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")

# The columns in the order export writes them.
FIELDS: tuple[str, ...] = (
    "external_ref",
    "name",
    "email",
    "phone",
    "language",
    "account",
    "account_ref",
    "value",
    "tier_override",
    "manager",
)
# A mapping to this name drops the column on purpose (`--map "Notes=-"`).
IGNORE = "-"


class RowRejected(ValueError):
    """The row cannot be imported; the message says why, in the user's words."""


class ColumnsRefused(ValueError):
    """The header cannot be imported (unknown or missing columns); nothing is read further."""


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """One row's checked values. `values` holds the columns the file has, `None` for an empty
    cell; `cells` is the row as read, for the rejects file."""

    number: int
    cells: list[str]
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def external_ref(self) -> str | None:
        return self.values.get("external_ref")

    @property
    def email(self) -> str | None:
        return self.values.get("email")


def _text(cell: str, column: str, limit: int) -> str | None:
    value = clean_text(cell).strip()
    if len(value) > limit:
        raise RowRejected(f"{column} is {len(value):,} characters long; at most {limit}")
    return value or None


def _external_ref(cell: str) -> str | None:
    return _text(cell, "external_ref", EXTERNAL_REF_CHARS)


def _name(cell: str) -> str | None:
    return _text(cell, "name", NAME_CHARS)


def _address(channel: str, limit: int) -> Callable[[str], str | None]:
    def parse(cell: str) -> str | None:
        value = _text(cell, channel, limit)
        if value is None:
            return None
        try:
            return normalise(channel, value)
        except BadAddress as exc:
            raise RowRejected(str(exc)) from None

    return parse


def _language(cell: str) -> str | None:
    value = _text(cell, "language", LANGUAGE_CHARS)
    if value is not None and not LANGUAGE.match(value):
        raise RowRejected(f"language {value!r} is not a language code such as en or pt-BR")
    return value


def _value(cell: str) -> float | None:
    text = cell.strip()
    if not text:
        return None
    if len(text) > 40:
        raise RowRejected(f"value is {len(text):,} characters long; not a number")
    try:
        number = float(text)
    except ValueError:
        raise RowRejected(f"value {text!r} is not a number (write 1234.5)") from None
    if not math.isfinite(number) or number < 0:
        raise RowRejected(f"value {text!r} must be a number of 0 or more")
    return number


def _tier(names: Sequence[str]) -> Callable[[str], str | None]:
    def parse(cell: str) -> str | None:
        value = _text(cell, "tier_override", 16)
        if value is None:
            return None
        if value.lower() not in names:
            raise RowRejected(f"tier_override {value!r} is not a tier: {', '.join(names)}")
        return value.lower()

    return parse


def cell_parsers(tier_names: Sequence[str]) -> dict[str, Callable[[str], Any]]:
    return {
        "external_ref": _external_ref,
        "name": _name,
        "email": _address("email", EMAIL_CHARS),
        "phone": _address("phone", PHONE_CHARS),
        "language": _language,
        "account": _name_of("account"),
        "account_ref": lambda cell: _text(cell, "account_ref", EXTERNAL_REF_CHARS),
        "value": _value,
        "tier_override": _tier(tier_names),
        # An agent's email; matched to an agent when the row is planned.
        "manager": lambda cell: _text(cell, "manager", EMAIL_CHARS),
    }


def _name_of(column: str) -> Callable[[str], str | None]:
    return lambda cell: _text(cell, column, NAME_CHARS)


def read_mapping(pairs: Iterable[str], files: Iterable[Path]) -> dict[str, str]:
    """`Header=column` pairs from `--map` and from mapping files (one pair a line, `#`
    comments), as {folded header: column}. Raises ColumnsRefused on a malformed pair."""
    lines = list(pairs)
    for path in files:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ColumnsRefused(f"cannot read the mapping file {path}: {exc}") from None
        lines += [line for line in text.splitlines() if line.strip() and not _comment(line)]
    mapping: dict[str, str] = {}
    for pair in lines:
        header, sep, column = pair.rpartition("=")
        column = column.strip().lower()
        if not sep or not header.strip():
            raise ColumnsRefused(f"mapping {pair!r}: write it as 'Header in the file=column'")
        if column not in FIELDS and column != IGNORE:
            raise ColumnsRefused(
                f"mapping {pair!r}: {column!r} is not a column; use one of "
                f"{', '.join(FIELDS)} (or - to leave the column out)"
            )
        mapping[_fold(header)] = column
    return mapping


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _fold(header: str) -> str:
    return header.strip().casefold()


@dataclass(frozen=True, slots=True)
class Columns:
    """Which cell of a row feeds which column."""

    positions: dict[str, int]
    ignored: list[str]
    parsers: dict[str, Callable[[str], Any]]
    width: int

    @classmethod
    def from_header(
        cls,
        header: Sequence[str],
        mapping: dict[str, str],
        *,
        tier_names: Sequence[str],
        ignore_unknown: bool,
    ) -> Columns:
        positions: dict[str, int] = {}
        unknown: list[str] = []
        ignored: list[str] = []
        for position, raw in enumerate(header):
            folded = _fold(raw)
            column = mapping.get(folded, folded)
            if column == IGNORE:
                ignored.append(raw)
            elif column in FIELDS:
                if column in positions:
                    raise ColumnsRefused(
                        f"two columns give {column}: {header[positions[column]]!r} and {raw!r}"
                    )
                positions[column] = position
            else:
                unknown.append(raw)
        if unknown and not ignore_unknown:
            raise ColumnsRefused(
                f"unknown columns: {', '.join(repr(u) for u in unknown)}. Map them "
                f"(--map 'Header=column', columns: {', '.join(FIELDS)}) or leave them out with "
                "--ignore-unknown"
            )
        if "external_ref" not in positions and "email" not in positions:
            raise ColumnsRefused(
                "the file needs an external_ref or an email column to match customers by "
                f"(found: {', '.join(repr(h) for h in header) or 'no columns'}); map yours "
                "with --map 'Header=external_ref'"
            )
        parsers = cell_parsers(tier_names)
        return cls(
            positions=positions,
            ignored=ignored + unknown,
            parsers={column: parsers[column] for column in positions},
            width=len(header),
        )

    def parse(self, number: int, cells: list[str]) -> ParsedRow:
        """The row's checked values, or RowRejected with the first reason found."""
        if len(cells) != self.width:
            raise RowRejected(f"the row has {len(cells)} cells; the header has {self.width}")
        values = {
            column: self.parsers[column](cells[position])
            for column, position in self.positions.items()
        }
        if values.get("external_ref") is None and values.get("email") is None:
            raise RowRejected("neither external_ref nor email: nothing to match the customer by")
        return ParsedRow(number, cells, values)
