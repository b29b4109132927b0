"""Customers (issue 16) at scale, one part at a time:

    python bench/customers.py --part reports [--db sqlite|postgresql|both] [--messages N]

`--part reports`: the reports over 1,000,000 messages (bench/customer_reports.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import customer_reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--part", choices=["reports"], required=True)
    known, rest = parser.parse_known_args(argv)
    if known.part == "reports":
        part = argparse.ArgumentParser(prog="customers.py --part reports")
        customer_reports.add_arguments(part)
        return customer_reports.reports(part.parse_args(rest))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
