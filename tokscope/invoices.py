"""Providers' own usage and cost exports: read, detected from their content, and kept beside the ledger.

Formats (the documented shapes; see README "Invoices"):

* Anthropic Admin API ``/v1/organizations/usage_report/messages``: pages ``{"data": [bucket], "has_more",
  "next_page"}``, a bucket ``{"starting_at", "ending_at", "results": [...]}``, a result with
  ``uncached_input_tokens``, ``cache_read_input_tokens``, ``cache_creation.ephemeral_5m_input_tokens`` /
  ``ephemeral_1h_input_tokens``, ``output_tokens`` and ``model`` (null unless grouped by model);
* Anthropic ``/v1/organizations/cost_report``: the same buckets, results with ``amount`` (a decimal
  string in cents: ``"123.45"`` is $1.23), ``currency``, ``cost_type``, ``model`` (null unless grouped
  by description);
* Anthropic Console CSV exports: usage (``usage_date_utc``, ``model_version``,
  ``usage_input_tokens_no_cache``, ``usage_input_tokens_cache_write_5m`` / ``_1h``,
  ``usage_input_tokens_cache_read``, ``usage_output_tokens``) and cost (``usage_date_utc``, ``model``
  as a display name, ``token_type``, ``cost_usd`` in dollars, ``cost_type``);
* OpenAI ``/v1/organization/usage/completions``: pages of buckets ``{"start_time", "end_time"}`` (epoch
  seconds), results with ``input_tokens`` (cached included), ``input_cached_tokens``, ``output_tokens``,
  ``model``; ``/v1/organization/costs``: results with ``amount: {"value", "currency"}`` (dollars) and
  ``line_item`` (``"gpt-4o-2024-08-06, input"`` when grouped by line item);
* OpenAI dashboard CSV exports: the same fields flattened (``start_time``, ``start_time_iso``,
  ``amount_value``, ``amount_currency``, ``line_item``; ``model``, ``input_tokens``,
  ``input_cached_tokens``, ``output_tokens``), comma- or tab-separated.

A file is one page, a JSON list of pages, or JSON Lines of pages. Rows are summed per provider, UTC
day and model and stored in ``<ledger>/invoices.json`` with the SHA-256 of the file they came from:
importing the same bytes again changes nothing. No Polars here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from tokscope import paths
from tokscope.format import iso_utc
from tokscope.fsutil import atomic_write, locked

FILE_NAME = "invoices.json"
#: The ledger's lock: imports write under it, like the scan.
LOCK_NAME = "lock"
#: Layout of the file; another layout is refused (never overwritten).
LAYOUT = 1
#: The largest export read (a year of daily buckets grouped by model is far smaller).
MAX_BYTES = 64 << 20

Provider = Literal["anthropic", "openai"]
Kind = Literal["usage", "cost"]

#: Format names, as ``tokscope invoices`` shows them.
FORMATS = (
    "anthropic-usage-json",
    "anthropic-cost-json",
    "anthropic-usage-csv",
    "anthropic-cost-csv",
    "openai-usage-json",
    "openai-cost-json",
    "openai-usage-csv",
    "openai-cost-csv",
)


class InvoiceRow(msgspec.Struct, frozen=True):
    """One provider, UTC day and model of one imported file."""

    provider: str
    day: str
    """UTC day, ``YYYY-MM-DD``."""
    model: str
    """As the provider wrote it; ``""`` when the file does not split by model."""
    kind: str
    """``usage`` (tokens) or ``cost`` (dollars)."""
    source: str
    """SHA-256 of the file."""
    input: int | None = None
    """Uncached input tokens (never cache reads or writes)."""
    output: int | None = None
    cache_read: int | None = None
    cache_write_5m: int | None = None
    cache_write_1h: int | None = None
    cost_usd: float | None = None


class ImportRecord(msgspec.Struct, frozen=True):
    """One imported file."""

    digest: str
    path: str
    format: str
    imported_at: str
    rows: int
    first_day: str | None
    last_day: str | None
    skipped: int = 0
    notes: list[str] = []
    partial_days: list[str] = []


class _File(msgspec.Struct):
    layout: int
    imports: list[ImportRecord]
    rows: list[InvoiceRow]


class InvoiceError(ValueError):
    """A file that is not an export tokscope can read; the message names the file and why."""


class StoreError(OSError):
    """The invoice store cannot be read or written."""


@dataclass
class Parsed:
    """What one file holds: its format, rows, what was left out and why."""

    format: str
    rows: list[InvoiceRow]
    skipped: int = 0
    notes: list[str] = field(default_factory=list)
    partial_days: list[str] = field(default_factory=list)
    """Days the file's buckets cover only in part (a page boundary inside a day of hourly buckets)."""


# --- model names ----------------------------------------------------------------------------

_DATE_SUFFIX = re.compile(r"-(?:20\d{6}|20\d\d-\d\d-\d\d)$")
_DECORATION = re.compile(r"\s*\[[^\]]*\]$")  # claude-opus-4-6[1m]
_DIGIT_DOT = re.compile(r"(?<=\d)\.(?=\d)")


def canonical_model(name: str) -> str:
    """The model id both sides are matched on: provider ids, dated snapshots and display names meet.

    Lowercase; a ``vendor/`` prefix and a ``[1m]``-style marker dropped; spaces become dashes (the
    Console's display names: ``Claude Sonnet 4.5``); a snapshot date dropped (``-20250929``,
    ``-2025-08-07``); for Claude, dots between digits become dashes (``claude-sonnet-4.5`` →
    ``claude-sonnet-4-5``, Anthropic's own spelling). OpenAI ids keep their dots (``gpt-5.1``).
    """
    s = _DECORATION.sub("", name.strip().lower())
    s = s.rsplit("/", 1)[-1].strip()
    s = re.sub(r"\s+", "-", s)
    s = _DATE_SUFFIX.sub("", s)
    if s.startswith("claude-"):
        s = _DIGIT_DOT.sub("-", s)
    return s


# --- reading a file -------------------------------------------------------------------------


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_bytes(data: bytes, name: str = "file") -> Parsed:
    """Detect the format of ``data`` from its content and read its rows.

    Raises :class:`InvoiceError` naming ``name`` and the reason for anything that is not a known export.
    """
    if len(data) > MAX_BYTES:
        raise InvoiceError(f"{name}: {len(data):,} bytes is more than any export ({MAX_BYTES:,} at most)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvoiceError(f"{name}: not UTF-8 text (byte {exc.start}): not a provider export") from None
    stripped = text.strip()
    if not stripped:
        raise InvoiceError(f"{name}: empty file")
    digest = digest_of(data)
    if stripped[0] in "[{":
        pages = _json_pages(stripped, name)
        return _parse_pages(pages, name, digest)
    return _parse_csv(text, name, digest)


def parse_file(path: Path) -> tuple[Parsed, bytes]:
    """Read and parse ``path`` (see :func:`parse_bytes`); the bytes come back for their digest."""
    from tokscope.readers.base import read_regular

    try:
        data = read_regular(path, MAX_BYTES)
    except OSError as exc:
        raise InvoiceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_bytes(data, str(path)), data


def _json_pages(text: str, name: str) -> list[Any]:
    """The pages of a JSON file: one object, a list of pages, or JSON Lines."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as first:
        pages = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                pages.append(json.loads(line))
            except json.JSONDecodeError:
                raise InvoiceError(f"{name}: not valid JSON (line {first.lineno}: {first.msg})") from None
            except RecursionError:
                raise InvoiceError(f"{name}: line {n}: nested too deeply to be an export") from None
        return pages
    except RecursionError:
        raise InvoiceError(f"{name}: nested too deeply to be an export") from None
    if isinstance(value, list) and value and all(isinstance(v, dict) and "data" in v for v in value):
        return value
    return [value]


def _parse_pages(pages: list[Any], name: str, digest: str) -> Parsed:
    buckets: list[dict] = []
    more = False
    for page in pages:
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise InvoiceError(f"{name}: JSON without a data[] list of buckets: not a usage or cost report")
        buckets += [b for b in page["data"] if isinstance(b, dict)]
        more = page.get("has_more") is True  # the last page says whether more follow
    shapes = {_bucket_shape(b) for b in buckets} - {None}
    if not buckets:
        raise InvoiceError(f"{name}: no buckets in data[]: nothing to import")
    if len(shapes) > 1:  # days with no usage are empty buckets of the same report
        shapes -= set(_EMPTY)
    if len(shapes) != 1:
        found = ", ".join(sorted(str(s) for s in shapes)) or "none"
        raise InvoiceError(f"{name}: buckets of no single known report (found: {found})")
    (shape,) = shapes
    rows, skipped, notes = _ROW_READERS[shape](buckets, digest)
    if more:
        notes.append("has_more is true: this file is one page of several; import the next pages too")
    return Parsed(shape, _summed(rows), skipped, notes, _partial_days(buckets))


def _partial_days(buckets: Iterable[dict]) -> list[str]:
    """UTC days whose buckets add up to less than a day (buckets without an end count as whole days)."""
    covered: dict[str, float] = {}
    for b in buckets:
        if "starting_at" in b:
            start, end = _instant(b.get("starting_at")), _instant(b.get("ending_at"))
        else:
            start, end = _money(b.get("start_time")), _money(b.get("end_time"))
        if start is None or not 0 <= start < 32_503_680_000:
            continue
        day = datetime.fromtimestamp(int(start), UTC).date().isoformat()
        width = end - start if end is not None and end > start else 86_400.0
        covered[day] = covered.get(day, 0.0) + min(width, 86_400.0)
    return sorted(d for d, seconds in covered.items() if seconds < 86_400 - 60)


def _instant(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _bucket_shape(bucket: dict) -> str | None:
    results = (
        [r for r in bucket.get("results") or () if isinstance(r, dict)]
        if isinstance(bucket.get("results"), list)
        else []
    )
    if "starting_at" in bucket:
        provider = "anthropic"
    elif "start_time" in bucket:
        provider = "openai"
    else:
        return None
    if not results:
        return f"{provider}-empty"
    first = results[0]
    if provider == "anthropic":
        if "amount" in first:
            return "anthropic-cost-json"
        if "uncached_input_tokens" in first or "output_tokens" in first:
            return "anthropic-usage-json"
        return None
    obj = first.get("object")
    if obj == "organization.costs.result" or isinstance(first.get("amount"), dict):
        return "openai-cost-json"
    if obj == "organization.usage.completions.result" or "input_tokens" in first:
        return "openai-usage-json"
    return None


_EMPTY = ("anthropic-empty", "openai-empty")


def _count(value: Any) -> int | None:
    """A token count: a non-negative whole number (JSON int, or a float/str holding one); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", "")) if value.strip() else 0
        except ValueError:
            return None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value < 1 << 62:
        return value
    return None


def _money(value: Any) -> float | None:
    """A finite amount (number or decimal string); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", "").lstrip("$"))
        except ValueError:
            return None
    if isinstance(value, int) and abs(value) < 10**15:
        return float(value)
    if isinstance(value, float) and math.isfinite(value) and abs(value) < 1e15:
        return value
    return None


def _day_of_iso(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            return date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date().isoformat()


def _day_of_epoch(value: Any) -> str | None:
    n = _money(value)
    if n is None or not 0 <= n < 32_503_680_000:  # before year 3000
        return None
    return datetime.fromtimestamp(int(n), UTC).date().isoformat()


def _model(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


RowsOut = tuple[list[InvoiceRow], int, list[str]]


def _anthropic_usage(buckets: list[dict], digest: str) -> RowsOut:
    rows, skipped = [], 0
    for bucket in buckets:
        day = _day_of_iso(bucket.get("starting_at"))
        for r in _results(bucket):
            creation = r.get("cache_creation") if isinstance(r.get("cache_creation"), dict) else {}
            counts = [
                _count(r.get("uncached_input_tokens", 0)),
                _count(r.get("output_tokens", 0)),
                _count(r.get("cache_read_input_tokens", 0)),
                _count(creation.get("ephemeral_5m_input_tokens", 0)),
                _count(creation.get("ephemeral_1h_input_tokens", 0)),
            ]
            if day is None or None in counts:
                skipped += 1
                continue
            rows.append(_usage_row("anthropic", day, _model(r.get("model")), digest, counts))
    return rows, skipped, []


def _anthropic_cost(buckets: list[dict], digest: str) -> RowsOut:
    rows, skipped, other = [], 0, 0
    for bucket in buckets:
        day = _day_of_iso(bucket.get("starting_at"))
        for r in _results(bucket):
            cents = _money(r.get("amount"))
            currency = r.get("currency", "USD")
            if day is None or cents is None or not isinstance(currency, str) or currency.upper() != "USD":
                skipped += 1
                continue
            if r.get("cost_type") not in (None, "tokens"):  # web search, code execution: no tokens to compare
                other += 1
                continue
            rows.append(InvoiceRow("anthropic", day, _model(r.get("model")), "cost", digest, cost_usd=cents / 100))
    return rows, skipped, _other_note(other)


def _openai_usage(buckets: list[dict], digest: str) -> RowsOut:
    rows, skipped = [], 0
    for bucket in buckets:
        day = _day_of_epoch(bucket.get("start_time"))
        for r in _results(bucket):
            row = _openai_usage_row(day, r, digest)
            if row is None:
                skipped += 1
            else:
                rows.append(row)
    return rows, skipped, []


def _openai_usage_row(day: str | None, r: dict, digest: str) -> InvoiceRow | None:
    total = _count(r.get("input_tokens", 0))
    cached = _count(r.get("input_cached_tokens") or 0)
    output = _count(r.get("output_tokens", 0))
    if day is None or total is None or cached is None or output is None or cached > total:
        return None
    return _usage_row("openai", day, _model(r.get("model")), digest, [total - cached, output, cached, 0, 0])


def _openai_cost(buckets: list[dict], digest: str) -> RowsOut:
    rows, skipped, other = [], 0, 0
    for bucket in buckets:
        day = _day_of_epoch(bucket.get("start_time"))
        for r in _results(bucket):
            amount = r.get("amount") if isinstance(r.get("amount"), dict) else {}
            row, is_other = _openai_cost_row(day, amount.get("value"), amount.get("currency", "usd"), r, digest)
            other += is_other
            skipped += row is None and not is_other
            if row is not None:
                rows.append(row)
    return rows, skipped, _other_note(other)


def _openai_cost_row(
    day: str | None, value: Any, currency: Any, r: dict, digest: str
) -> tuple[InvoiceRow | None, bool]:
    dollars = _money(value)
    if day is None or dollars is None or not isinstance(currency, str) or currency.lower() != "usd":
        return None, False
    model = line_item_model(r.get("line_item"))
    if model is None:
        return None, True
    return InvoiceRow("openai", day, model, "cost", digest, cost_usd=dollars), False


def line_item_model(line_item: Any) -> str | None:
    """The model of an OpenAI cost line item: ``"gpt-4o-2024-08-06, input"`` → ``gpt-4o-2024-08-06``;
    ``""`` when there is none (costs not grouped by line item); None for a line item that is not a
    model's tokens (``Web search tool calls``)."""
    if line_item is None or (isinstance(line_item, str) and not line_item.strip()):
        return ""
    if not isinstance(line_item, str):
        return None
    head = line_item.split(",", 1)[0].strip()
    return head if head and " " not in head else None


def _other_note(other: int) -> list[str]:
    if not other:
        return []
    return [f"{other} cost row{'s' if other != 1 else ''} not for model tokens (web search, tools …) left out"]


def _results(bucket: dict) -> Iterator[dict]:
    results = bucket.get("results")
    if isinstance(results, list):
        yield from (r for r in results if isinstance(r, dict))


def _usage_row(provider: str, day: str, model: str, digest: str, counts: list[int | None]) -> InvoiceRow:
    inp, out, read, w5, w1 = counts
    return InvoiceRow(provider, day, model, "usage", digest, inp, out, read, w5, w1)


_ROW_READERS = {
    "anthropic-usage-json": _anthropic_usage,
    "anthropic-cost-json": _anthropic_cost,
    "openai-usage-json": _openai_usage,
    "openai-cost-json": _openai_cost,
    "anthropic-empty": lambda buckets, digest: ([], 0, []),
    "openai-empty": lambda buckets, digest: ([], 0, []),
}


# --- CSV exports ------------------------------------------------------------------------------


def _parse_csv(text: str, name: str, digest: str) -> Parsed:
    first = text.lstrip().split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    try:
        reader = csv.DictReader(io.StringIO(text.lstrip()), delimiter=delimiter)
        header = {h.strip() for h in reader.fieldnames or () if h}
        shape = _csv_shape(header)
        if shape is None:
            shown = ", ".join(sorted(header)[:8]) or "none"
            raise InvoiceError(f"{name}: not a JSON report and no CSV export I know (columns: {shown})")
        rows, skipped, notes = [], 0, []
        other = 0
        buckets: list[dict] = []
        for line in reader:
            clean = {(k or "").strip(): (v.strip() if isinstance(v, str) else "") for k, v in line.items()}
            if clean.get("start_time") and clean.get("end_time"):
                buckets.append({"start_time": clean["start_time"], "end_time": clean["end_time"]})
            if not any(clean.get(c) for c in _CSV_VALUE_COLUMNS[shape]):
                continue  # a day with nothing on it (the dashboards write empty rows)
            row, is_other = _CSV_READERS[shape](clean, digest)
            other += is_other
            skipped += row is None and not is_other
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        raise InvoiceError(f"{name}: unreadable CSV ({exc})") from None
    notes += _other_note(other)
    return Parsed(shape, _summed(rows), skipped, notes, _partial_days(buckets))


def _csv_shape(header: set[str]) -> str | None:
    if "usage_date_utc" in header:
        if "cost_usd" in header and "model" in header:
            return "anthropic-cost-csv"
        if "model_version" in header and "usage_output_tokens" in header:
            return "anthropic-usage-csv"
    if "start_time" in header or "start_time_iso" in header:
        if "amount_value" in header:
            return "openai-cost-csv"
        if {"input_tokens", "output_tokens", "model"} <= header:
            return "openai-usage-csv"
    return None


def _csv_day(row: dict[str, str]) -> str | None:
    if row.get("usage_date_utc"):
        return _day_of_iso(row["usage_date_utc"])
    if row.get("start_time_iso"):
        return _day_of_iso(row["start_time_iso"])
    return _day_of_epoch(row.get("start_time"))


def _csv_anthropic_usage(row: dict[str, str], digest: str) -> tuple[InvoiceRow | None, bool]:
    day = _csv_day(row)
    w5 = row.get("usage_input_tokens_cache_write_5m", row.get("usage_input_tokens_cache_write", ""))
    counts = [
        _count(row.get("usage_input_tokens_no_cache", "")),
        _count(row.get("usage_output_tokens", "")),
        _count(row.get("usage_input_tokens_cache_read", "")),
        _count(w5),
        _count(row.get("usage_input_tokens_cache_write_1h", "")),
    ]
    if day is None or None in counts:
        return None, False
    return _usage_row("anthropic", day, row.get("model_version", ""), digest, counts), False


def _csv_anthropic_cost(row: dict[str, str], digest: str) -> tuple[InvoiceRow | None, bool]:
    day = _csv_day(row)
    dollars = _money(row.get("cost_usd", ""))
    if day is None or dollars is None:
        return None, False
    if row.get("cost_type", "") not in ("", "token", "tokens"):
        return None, True
    return InvoiceRow("anthropic", day, row.get("model", ""), "cost", digest, cost_usd=dollars), False


def _csv_openai_usage(row: dict[str, str], digest: str) -> tuple[InvoiceRow | None, bool]:
    return _openai_usage_row(_csv_day(row), row, digest), False


def _csv_openai_cost(row: dict[str, str], digest: str) -> tuple[InvoiceRow | None, bool]:
    return _openai_cost_row(_csv_day(row), row.get("amount_value"), row.get("amount_currency") or "usd", row, digest)


_CSV_READERS = {
    "anthropic-usage-csv": _csv_anthropic_usage,
    "anthropic-cost-csv": _csv_anthropic_cost,
    "openai-usage-csv": _csv_openai_usage,
    "openai-cost-csv": _csv_openai_cost,
}
#: The columns whose emptiness makes a row an empty day rather than a bad row.
_CSV_VALUE_COLUMNS = {
    "anthropic-usage-csv": ("model_version", "usage_output_tokens"),
    "anthropic-cost-csv": ("model", "cost_usd"),
    "openai-usage-csv": ("model", "input_tokens", "output_tokens"),
    "openai-cost-csv": ("amount_value",),
}


def _summed(rows: Iterable[InvoiceRow]) -> list[InvoiceRow]:
    """One row per (provider, day, model, kind): buckets of one day (hourly, several pages) added up."""
    out: dict[tuple[str, str, str, str], InvoiceRow] = {}
    for row in rows:
        key = (row.provider, row.day, row.model, row.kind)
        have = out.get(key)
        out[key] = row if have is None else _add(have, row)
    return [out[k] for k in sorted(out)]


def _add(a: InvoiceRow, b: InvoiceRow) -> InvoiceRow:
    def plus(x: Any, y: Any) -> Any:
        return None if x is None and y is None else (x or 0) + (y or 0)

    fields = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "cost_usd")
    return msgspec.structs.replace(a, **{f: plus(getattr(a, f), getattr(b, f)) for f in fields})


# --- the store --------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_File)


def store_path(root: Path | None = None) -> Path:
    return (root or paths.ledger_dir()) / FILE_NAME


def load(root: Path | None = None) -> _File:
    """The store (empty when missing); :class:`StoreError` when it is damaged or of another layout."""
    path = store_path(root)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _File(LAYOUT, [], [])
    except OSError as exc:
        raise StoreError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        value = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StoreError(f"{path}: damaged ({exc}); move it aside to start over") from None
    if value.layout != LAYOUT:
        raise StoreError(f"{path}: layout {value.layout}, this tokscope reads {LAYOUT}; left as it is")
    return value


def imports(root: Path | None = None) -> list[ImportRecord]:
    """What has been imported, oldest first."""
    return list(load(root).imports)


def import_file(path: Path, root: Path | None = None, now: datetime | None = None) -> tuple[ImportRecord, bool]:
    """Parse ``path`` and store its rows; (its record, True when new). The same bytes again: (the old
    record, False), nothing written. :class:`InvoiceError` for a file that is not an export."""
    parsed, data = parse_file(path)
    digest = digest_of(data)
    if not parsed.rows:
        why = f" ({parsed.skipped} unreadable rows)" if parsed.skipped else ""
        raise InvoiceError(f"{path}: nothing to import: no usage or cost in this export{why}")
    store = store_path(root)
    with locked(store.parent / LOCK_NAME):
        current = load(root)
        for record in current.imports:
            if record.digest == digest:
                return record, False
        days = sorted({r.day for r in parsed.rows})
        record = ImportRecord(
            digest=digest,
            path=str(path.resolve()),
            format=parsed.format,
            imported_at=iso_utc((now or datetime.now(UTC)).replace(microsecond=0)),
            rows=len(parsed.rows),
            first_day=days[0],
            last_day=days[-1],
            skipped=parsed.skipped,
            notes=parsed.notes,
            partial_days=parsed.partial_days,
        )
        updated = _File(LAYOUT, [*current.imports, record], [*current.rows, *parsed.rows])
        try:
            atomic_write(store, _encoder.encode(updated))
        except OSError as exc:
            raise StoreError(f"{store}: cannot write: {exc.strerror or exc}") from None
    return record, True


def effective_rows(root: Path | None = None) -> list[InvoiceRow]:
    """The stored rows that count, per provider, kind (usage or cost) and day: those of the last file
    that covers the day whole (a newer export of the same days replaces an older one instead of adding
    to it), plus the files imported after it that cover the day in part (pages that split a day of
    hourly buckets add up)."""
    store = load(root)
    order = {r.digest: i for i, r in enumerate(store.imports)}
    partial = {(r.digest, d) for r in store.imports for d in r.partial_days}
    whole: dict[tuple[str, str, str], int] = {}
    for row in store.rows:
        if (row.source, row.day) not in partial:
            key = (row.provider, row.kind, row.day)
            whole[key] = max(whole.get(key, -1), order.get(row.source, -1))

    def counts(row: InvoiceRow) -> bool:
        n, base = order.get(row.source, -1), whole.get((row.provider, row.kind, row.day), -1)
        return n == base or (n > base and (row.source, row.day) in partial)

    return [r for r in store.rows if counts(r)]
