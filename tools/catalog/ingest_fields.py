"""Reading the import's CSV files and checking every cell, so a problem is reported as
:class:`IngestError` ``FILE:LINE: what is wrong`` before anything is written.

A file is header-checked (required, allowed and repeated columns), decoded as UTF-8 (a BOM is
dropped), and each cell a column needs is parsed here: ids, titles, years, numbers,
timestamps (unix seconds or ISO 8601), ``|``-separated names.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from tools.catalog.models import ID_LEN

TITLE_LEN = 512
CATEGORY_LEN = 128
TAG_LEN = 256
# control characters other than tab, newline and carriage return (NUL breaks PostgreSQL text)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# the same as bytes: in UTF-8 these bytes never occur inside a multi-byte character
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SCAN_BLOCK = 1 << 22
# unix seconds a timestamp may hold: what datetime (and a 64-bit column) can represent
TS_MIN = -62_135_596_800  # 0001-01-01
TS_MAX = 253_402_300_799  # 9999-12-31


class IngestError(ValueError):
    """A bad input file: ``str(err)`` is ``FILE:LINE: what is wrong`` (``FILE: ...`` if no line)."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


def _decoded_lines(f: IO[bytes], path: Path) -> Iterator[str]:
    for n, raw in enumerate(f, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IngestError(
                path,
                n,
                f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "save the file as UTF-8",
            ) from None
        if n == 1 and line.startswith("\ufeff"):
            line = line[1:]
        yield line


def _plain_utf8(path: Path) -> bool:
    """Whether the whole file is valid UTF-8 without control characters: one pass over the
    bytes in C (a regex search and an incremental decode per 4 MB block)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as f:
        while block := f.read(_SCAN_BLOCK):
            if _CONTROL_BYTES.search(block) is not None:
                return False
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


class CsvFile:
    """A header-checked CSV file: iterate ``(line, fields)``; blank lines are skipped.

    A file that is plain UTF-8 without control characters (checked up front in one pass) is
    read as text by the csv module directly; any other is read line by line in binary with
    per-line decoding and per-cell checks, which name the FILE:LINE (and column) of the
    first problem. Lines end at ``\n`` only, either way."""

    def __init__(
        self, path: Path, required: Sequence[str], allowed: Sequence[str] | None
    ) -> None:
        self.path = path
        self._f: IO[bytes] | IO[str]
        try:
            self._check_cells = not _plain_utf8(path)
            if self._check_cells:
                self._f = open(path, "rb")  # noqa: SIM115 - closed in close()
                self._reader = csv.reader(_decoded_lines(self._f, path))
            else:
                self._f = open(path, encoding="utf-8-sig", newline="\n")  # noqa: SIM115
                self._reader = csv.reader(self._f)
        except FileNotFoundError:
            raise IngestError(path, None, "no such file") from None
        except OSError as exc:
            raise IngestError(path, None, f"cannot read: {exc.strerror}") from None
        try:
            header = next(self._reader, None)
        except csv.Error as exc:
            self.close()
            raise IngestError(path, 1, f"malformed CSV header: {exc}") from None
        except IngestError:
            self.close()
            raise
        if not header or not any(h.strip() for h in header):
            self.close()
            raise IngestError(path, 1, f"empty header; expected columns {','.join(required)}")
        self.header = [h.strip() for h in header]
        keys = [h.lower() for h in self.header]
        problem = None
        missing = [c for c in required if c not in keys]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        unknown = [h for h, k in zip(self.header, keys, strict=True) if allowed is not None
                   and k not in allowed]
        if missing:
            problem = f"header lacks required column(s) {', '.join(missing)}"
        elif dupes:
            problem = f"header repeats column(s) {', '.join(dupes)}"
        elif any(not k for k in keys):
            problem = "header has an empty column name"
        elif unknown:
            problem = (
                f"unexpected column(s) {', '.join(unknown)}; allowed: {', '.join(allowed or ())}"
            )
        if problem:
            self.close()
            raise IngestError(
                path, 1, f"{problem} (found: {','.join(self.header)})"
            )
        self.keys = keys
        self.index = {k: i for i, k in enumerate(keys)}

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        reader = self._reader
        width = len(self.header)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise IngestError(self.path, reader.line_num, f"malformed CSV: {exc}") from None
            if len(row) != width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                raise IngestError(
                    self.path,
                    reader.line_num,
                    f"expected {width} fields like the header, found {len(row)}",
                )
            if self._check_cells:
                for k, cell in enumerate(row):
                    bad = _CONTROL.search(cell)
                    if bad is not None:
                        raise IngestError(
                            self.path, reader.line_num,
                            f"control character U+{ord(bad.group()):04X} in column "
                            f"{self.header[k]!r} (text must be printable)")
            yield reader.line_num, row


def need_id(value: str, what: str, path: Path, line: int) -> str:
    value = value.strip()
    if not value:
        raise IngestError(path, line, f"missing {what}")
    if len(value) > ID_LEN:
        raise IngestError(path, line, f"{what} is longer than {ID_LEN} characters")
    return value


def parse_year(value: str, path: Path, line: int) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 4):
        raise IngestError(path, line, f"year {value!r} is not a year (expected e.g. 1999)")
    return int(value)


def parse_number(value: str, what: str, path: Path, line: int) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise IngestError(path, line, f"{what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise IngestError(path, line, f"{what} {value!r} is not a finite number")
    return number


def in_range(seconds: int, value: str, path: Path, line: int) -> int:
    if not TS_MIN <= seconds <= TS_MAX:
        raise IngestError(path, line, f"timestamp {value[:40]!r} is out of range "
                                      "(unix seconds between the years 1 and 9999)")
    return seconds


def parse_timestamp(value: str, path: Path, line: int) -> int | None:
    value = value.strip()
    if not value:
        return None
    seconds: int | None = None
    try:
        seconds = int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            seconds = int(number) if abs(number) < 1e18 else TS_MAX + 1
    if seconds is not None:
        return in_range(seconds, value, path, line)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise IngestError(
            path, line, f"timestamp {value!r} is neither unix seconds nor ISO 8601"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def split_names(value: str, limit: int, what: str, path: Path, line: int) -> list[str]:
    names: list[str] = []
    for part in value.split("|"):
        name = " ".join(part.split())
        if not name or name in names:
            continue
        if len(name) > limit:
            raise IngestError(path, line, f"{what} {name[:40]!r}... is longer than {limit}")
        names.append(name)
    return names


def tag_name(value: str) -> str:
    return " ".join(value.split()).casefold()


def item_title(value: str, path: Path, line: int) -> str:
    """An item's title, whitespace collapsed; present and at most ``TITLE_LEN`` long."""
    title = " ".join(value.split())
    if not title:
        raise IngestError(path, line, "missing title")
    if len(title) > TITLE_LEN:
        raise IngestError(path, line, f"title is longer than {TITLE_LEN} characters")
    return title
