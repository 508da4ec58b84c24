#!/usr/bin/env python3
"""Amazon Athena stand-in for tests: it runs the SQL on real rows.

moto accepts Athena calls but runs no SQL, so tests against it can only check the wire.
This stand-in answers the Athena JSON 1.1 API itself and executes each query the way
Athena (engine 3, i.e. Trino) would: tables come from the Glue Data Catalog and the rows
from the S3 objects, both held by a moto server, and the SQL runs in DuckDB after
translation from Trino SQL with sqlglot. Every other request (Glue, S3, moto's own API) is
forwarded unchanged to moto, so one endpoint URL serves the whole SDK configuration.

Run
===
    .venv/bin/python fa2-core/tests/support/athena_standin.py --port P --moto http://127.0.0.1:M

prints ``ready <port>`` on stdout once it listens on 127.0.0.1 (``--port 0`` picks a free
port), and exits on SIGTERM or when its stdin reaches end of file, so spawn it with a piped
stdin and keep the pipe open (``--no-stdin-watch`` turns that off). ``--running-polls N``
(default 1): the first N GetQueryExecution calls of each query report RUNNING, so that
callers exercise polling (and StopQueryExecution can cancel a query deterministically).

Endpoints
=========
``POST /`` with ``X-Amz-Target: AmazonAthena.<Op>`` (JSON 1.1):
  StartQueryExecution, GetQueryExecution, GetQueryResults, StopQueryExecution,
  ListQueryExecutions. Errors are HTTP 400 ``{"__type": "InvalidRequestException", ...}``,
  among them the API model's constraints the Rust SDK does not check: ``ExecutionParameters``
  sent empty (min 1 item), a parameter of 0 or over 1024 characters, MaxResults over 1000.
  GetQueryResults: first page begins with the header row (column names), MaxResults
  (1..1000) counts it, every value is a string as Trino prints it, NULL is ``{}``.
Any other request is proxied to ``--moto`` unchanged (method, path, query, headers, body).
Test-only:
  ``GET /standin/queries`` -> ``[{id, query (after parameter substitution), sql_template,
  parameters, database, workgroup, state, error, duckdb_sql, row_count, data_scanned_bytes,
  tables: [{table: "db.name", partitions_touched: [{col: value}], partitions_total,
  bytes_scanned, objects}]}]``
  ``POST /standin/reset`` forgets every query; ``POST /standin/config {"running_polls": N}``.

Seed (creates the documented tables in moto's Glue and uploads log files to moto's S3)
====
    athena_standin.py --moto URL seed --table KIND[:NAME] --database DB --bucket BUCKET
        [--prefix P] [--account 123456789012] [--region us-east-1] [--range START,END]
        [--gzip] [--file PARTITION=LOCAL_PATH ...]
    athena_standin.py --moto URL seed --spec FILE.json
KIND is one of ``alb_projected`` (default name ``alb_access_logs``), ``cloudtrail_projected``
(``cloudtrail_logs_pp``) or ``alb_hive`` (``alb_access_logs_hive``). PARTITION is the day,
``2024/08/16``; the file goes to ``<table root>/2024/08/16/<file name>`` (``.gz`` appended
and the content compressed with ``--gzip``); for ``alb_hive`` each day is also registered
with ``glue.create_partition`` (year, month, day). The spec file holds
``{"tables": [{"kind", "name", "database", "bucket", "prefix", "account", "region", "range",
"gzip", "files": [{"partition", "path", "name"?}]}]}``. Re-seeding replaces the table.
Prints ``{"tables": [{"database", "table", "kind", "location", "objects": ["s3://..."]}]}``.

Tables (Glue definitions taken from the AWS documentation)
======
* ``alb_projected``: Athena User Guide, "Create the table for ALB access logs in Athena using
  partition projection" (docs.aws.amazon.com/athena/latest/ug/
  create-alb-access-logs-table-partition-projection.html), the current text with
  ``conn_trace_id`` and the regex ending ``?([^ ]*)? ?( .*)?``: 34 columns, RegexSerDe,
  ``PARTITIONED BY (day STRING)``, ``projection.day.*`` = date, ``2022/01/01,NOW``,
  ``yyyy/MM/dd``, 1 DAYS, ``storage.location.template`` ``.../elasticloadbalancing/<region>/${day}``.
* ``alb_hive``: the same columns and regex ("Create the table for ALB access logs",
  create-alb-access-logs-table.html) partitioned by ``year, month, day`` strings with one
  Glue partition per day (``ALTER TABLE ADD PARTITION`` style; the partitioning is ours).
* ``cloudtrail_projected``: "Create the table for CloudTrail logs in Athena using partition
  projection" (create-cloudtrail-table-partition-projection.html), current text: JsonSerDe
  with ``com.amazon.emr.cloudtrail.CloudTrailInputFormat`` (older pages used
  ``com.amazon.emr.hive.serde.CloudTrailSerde``; both are read alike), ``PARTITIONED BY
  (timestamp string)``, ``projection.timestamp.*`` from ``2020/01/01,NOW``.
The page texts are the current ones as held by the search index (``amzn-s3-demo-bucket``
placeholders, ``conn_trace_id``). The regex is stored as Glue would hold it after Athena read
the DDL string literal (``\\"`` -> ``"``, ``\\\\s`` -> ``\\s``; assumed, not observed).
Test log lines follow the ELB guide's "Access log entries" examples (load-balancer-access-logs).

Semantics
=========
* Parameters ("Use parameterized queries", querying-with-prepared-statements.html): every
  ``?`` outside literals and comments is a placeholder; one outside a WHERE clause, or a
  count differing from ExecutionParameters, fails the query (INVALID_PARAMETER_USAGE).
  Values are substituted as SQL text.
* Names: ``"db"."t"``, ``db.t``, ``awsdatacatalog.db.t`` or ``t`` (QueryExecutionContext
  database, else ``default``). Unknown schema/table/column, an alias used in GROUP BY or a
  string compared with a number fail like Trino (SCHEMA_NOT_FOUND, TABLE_NOT_FOUND,
  COLUMN_NOT_FOUND, TYPE_MISMATCH with ``line L:C``).
* Partitions: projection (date, integer, enum, injected; ``NOW[+-]nUNIT`` bounds), Glue
  partitions, or none. A partition is read only if every top-level WHERE conjunct that
  references nothing but that table's partition columns is TRUE for its values (Trino drops
  a partition whose predicate is FALSE or NULL), evaluated by DuckDB over the candidates.
  bytes_scanned is the stored size of every object read; Hive hidden files (``_x``, ``.x``)
  are skipped; gzip is detected by ``.gz`` or its magic bytes.
* Rows: RegexSerDe as Trino's ``RegexDeserializer`` ("bug for bug compatible with Hive"):
  whole-line match (DOTALL); a line that does not match, an empty line included, is a row of
  NULLs; a group that did not take part or a value that does not parse (``-`` in an int) is
  NULL. JSON SerDes (hcatalog, openx): one object per line, field names case-insensitive;
  CloudTrail input format/SerDe: ``{"Records": [...]}`` per file. A STRING column whose JSON
  value is an object or array holds its compact JSON text; STRUCT/ARRAY/MAP keep structure.
* Shims where DuckDB or sqlglot differ from Trino (DuckDB macros or AST rewrites):
  ``parse_datetime`` and ``format_datetime`` (Joda pattern -> strptime/strftime at translation,
  result truncated to milliseconds as Trino's timestamp(3)); ``from_iso8601_timestamp``
  (strict ISO 8601: a space instead of ``T`` fails, as in Trino; ms precision);
  ``regexp_replace`` (Java ``$1`` -> RE2 ``\\1``); ``regexp_extract`` (NULL, not '', when
  nothing matches); ``split_part`` (NULL past the last field, error for index < 1);
  ``url_extract_path``/``url_extract_host``/``url_extract_query`` (Trino's ``UrlFunctions``:
  java.net.URI, NULL for an invalid URI, '' for a missing part, so ``http://host`` has path
  '', path and query percent-decoded); ``json_extract_scalar`` /
  ``json_extract`` (NULL for invalid JSON or a non-scalar); ``approx_percentile`` ->
  ``quantile_disc`` (an actual value, deterministic). ``try``, ``coalesce``, ``CASE``,
  ``CAST``, ``count_if``, ``element_at``, ``cardinality``, ``transform``, ``json_format``,
  struct dereference, ``GROUPING SETS``/``grouping()`` and ``TIMESTAMP '... UTC'`` literals
  translate directly. Integer / integer divides as integers, as in Trino.
* Checks Trino makes and DuckDB would not: an unquoted reserved keyword as a name (Trino's
  list, trino.io/docs/current/language/reserved.html, which has ROLLUP) is a SYNTAX_ERROR.
* Output as Trino prints it: doubles like Java's ``Double.toString`` (``0.001``, ``1.0E-4``),
  timestamps ``2024-08-16 11:19:00.000`` (``... UTC`` with time zone), arrays ``[a, b]``, rows
  and maps ``{k=v}``. Result names: alias, column or field name, else ``_colN``.
Not modelled: per-value time zones (all are UTC), workgroup settings, result files in S3,
Athena's exact wording of every message (codes and Trino's texts are kept; a DuckDB error that
has no Trino equivalent here says "athena stand-in").
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import decimal
import gzip
import http.client
import json
import math
import os
import queue
import re
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.exceptions
import duckdb
import sqlglot
from botocore.config import Config
from sqlglot import exp
from sqlglot.dialects.trino import Trino


class QueryFailed(Exception):
    """A query FAILED; ``reason`` is the StateChangeReason (``CODE: message``)."""

    def __init__(self, code: str, message: str, user: bool = True):
        super().__init__(f"{code}: {message}")
        self.reason = f"{code}: {message}"
        self.user = user


def _pos(sql: str, node: exp.Expression | None) -> str:
    """``line L:C: `` of a node's first token, as Trino prefixes analysis errors."""
    starts = [n.meta["start"] for n in (node.walk() if node is not None else []) if "start" in (n.meta or {})]
    if not starts:
        return ""
    start = min(starts)
    return f"line {sql.count(chr(10), 0, start) + 1}:{start - sql.rfind(chr(10), 0, start)}: "


# ---------------------------------------------------------------------------------------------
# Hive types
# ---------------------------------------------------------------------------------------------

_TYPE_TOKEN = re.compile(r"\s*(`[^`]*`|[A-Za-z_][A-Za-z0-9_]*|\d+|[<>,:()])")
_SCALARS = {"string": "VARCHAR", "varchar": "VARCHAR", "char": "VARCHAR", "int": "INTEGER",
            "integer": "INTEGER", "bigint": "BIGINT", "smallint": "SMALLINT", "tinyint": "TINYINT",
            "double": "DOUBLE", "float": "FLOAT", "boolean": "BOOLEAN", "date": "DATE",
            "timestamp": "TIMESTAMP", "binary": "BLOB"}
_TRINO_NAMES = {"string": "varchar", "varchar": "varchar", "char": "varchar", "int": "integer",
                "float": "real", "binary": "varbinary"}
_INT_RANGES = {"int": 31, "integer": 31, "bigint": 63, "smallint": 15, "tinyint": 7}


def parse_hive_type(text: str):
    """Glue/Hive type string -> ``("string",)``, ``("decimal", p, s)``, ``("array", T)``,
    ``("map", K, V)`` or ``("struct", [(name, T), ...])``."""
    toks = _TYPE_TOKEN.findall(text)
    if "".join(toks).replace(" ", "") != re.sub(r"\s+", "", text):
        raise ValueError(f"cannot read Hive type {text!r}")
    pos = 0

    def take(expected=None):
        nonlocal pos
        if pos >= len(toks) or (expected and toks[pos].lower() != expected):
            raise ValueError(f"cannot read Hive type {text!r}")
        pos += 1
        return toks[pos - 1]

    def one():
        name = take().lower()
        if name == "array":
            take("<"); inner = one(); take(">")
            return ("array", inner)
        if name == "map":
            take("<"); k = one(); take(","); v = one(); take(">")
            return ("map", k, v)
        if name == "struct":
            take("<"); fields = []
            while True:
                fname = take().strip("`").lower(); take(":")
                fields.append((fname, one()))
                if take() == ">":
                    return ("struct", fields)
        if name == "decimal":
            p, s = 10, 0
            if pos < len(toks) and toks[pos] == "(":
                take(); p = int(take())
                if toks[pos] == ",":
                    take(); s = int(take())
                take(")")
            return ("decimal", p, s)
        if name in ("varchar", "char") and pos < len(toks) and toks[pos] == "(":
            take(); take(); take(")")
        if name not in _SCALARS:
            raise ValueError(f"unsupported Hive type {name!r} in {text!r}")
        return (name,)

    t = one()
    if pos != len(toks):
        raise ValueError(f"cannot read Hive type {text!r}")
    return t


def duck_type(t) -> str:
    kind = t[0]
    if kind == "array":
        return f"{duck_type(t[1])}[]"
    if kind == "map":
        return f"MAP({duck_type(t[1])}, {duck_type(t[2])})"
    if kind == "struct":
        return "STRUCT(" + ", ".join(f'"{n}" {duck_type(ft)}' for n, ft in t[1]) + ")"
    if kind == "decimal":
        return f"DECIMAL({t[1]}, {t[2]})"
    return _SCALARS[kind]


def trino_type_name(t) -> str:
    return {"array": "array", "map": "map", "struct": "row"}.get(t[0]) or _TRINO_NAMES.get(t[0], t[0])


_JAVA_INT = re.compile(r"[+-]?\d+")
_JAVA_DOUBLE = re.compile(r"[+-]?(NaN|Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[fFdD]?)")


def from_text(t, s: str):
    """A RegexSerDe group -> column value; a value that does not parse is NULL (Trino's
    non-strict ``throwParseErrorOrNull``)."""
    kind = t[0]
    if kind in ("string", "varchar", "char"):
        return s
    if kind in _INT_RANGES:
        if not _JAVA_INT.fullmatch(s):
            return None
        v = int(s)
        return v if -(1 << _INT_RANGES[kind]) <= v < (1 << _INT_RANGES[kind]) else None
    if kind in ("double", "float"):
        s = s.strip()
        if not _JAVA_DOUBLE.fullmatch(s):
            return None
        v = float(s.rstrip("fFdD").replace("Infinity", "inf"))
        return v if math.isfinite(v) else None
    if kind == "boolean":
        return s.lower() == "true"
    if kind == "decimal":
        try:
            return str(decimal.Decimal(s).quantize(decimal.Decimal(1).scaleb(-t[2])))
        except decimal.InvalidOperation:
            return None
    if kind in ("date", "timestamp"):
        return s if re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}:\d{2}(\.\d+)?)?", s) else None
    raise QueryFailed("HIVE_UNSUPPORTED_FORMAT", f"RegexSerDe cannot read a column of type {kind}")


def _compact_json(v) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def from_json(t, v):
    """A JSON value -> column value, as the Hive JSON SerDes map it (type-directed)."""
    if v is None:
        return None
    kind = t[0]
    if kind in ("string", "varchar", "char"):
        if isinstance(v, bool):
            return "true" if v else "false"
        return _compact_json(v) if isinstance(v, (dict, list)) else str(v)
    if kind == "struct":
        if not isinstance(v, dict):
            return None
        low = {str(k).lower(): x for k, x in v.items()}
        return {name: from_json(ft, low.get(name)) for name, ft in t[1]}
    if kind == "array":
        return [from_json(t[1], x) for x in v] if isinstance(v, list) else None
    if kind == "map":
        return {str(k): from_json(t[2], x) for k, x in v.items()} if isinstance(v, dict) else None
    if isinstance(v, (dict, list)):
        return None
    if kind in _INT_RANGES and isinstance(v, (int, float)) and not isinstance(v, bool):
        return from_text(t, str(int(v)))
    return from_text(t, "true" if v is True else "false" if v is False else str(v))


# ---------------------------------------------------------------------------------------------
# Pattern translations (Java regex, Java DateTimeFormatter / Joda)
# ---------------------------------------------------------------------------------------------

_POSIX = {"Alpha": "a-zA-Z", "Digit": "0-9", "Alnum": "a-zA-Z0-9", "Upper": "A-Z",
          "Lower": "a-z", "Space": " \\t\\n\\x0b\\f\\r", "XDigit": "0-9a-fA-F",
          "Punct": "!-/:-@\\[-`{-~"}


def java_regex_to_python(rx: str) -> str:
    """Translates the Java regex constructs Python's ``re`` spells differently: named groups,
    ``\\p{Posix}``, ``\\z``/``\\Z``, ``\\h``, ``\\Q..\\E``. Class intersections fail loudly."""
    out, i, in_class = [], 0, False
    while i < len(rx):
        c = rx[i]
        if c == "\\" and i + 1 < len(rx):
            n = rx[i + 1]
            if n in "pP" and rx[i + 2:i + 3] == "{":
                name = rx[i + 3:rx.index("}", i)]
                if name not in _POSIX or (in_class and n == "P"):
                    raise QueryFailed("HIVE_INVALID_METADATA", f"stand-in cannot translate \\{n}{{{name}}}")
                body = _POSIX[name]
                out.append(body if in_class else f"[{'^' if n == 'P' else ''}{body}]")
                i = rx.index("}", i) + 1
                continue
            if n == "Q":
                end = rx.find("\\E", i + 2)
                end = len(rx) if end < 0 else end
                out.append(re.escape(rx[i + 2:end]))
                i = end + 2
                continue
            out.append({"z": "\\Z", "Z": "(?=\\n?\\Z)",
                        "h": "[ \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000]"}
                       .get(n, c + n) if not in_class else c + n)
            i += 2
            continue
        if in_class and rx.startswith("&&", i):
            raise QueryFailed("HIVE_INVALID_METADATA", "stand-in cannot translate character class intersection")
        if c == "[" and not in_class:
            in_class = True
            out.append(c)
            i += 1
            for lead in ("^", "]"):  # a leading ] is literal in Java too
                if rx[i:i + 1] == lead:
                    out.append(lead)
                    i += 1
            continue
        if c == "]" and in_class:
            in_class = False
        if not in_class and rx.startswith("(?<", i) and rx[i + 3:i + 4] not in ("=", "!"):
            out.append("(?P<")
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


_DT_LETTERS = {"yyyy": "%Y", "uuuu": "%Y", "yy": "%y", "MMMM": "%B", "MMM": "%b", "MM": "%m",
               "M": "%-m", "dd": "%d", "d": "%-d", "HH": "%H", "H": "%-H", "hh": "%I",
               "mm": "%M", "ss": "%S", "a": "%p", "EEEE": "%A", "EEE": "%a", "Z": "%z",
               "ZZ": "%z", "SSS": "%g", "SSSSSS": "%f", "SSSSSSSSS": "%n"}


def java_datetime_to_strftime(pattern: str, python: bool = False) -> str:
    """A Java DateTimeFormatter/Joda pattern -> strftime (``python=True``: Python's codes,
    where ``%-m`` is unavailable and fractions are not used)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            end = pattern.find("'", i + 1)
            if end == i + 1:
                out.append("'")
                i += 2
                continue
            end = len(pattern) if end < 0 else end
            out.append(pattern[i + 1:end].replace("%", "%%"))
            i = end + 1
            continue
        if c.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == c:
                j += 1
            code = _DT_LETTERS.get(pattern[i:j])
            if code is None or (python and code in ("%g", "%n", "%-m", "%-d", "%-H")):
                raise QueryFailed("NOT_SUPPORTED",
                                  f"athena stand-in: date pattern letters {pattern[i:j]!r} in {pattern!r}")
            out.append(code)
            i = j
            continue
        out.append("%%" if c == "%" else c)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Tables, partitions and rows
# ---------------------------------------------------------------------------------------------

class Table:
    """A Glue table as Athena sees it."""

    def __init__(self, db: str, name: str, glue_table: dict):
        sd = glue_table.get("StorageDescriptor", {})
        self.db, self.name = db, name
        self.columns = [(c["Name"].lower(), parse_hive_type(c["Type"])) for c in sd.get("Columns", [])]
        self.partition_keys = [(c["Name"].lower(), parse_hive_type(c["Type"]))
                               for c in glue_table.get("PartitionKeys", [])]
        self.location = sd.get("Location", "")
        self.serde = sd.get("SerdeInfo", {}).get("SerializationLibrary", "")
        self.serde_params = sd.get("SerdeInfo", {}).get("Parameters", {})
        self.input_format = sd.get("InputFormat", "")
        self.params = glue_table.get("Parameters", {})
        self.types = dict(self.columns + self.partition_keys)

    @property
    def qualified(self) -> str:
        return f"{self.db}.{self.name}"


def _relative_time(text: str, now: dt.datetime) -> dt.datetime | None:
    m = re.fullmatch(r"NOW(?:([+-])(\d+)(YEAR|MONTH|WEEK|DAY|HOUR|MINUTE|SECOND)S?)?", text.strip().upper())
    if not m:
        return None
    return now if not m.group(1) else _add(now, int(m.group(2)) * (1 if m.group(1) == "+" else -1), m.group(3))


def _add(t: dt.datetime, n: int, unit: str) -> dt.datetime:
    unit = unit.upper().rstrip("S")
    if unit in ("YEAR", "MONTH"):
        months = t.month - 1 + n * (12 if unit == "YEAR" else 1)
        year, month = t.year + months // 12, months % 12 + 1
        last = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
                31, 31, 30, 31, 30, 31][month - 1]
        return t.replace(year=year, month=month, day=min(t.day, last))
    seconds = {"WEEK": 604800, "DAY": 86400, "HOUR": 3600, "MINUTE": 60, "SECOND": 1}
    if unit not in seconds:
        raise QueryFailed("HIVE_INVALID_METADATA", f"unknown projection interval unit {unit}")
    return t + dt.timedelta(seconds=n * seconds[unit])


def projected_values(table: Table, col: str, injected: dict[str, list]) -> list:
    """Candidate values of one projected partition column (Athena "Supported types for
    partition projection")."""
    p = lambda key, default=None: table.params.get(f"projection.{col}.{key}", default)  # noqa: E731
    kind = (p("type") or "").lower()
    if kind == "enum":
        return [v.strip() for v in (p("values") or "").split(",") if v.strip()]
    if kind == "injected":
        if not injected.get(col):
            raise QueryFailed("CONSTRAINT_VIOLATION", f"For the injected projected partition column {col}, "
                              "the WHERE clause must contain only static equality conditions, and at least "
                              "one such condition must be present.")
        return injected[col]
    if kind == "integer":
        lo, hi = (int(x) for x in (p("range") or "").split(","))
        step, digits = int(p("interval", "1")), int(p("digits", "0"))
        return [str(v).zfill(digits) for v in range(lo, hi + 1, step)]
    if kind == "date":
        fmt = java_datetime_to_strftime(p("format") or "", python=True)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        bounds = []
        for b in (p("range") or "").split(","):
            t = _relative_time(b, now)
            bounds.append(t if t is not None else dt.datetime.strptime(b.strip(), fmt))
        unit = p("interval.unit") or next(u for ch, u in (("s", "SECONDS"), ("m", "MINUTES"), ("H", "HOURS"),
                                                           ("d", "DAYS"), ("M", "MONTHS"), ("y", "YEARS"))
                                          if ch in (p("format") or "y"))
        values, t = [], bounds[0]
        while t <= bounds[1]:
            values.append(t.strftime(fmt))
            t = _add(t, int(p("interval", "1")), unit)
        return values
    raise QueryFailed("HIVE_INVALID_METADATA", f"Column {col}: unsupported projection type {kind!r}")


class Source:
    """Reads tables: partitions from Glue or projection, objects and rows from S3."""

    def __init__(self, moto_url: str):
        cfg = Config(region_name="us-east-1", retries={"max_attempts": 2}, s3={"addressing_style": "path"})
        kw = dict(endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing", config=cfg)
        self.glue = boto3.client("glue", **kw)
        self.s3 = boto3.client("s3", **kw)

    def table(self, db: str, name: str, sql: str, node: exp.Expression) -> Table:
        glue_errors = self.glue.exceptions.EntityNotFoundException
        try:
            self.glue.get_database(Name=db)
        except glue_errors:
            raise QueryFailed("SCHEMA_NOT_FOUND", f"{_pos(sql, node)}Schema '{db}' does not exist")
        try:
            return Table(db, name, self.glue.get_table(DatabaseName=db, Name=name)["Table"])
        except glue_errors:
            raise QueryFailed("TABLE_NOT_FOUND", f"{_pos(sql, node)}Table 'awsdatacatalog.{db}.{name}' does not exist")
        except ValueError as e:
            raise QueryFailed("HIVE_INVALID_METADATA", str(e))

    def partitions(self, table: Table, injected: dict[str, list]) -> list[tuple[dict, str]]:
        """Every candidate partition as ``({col: value}, location)``."""
        keys = [k for k, _ in table.partition_keys]
        if not keys:
            return [({}, table.location)]
        if table.params.get("projection.enabled", "").lower() == "true":
            combos = [{}]
            for k in keys:
                combos = [dict(c, **{k: v}) for c in combos for v in projected_values(table, k, injected)]
            template = table.params.get("storage.location.template")
            out = []
            for c in combos:
                if template:
                    loc = re.sub(r"\$\{(\w+)\}", lambda m: str(c.get(m.group(1).lower(), m.group(0))), template)
                else:
                    loc = table.location.rstrip("/") + "/" + "/".join(f"{k}={c[k]}" for k in keys)
                out.append((c, loc))
            return out
        out = []
        for page in self.glue.get_paginator("get_partitions").paginate(DatabaseName=table.db, TableName=table.name):
            for part in page["Partitions"]:
                out.append((dict(zip(keys, part["Values"])), part["StorageDescriptor"]["Location"]))
        return out

    def objects(self, locations: list[str]) -> list[list[tuple[str, str, int]]]:
        """The visible objects ``(bucket, key, size)`` under each location (recursive)."""
        parsed = []
        for loc in locations:
            u = urllib.parse.urlparse(loc)
            parsed.append((u.netloc, u.path.lstrip("/").rstrip("/") + "/" if u.path.strip("/") else ""))
        found: list[list] = [[] for _ in locations]
        by_prefix = {}
        for i, p in enumerate(parsed):
            by_prefix.setdefault(p, []).append(i)
        if len(by_prefix) <= 16:
            scans = [(b, p, {p: idx}) for (b, p), idx in by_prefix.items()]
        else:  # many partitions: one listing of their common root instead of one each
            scans = []
            for bucket in {b for b, _ in by_prefix}:
                prefixes = {p: idx for (b, p), idx in by_prefix.items() if b == bucket}
                root = os.path.commonprefix(list(prefixes))
                scans.append((bucket, root[:root.rfind("/") + 1], prefixes))
        for bucket, root, prefixes in scans:
            try:
                pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root)
                for page in pages:
                    for obj in page.get("Contents", []):
                        key = obj["Key"]
                        for cut in [j + 1 for j, ch in enumerate(key) if ch == "/"][::-1] + [0]:
                            if key[:cut] in prefixes:
                                rel = key[cut:]
                                if rel and not rel.endswith("/") and not any(
                                        part.startswith(("_", ".")) for part in rel.split("/")):
                                    for i in prefixes[key[:cut]]:
                                        found[i].append((bucket, key, obj["Size"]))
                                break
            except self.s3.exceptions.NoSuchBucket:
                raise QueryFailed("HIVE_FILESYSTEM_ERROR", f"s3://{bucket}/{root}: NoSuchBucket")
        return found

    def read(self, bucket: str, key: str) -> bytes:
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if key.endswith(".gz") or body[:2] == b"\x1f\x8b":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as e:
                raise QueryFailed("HIVE_CURSOR_ERROR", f"s3://{bucket}/{key}: {e}")
        return body


def rows_of(table: Table, data: bytes, where: str) -> list[list]:
    """The column values (without partition columns) of one object's rows."""
    serde, fmt = table.serde, table.input_format
    text = data.decode("utf-8", errors="replace")
    if fmt == "com.amazon.emr.cloudtrail.CloudTrailInputFormat" or serde == "com.amazon.emr.hive.serde.CloudTrailSerde":
        try:
            records = json.loads(text).get("Records", []) if text.strip() else []
        except (ValueError, AttributeError) as e:
            raise QueryFailed("HIVE_CURSOR_ERROR", f"{where}: not a CloudTrail log file: {e}")
        return [_json_row(table, r) for r in records if isinstance(r, dict)]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    lines = lines[int(table.params.get("skip.header.line.count", "0")):]
    if serde == "org.apache.hadoop.hive.serde2.RegexSerDe":
        rx = table.serde_params.get("input.regex")
        if rx is None:
            raise QueryFailed("HIVE_INVALID_METADATA", "Schema does not have required 'input.regex' property")
        # Trino's bug for bug: 'input.regex.case.insensitive' = 'true' makes the match case-insensitive.
        insensitive = table.serde_params.get("input.regex.case.insensitive", "").lower() == "true"
        flags = re.DOTALL | (re.IGNORECASE if insensitive else 0)
        try:
            pattern = re.compile(java_regex_to_python(rx), flags)
        except re.error as e:
            raise QueryFailed("HIVE_INVALID_METADATA", f"input.regex: {e}")
        out = []
        for ln in lines:
            m = pattern.fullmatch(ln)
            if not m:
                out.append([None] * len(table.columns))
                continue
            out.append([from_text(t, m.group(i + 1)) if i < pattern.groups and m.group(i + 1) is not None else None
                        for i, (_, t) in enumerate(table.columns)])
        return out
    if serde in ("org.openx.data.jsonserde.JsonSerDe", "org.apache.hive.hcatalog.data.JsonSerDe"):
        lenient = table.serde_params.get("ignore.malformed.json", "").lower() == "true"
        out = []
        for n, ln in enumerate(lines, 1):
            try:
                obj = json.loads(ln)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
            except ValueError as e:
                if not lenient:
                    raise QueryFailed("HIVE_BAD_DATA", f"Error parsing row {n} of {where}: {e}")
                out.append([None] * len(table.columns))
                continue
            out.append(_json_row(table, obj))
        return out
    raise QueryFailed("HIVE_UNSUPPORTED_FORMAT", f"athena stand-in cannot read SerDe {serde!r} / input format {fmt!r}")


def _json_row(table: Table, obj: dict) -> list:
    low = {str(k).lower(): v for k, v in obj.items()}
    return [from_json(t, low.get(name)) for name, t in table.columns]


# ---------------------------------------------------------------------------------------------
# SQL: parameters, names, pruning, translation
# ---------------------------------------------------------------------------------------------

MACROS = [
    # The first argument of a failing CAST shows up in DuckDB's message; ``_fail_message`` maps
    # it back. ``error()`` cannot be used: DuckDB refuses volatile functions inside TRY.
    "CREATE MACRO standin_raise(msg) AS CAST('STANDIN_ERROR[' || msg || ']' AS INTEGER)",
    r"""CREATE MACRO trino_from_iso8601_timestamp(s) AS date_trunc('millisecond', CAST(CASE
          WHEN s IS NULL THEN NULL
          WHEN regexp_full_match(s, '\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}([.,]\d+)?)?)?)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?')
            THEN regexp_replace(replace(s, ',', '.'), 'T(\d{2})(Z|[+-].*)?$', 'T\1:00\2')
          ELSE 'STANDIN_ERROR[INVALID_FUNCTION_ARGUMENT: Invalid format: "' || s || '"]' END AS TIMESTAMPTZ))""",
    """CREATE MACRO trino_split_part(s, d, i) AS CASE
          WHEN i < 1 THEN CAST(standin_raise('INVALID_FUNCTION_ARGUMENT: Index must be greater than zero') AS VARCHAR)
          WHEN i > len(string_split(s, d)) THEN NULL ELSE split_part(s, d, i) END""",
    """CREATE MACRO trino_regexp_extract(s, p, g) AS
          CASE WHEN regexp_matches(s, p) THEN regexp_extract(s, p, g) END""",
    # Trino parses with java.net.URI: an invalid URI (a space, a quote, <>\^`{|}, a % without two
    # hex digits) gives NULL, a missing part '' (nullToEmpty), path and query are percent-decoded.
    r"""CREATE MACRO standin_uri_ok(u) AS regexp_full_match(u, '([^\x00-\x20"<>\\^`{|}%\x7f]|%[0-9A-Fa-f]{2})*')""",
    r"""CREATE MACRO trino_url_extract_path(u) AS CASE WHEN NOT standin_uri_ok(u) THEN NULL
          WHEN regexp_full_match(u, '[A-Za-z][A-Za-z0-9+.-]*:[^/].*') THEN ''
          ELSE url_decode(regexp_extract(u, '^(?:[A-Za-z][A-Za-z0-9+.-]*:)?(?://[^/?#]*)?([^?#]*)', 1)) END""",
    r"""CREATE MACRO trino_url_extract_host(u) AS CASE WHEN standin_uri_ok(u) THEN
          regexp_extract(u, '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)', 1) END""",
    r"""CREATE MACRO trino_url_extract_query(u) AS CASE WHEN standin_uri_ok(u) THEN
          url_decode(regexp_extract(u, '\?([^#]*)', 1)) END""",
    """CREATE MACRO trino_json_extract_scalar(j, p) AS CASE WHEN json_valid(j)
          AND json_type(j, p) NOT IN ('OBJECT', 'ARRAY') THEN json_extract_string(j, p) END""",
    "CREATE MACRO trino_json_extract(j, p) AS CASE WHEN json_valid(j) THEN json_extract(j, p) END",
]

_URL_FUNCS = {"url_extract_path", "url_extract_host", "url_extract_query"}


def _literal(node, what: str) -> str:
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise QueryFailed("NOT_SUPPORTED", f"athena stand-in: {what} must be a string literal")
    return node.this


def _java_replacement(rep: str) -> str:
    """Java ``Matcher.replaceAll`` replacement (``$1``, ``\\$``) -> RE2 rewrite (``\\1``)."""
    out, i = [], 0
    while i < len(rep):
        c = rep[i]
        if c == "\\" and i + 1 < len(rep):
            out.append("\\\\" if rep[i + 1] == "\\" else rep[i + 1])
            i += 2
        elif c == "$" and i + 1 < len(rep) and rep[i + 1].isdigit():
            out.append("\\" + rep[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _fn(name: str, *args) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=[a for a in args if a is not None])


def _rewrite(node: exp.Expression) -> exp.Expression:
    """Trino function -> DuckDB expression with Trino's semantics (see the module doc)."""
    if isinstance(node, exp.ParseDatetime):
        fmt = java_datetime_to_strftime(_literal(node.args.get("format"), "the parse_datetime pattern"))
        parsed = _fn("strptime", node.this, exp.Literal.string(fmt))
        return exp.cast(_fn("date_trunc", exp.Literal.string("millisecond"), parsed), "TIMESTAMPTZ")
    if isinstance(node, exp.FromISO8601Timestamp):
        return _fn("trino_from_iso8601_timestamp", node.this)
    if isinstance(node, exp.RegexpReplace) and isinstance(node.args.get("replacement"), exp.Literal):
        node.set("replacement", exp.Literal.string(_java_replacement(node.args["replacement"].this)))
        return node
    if isinstance(node, exp.RegexpExtract):
        return _fn("trino_regexp_extract", node.this, node.expression, node.args.get("group") or exp.Literal.number(0))
    if isinstance(node, exp.SplitPart):
        return _fn("trino_split_part", node.this, node.args.get("delimiter"), node.args.get("part_index"))
    if isinstance(node, exp.ApproxQuantile):
        return _fn("quantile_disc", node.this, node.args.get("quantile"))
    if isinstance(node, (exp.JSONExtractScalar, exp.JSONExtract)) and isinstance(node.expression, exp.JSONPath):
        name = "trino_json_extract_scalar" if isinstance(node, exp.JSONExtractScalar) else "trino_json_extract"
        return _fn(name, node.this, exp.Literal.string(node.expression.sql(dialect="trino").strip("'")))
    if isinstance(node, exp.Anonymous) and str(node.this).lower() in _URL_FUNCS:
        return _fn("trino_" + str(node.this).lower(), *node.expressions)
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "format_datetime":
        fmt = java_datetime_to_strftime(_literal(node.expressions[1], "the format_datetime pattern"))
        return _fn("strftime", node.expressions[0], exp.Literal.string(fmt))
    return node


def to_duckdb(node: exp.Expression) -> str:
    return node.copy().transform(_rewrite).sql(dialect="duckdb", identify=True)


def placeholders(sql: str) -> list:
    """The ``?`` tokens of the text (sqlglot's tokenizer skips literals and comments)."""
    try:
        return [t for t in Trino().tokenize(sql) if t.token_type.name == "PLACEHOLDER"]
    except sqlglot.errors.TokenError as e:
        raise QueryFailed("SYNTAX_ERROR", str(e))


def parse(sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except sqlglot.errors.ParseError as e:
        err = e.errors[0] if e.errors else {}
        raise QueryFailed("SYNTAX_ERROR", f"line {err.get('line', 1)}:{err.get('col', 1)}: "
                          f"{err.get('description', str(e))}")
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise QueryFailed("NOT_SUPPORTED", "athena stand-in runs exactly one SELECT statement")
    return statements[0]


# Reserved in SELECT statements: Athena's list ("Reserved keywords", reserved-words.html) and
# Trino's ("Keywords and identifiers"); an unquoted one used as a name is a syntax error.
RESERVED = set("""ALTER AND AS BETWEEN BY CASE CAST CONSTRAINT CREATE CROSS CUBE CURRENT_CATALOG CURRENT_DATE
    CURRENT_PATH CURRENT_ROLE CURRENT_SCHEMA CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DEALLOCATE DELETE DESCRIBE
    DISTINCT DROP ELSE END ESCAPE EXCEPT EXECUTE EXISTS EXTRACT FALSE FOR FROM FULL GROUP GROUPING HAVING IN
    INNER INSERT INTERSECT INTO IS JOIN JSON_ARRAY JSON_EXISTS JSON_OBJECT JSON_QUERY JSON_TABLE JSON_VALUE LEFT
    LIKE LISTAGG LOCALTIME LOCALTIMESTAMP NATURAL NORMALIZE NOT NULL ON OR ORDER OUTER PREPARE RECURSIVE RIGHT
    ROLLUP SELECT SKIP TABLE THEN TRIM TRUE UESCAPE UNION UNNEST USING VALUES WHEN WHERE WITH""".split())


def check_reserved(ast: exp.Expression, sql: str) -> None:
    for ident in ast.find_all(exp.Identifier):
        if not ident.quoted and ident.name.upper() in RESERVED:
            raise QueryFailed("SYNTAX_ERROR", f"{_pos(sql, ident)}mismatched input '{ident.name}'. Expecting: "
                              f"<identifier> ({ident.name.upper()} is reserved in Athena: write \"{ident.name}\")")


def check_parameters(sql: str, ast: exp.Expression, params: list[str]) -> str:
    """Enforces Athena's rules for ``?`` and returns the text with the values substituted."""
    tokens = placeholders(sql)
    nodes = [n for n in ast.walk(bfs=False) if isinstance(n, exp.Placeholder)]
    for tok, node in zip(tokens, nodes):
        if node.find_ancestor(exp.Where) is None:
            line_start = sql.rfind("\n", 0, tok.start) + 1
            raise QueryFailed("INVALID_PARAMETER_USAGE",
                              f"line {sql.count(chr(10), 0, tok.start) + 1}:{tok.start - line_start + 1}: "
                              "Athena accepts ? parameters only in the WHERE clause "
                              "(SELECT ? FROM table is not supported)")
    if len(tokens) != len(params):
        raise QueryFailed("INVALID_PARAMETER_USAGE",
                          f"Incorrect number of parameters: expected {len(tokens)} but found {len(params)}")
    out, last = [], 0
    for tok, value in zip(tokens, params):
        out += [sql[last:tok.start], value]
        last = tok.end + 1
    return "".join(out + [sql[last:]])


def conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    while isinstance(node, exp.Paren):
        node = node.this
    if node is None:
        return []
    if isinstance(node, exp.And):
        return conjuncts(node.this) + conjuncts(node.expression)
    return [node]


class Scope:
    """The base tables of one SELECT, for name resolution."""

    def __init__(self, select: exp.Select, refs: dict[int, Table]):
        self.select, self.sources = select, {}
        self.complete = True  # False when a source is a subquery, CTE or UNNEST
        for src in [select.args.get("from_") or select.args.get("from")] + list(select.args.get("joins") or []):
            node = src.this if src is not None else None
            if node is None:
                continue
            if isinstance(node, exp.Table) and id(node) in refs:
                t = refs[id(node)]
                for name in {node.alias_or_name.lower(), t.name}:
                    self.sources.setdefault(name, t)
            else:
                self.complete = False

    def resolve(self, col: exp.Column, sql: str, aliases: set[str] | None = None):
        """``(table, column, hive type)`` of a column reference, or QueryFailed."""
        parts = [p.name.lower() for p in col.parts]
        node, fields = col, []
        while isinstance(node.parent, exp.Dot) and node.parent.this is node:
            fields.append(node.parent.expression.name.lower())
            node = node.parent
        tables = list(dict.fromkeys(self.sources.values()))
        if len(parts) > 1 and parts[0] in self.sources and parts[1] in self.sources[parts[0]].types:
            table, rest = self.sources[parts[0]], parts[1:]
        elif len(parts) > 2 and any(t.db == parts[0] and t.name == parts[1] for t in tables):
            table = next(t for t in tables if t.db == parts[0] and t.name == parts[1])
            rest = parts[2:]
        else:
            owners = [t for t in tables if parts[0] in t.types]
            if len(owners) > 1:
                raise QueryFailed("AMBIGUOUS_NAME", f"{_pos(sql, col)}Column '{parts[0]}' is ambiguous")
            if not owners:
                if aliases is not None and len(parts) == 1 and parts[0] in aliases:
                    return None
                raise QueryFailed("COLUMN_NOT_FOUND", f"{_pos(sql, col)}Column '{'.'.join(parts)}' cannot be resolved")
            table, rest = owners[0], parts
        t = table.types.get(rest[0])
        if t is None:
            raise QueryFailed("COLUMN_NOT_FOUND", f"{_pos(sql, col)}Column '{'.'.join(parts)}' cannot be resolved")
        for f in rest[1:] + fields:
            sub = dict(t[1]) if t[0] == "struct" else {}
            if f not in sub:
                raise QueryFailed("COLUMN_NOT_FOUND",
                                  f"{_pos(sql, col)}Column '{'.'.join(parts + fields)}' cannot be resolved")
            t = sub[f]
        return table, rest[0], t


def _own(node: exp.Expression, select: exp.Select) -> bool:
    return node.find_ancestor(exp.Select) is select


def _lambda_bound(col: exp.Column) -> bool:
    lam = col.find_ancestor(exp.Lambda)
    while lam is not None:
        if col.parts[0].name.lower() in {e.name.lower() for e in lam.expressions}:
            return True
        lam = lam.find_ancestor(exp.Lambda)
    return False


def _literal_type(lit: exp.Literal) -> str:
    if lit.is_string:
        return f"varchar({len(lit.this)})"
    return "integer" if re.fullmatch(r"\d+", lit.this) else "decimal" if "." in lit.this else "double"


_OPS = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
_NUMERIC = {"int", "integer", "bigint", "smallint", "tinyint", "double", "float", "decimal"}


def validate(scope: Scope, sql: str) -> None:
    """Trino's name and comparison checks that DuckDB would not make (or would word
    differently): unknown columns and struct fields, select aliases outside ORDER BY, string
    vs number comparisons."""
    select = scope.select
    aliases = {e.alias.lower() for e in select.expressions if isinstance(e, exp.Alias)}
    order = select.args.get("order")
    for col in select.find_all(exp.Column):
        if _own(col, select) and not _lambda_bound(col):
            in_order = order is not None and col.find_ancestor(exp.Order) is order
            scope.resolve(col, sql, aliases if in_order else None)

    def kind(node):
        if isinstance(node, exp.Column) and _own(node, select) and not _lambda_bound(node):
            r = scope.resolve(node, sql, aliases)
            if r and r[2][0] in _NUMERIC | {"string", "varchar", "char"}:
                return ("number" if r[2][0] in _NUMERIC else "string"), trino_type_name(r[2])
        if isinstance(node, exp.Literal):
            return ("string" if node.is_string else "number"), _literal_type(node)
        return None

    for op_type, op in _OPS.items():
        for cmp in select.find_all(op_type):
            if not _own(cmp, select):
                continue
            left, right = kind(cmp.this), kind(cmp.expression)
            if left and right and left[0] != right[0]:
                raise QueryFailed("TYPE_MISMATCH", f"{_pos(sql, cmp)}Cannot apply operator: {left[1]} {op} {right[1]}")
    for node in select.find_all(exp.In):
        value = kind(node.this) if _own(node, select) else None
        if value and any((k := kind(e)) and k[0] != value[0] for e in node.expressions):
            raise QueryFailed("TYPE_MISMATCH",
                              f"{_pos(sql, node)}IN value and list items must be the same type: {value[1]}")


_INTEGRAL = {"int", "integer", "bigint", "smallint", "tinyint"}


def integer_division(scope: Scope, sql: str) -> None:
    """Trino divides two integers as integers (truncating); DuckDB's ``/`` yields a double."""
    def integral(node) -> bool:
        if isinstance(node, (exp.Paren, exp.Neg)):
            return integral(node.this)
        if isinstance(node, exp.Literal):
            return not node.is_string and re.fullmatch(r"\d+", node.this) is not None
        if isinstance(node, (exp.Count, exp.CountIf)):
            return True
        if isinstance(node, exp.Cast):
            return node.to.this.name.lower() in ("int", "bigint", "smallint", "tinyint")
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Mod)):
            return integral(node.this) and integral(node.expression)
        if isinstance(node, exp.Column) and scope.complete and not _lambda_bound(node):
            try:
                r = scope.resolve(node, sql)
            except QueryFailed:
                return False
            return bool(r) and r[2][0] in _INTEGRAL
        return False

    for div in list(scope.select.find_all(exp.Div)):
        if _own(div, scope.select) and integral(div.this) and integral(div.expression):
            div.replace(exp.IntDiv(this=div.this, expression=div.expression))


def pruning_conjuncts(scope: Scope, table: Table, node: exp.Table) -> list[exp.Expression]:
    """The WHERE conjuncts of the table's SELECT that reference only its partition columns,
    rewritten to unqualified partition column names."""
    where = scope.select.args.get("where")
    keys = {k for k, _ in table.partition_keys}
    names = {node.alias_or_name.lower(), table.name}
    others = [t for t in scope.sources.values() if t is not table]

    def mine(c: exp.Column) -> bool:
        if c.name.lower() not in keys or len(c.parts) > 2:
            return False
        if len(c.parts) == 2:
            return c.parts[0].name.lower() in names
        return not any(c.name.lower() in t.types for t in others)

    out = []
    for conj in conjuncts(where.this if where else None):
        cols = list(conj.find_all(exp.Column))
        if cols and not conj.find(exp.Select) and all(mine(c) for c in cols):
            conj = conj.copy()
            for c in list(conj.find_all(exp.Column)):
                c.replace(exp.column(c.name.lower(), quoted=True))
            out.append(conj)
    return out


def injected_values(conjs: list[exp.Expression]) -> dict[str, list]:
    out: dict[str, list] = {}
    for conj in conjs:
        if isinstance(conj, exp.EQ) and isinstance(conj.this, exp.Column) and isinstance(conj.expression, exp.Literal):
            out.setdefault(conj.this.name, []).append(conj.expression.this)
        elif isinstance(conj, exp.In) and isinstance(conj.this, exp.Column) and \
                all(isinstance(e, exp.Literal) for e in conj.expressions):
            out.setdefault(conj.this.name, []).extend(e.this for e in conj.expressions)
    return out


def output_names(ast: exp.Expression) -> list[str | None]:
    """Trino's result column names: the alias, the column or field name, else ``_colN``;
    None for ``*`` (taken from DuckDB)."""
    names = []
    for i, e in enumerate(ast.selects):
        if isinstance(e, exp.Alias):
            names.append(e.alias.lower())
        elif isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
            names.append(None)
        elif isinstance(e, (exp.Column, exp.Dot)):
            names.append(e.name.lower())
        else:
            names.append(f"_col{i}")
    return names


# ---------------------------------------------------------------------------------------------
# Execution and output
# ---------------------------------------------------------------------------------------------

def _sql_value(v) -> str:
    return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"


def _fail_message(e: duckdb.Error) -> QueryFailed:
    msg = str(e).split("\nLINE ")[0].strip()
    m = re.search(r"STANDIN_ERROR\[(.*?)\]", msg, re.DOTALL)
    if m:
        code, _, text = m.group(1).partition(": ")
        return QueryFailed(code, text)
    if isinstance(e, duckdb.BinderException) and "not found" in msg and "column" in msg.lower():
        name = re.search(r'column "?([^"\s]+)"?', msg, re.IGNORECASE)
        return QueryFailed("COLUMN_NOT_FOUND", f"Column '{name.group(1) if name else '?'}' cannot be resolved")
    if isinstance(e, duckdb.CatalogException) and "Function with name" in msg:
        name = re.search(r"name (\S+) does not exist", msg)
        return QueryFailed("FUNCTION_NOT_FOUND", f"Function '{name.group(1) if name else '?'}' not registered "
                           "(athena stand-in: DuckDB has no such function; if Trino has it, add a shim)")
    if isinstance(e, duckdb.InvalidInputException) and "Could not parse string" in msg:
        value = re.search(r'string "(.*?)" according', msg)
        return QueryFailed("INVALID_FUNCTION_ARGUMENT", f'Invalid format: "{value.group(1) if value else ""}"')
    if isinstance(e, duckdb.ConversionException):
        return QueryFailed("INVALID_CAST_ARGUMENT", msg.replace("Conversion Error: ", ""))
    if isinstance(e, (duckdb.BinderException, duckdb.CatalogException)):
        code = ("FUNCTION_NOT_FOUND" if "No function matches" in msg else
                "EXPRESSION_NOT_AGGREGATE" if "GROUP BY" in msg else
                "TYPE_MISMATCH" if re.search(r"[Cc]annot (compare|mix|cast)|type", msg) else "GENERIC_USER_ERROR")
        return QueryFailed(code, f"{msg} (athena stand-in: DuckDB's words)")
    return QueryFailed("GENERIC_INTERNAL_ERROR", f"athena stand-in: {msg}", user=False)


def java_double(x: float) -> str:
    """Java's ``Double.toString``, which Trino uses to print doubles."""
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    if 1e-3 <= abs(x) < 1e7:
        s = repr(x)
        return s if "." in s else s + ".0"
    sign, digits, e = decimal.Decimal(repr(x)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    return f"{'-' if sign else ''}{ds[0]}.{ds[1:] or '0'}E{len(digits) - 1 + e}"


def trino_string(v, top: bool = True) -> str | None:
    if v is None:
        return None if top else "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return java_double(v)
    if isinstance(v, dt.datetime):
        s = v.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if v.tzinfo else \
            v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return s + " UTC" if v.tzinfo else s
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(trino_string(x, False) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={trino_string(x, False)}" for k, x in v.items()) + "}"
    if isinstance(v, bytes):
        return " ".join(v.hex()[i:i + 2] for i in range(0, len(v.hex()), 2))
    return str(v)


_COLUMN_TYPES = [("[]", "array", 0), ("STRUCT", "row", 0), ("MAP", "map", 0), ("VARCHAR", "varchar", 2147483647),
                 ("TIMESTAMP WITH TIME ZONE", "timestamp with time zone", 3), ("TIMESTAMP", "timestamp", 3),
                 ("HUGEINT", "bigint", 19), ("UBIGINT", "bigint", 19), ("BIGINT", "bigint", 19),
                 ("UINTEGER", "bigint", 19), ("INTEGER", "integer", 10), ("SMALLINT", "smallint", 5),
                 ("TINYINT", "tinyint", 3), ("DOUBLE", "double", 17), ("FLOAT", "real", 7),
                 ("BOOLEAN", "boolean", 0), ("DATE", "date", 0), ("DECIMAL", "decimal", 38), ("JSON", "json", 0),
                 ("BLOB", "varbinary", 0), ("INTERVAL", "interval day to second", 0)]


def column_info(name: str, duck: str) -> dict:
    up = duck.upper()
    trino, precision = next(((t, p) for key, t, p in _COLUMN_TYPES
                             if (up.endswith(key) if key == "[]" else up.startswith(key))), (duck.lower(), 0))
    scale = int(m.group(1)) if (m := re.match(r"DECIMAL\(\d+,\s*(\d+)\)", up)) else 0
    return {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name, "Type": trino,
            "Precision": precision, "Scale": scale, "Nullable": "UNKNOWN", "CaseSensitive": trino == "varchar"}


class Engine:
    """Runs one Athena query end to end; fills the record's report fields."""

    def __init__(self, source: Source):
        self.source = source

    def run(self, rec: dict) -> tuple[list[dict], list[list]]:
        template, params = rec["sql_template"], rec["parameters"]
        sql = check_parameters(template, parse(template), params)
        rec["query"] = sql
        ast = parse(sql)
        check_reserved(ast, sql)
        cte_names = {c.alias_or_name.lower() for c in ast.find_all(exp.CTE)}
        refs: dict[int, Table] = {}
        loaded: dict[tuple, Table] = {}
        for node in ast.find_all(exp.Table):
            if not node.name or (not node.args.get("db") and node.name.lower() in cte_names):
                continue
            catalog = (node.catalog or "awsdatacatalog").lower()
            if catalog != rec["catalog"].lower():
                raise QueryFailed("CATALOG_NOT_FOUND", f"{_pos(sql, node)}Catalog '{catalog}' does not exist")
            key = ((node.db or rec["database"]).lower(), node.name.lower())
            if key not in loaded:
                loaded[key] = self.source.table(*key, sql, node)
            refs[id(node)] = loaded[key]
        scopes = [Scope(s, refs) for s in ast.find_all(exp.Select)]
        for scope in scopes:
            if scope.complete:
                validate(scope, sql)
            integer_division(scope, sql)
        # One list of pruning conjuncts per reference: a table read twice keeps the union.
        prune: dict[tuple, list] = {key: [] for key in loaded}
        for scope in scopes:
            for node in scope.select.find_all(exp.Table):
                if id(node) in refs and _own(node, scope.select):
                    t = refs[id(node)]
                    prune[(t.db, t.name)].append(pruning_conjuncts(scope, t, node))
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            for macro in MACROS:
                con.execute(macro)
            names, types, rows = self._execute(con, rec, ast, loaded, refs, prune)
        except duckdb.Error as e:
            raise _fail_message(e)
        finally:
            con.close()
        trino_names = output_names(ast)
        if len(trino_names) == len(names):
            names = [t or n for t, n in zip(trino_names, names)]
        rec["data_scanned_bytes"] = sum(t["bytes_scanned"] for t in rec["tables"])
        rec["row_count"] = len(rows)
        return [column_info(n, t) for n, t in zip(names, types)], rows

    def _execute(self, con, rec: dict, ast: exp.Expression, loaded: dict, refs: dict, prune: dict):
        with tempfile.TemporaryDirectory() as tmp:
            for key, table in loaded.items():
                self._load(con, rec, table, prune[key] or [[]], os.path.join(tmp, f"{len(rec['tables'])}.json"))
            for node in list(ast.find_all(exp.Table)):
                if id(node) in refs:
                    t = refs[id(node)]
                    node.set("catalog", None)
                    node.set("db", exp.to_identifier(t.db, quoted=True))
                    node.set("this", exp.to_identifier(t.name, quoted=True))
            try:
                duck_sql = to_duckdb(ast)
            except sqlglot.errors.SqlglotError as e:
                raise QueryFailed("NOT_SUPPORTED", f"athena stand-in cannot translate: {e}")
            rec["duckdb_sql"] = duck_sql
            rel = con.sql(duck_sql)
            return rel.columns, [str(t) for t in rel.types], rel.fetchall()

    def _load(self, con, rec: dict, table: Table, conj_sets: list[list], path: str) -> None:
        """Creates the table in DuckDB with the rows of the partitions the WHERE keeps."""
        keys = [k for k, _ in table.partition_keys]
        candidates = self.source.partitions(table, injected_values([c for cs in conj_sets for c in cs]) if keys else {})
        keep: set[int] = set()
        for conjs in conj_sets if keys and candidates else []:
            if not conjs:
                keep = set(range(len(candidates)))
                break
            values = ", ".join("(" + ", ".join([str(i)] + [_sql_value(c[k]) for k in keys]) + ")"
                               for i, (c, _) in enumerate(candidates))
            casts = ", ".join(f'CAST("{k}" AS {duck_type(t)}) AS "{k}"' for k, t in table.partition_keys)
            names = ", ".join(f'"{k}"' for k in keys)
            cond = " AND ".join(f"({to_duckdb(c)})" for c in conjs)
            keep |= {r[0] for r in con.execute(
                f"SELECT __i FROM (SELECT __i, {casts} FROM (VALUES {values}) AS __v(__i, {names})) AS __p "
                f"WHERE {cond}").fetchall()}
        touched = [p for i, p in enumerate(candidates) if i in keep] if keys else candidates
        found = self.source.objects([loc for _, loc in touched])
        rows, size, objects = [], 0, []
        for (values, _), objs in zip(touched, found):
            for bucket, key, n in objs:
                size += n
                objects.append(f"s3://{bucket}/{key}")
                part = [values.get(k) for k in keys]
                rows += [r + part for r in rows_of(table, self.source.read(bucket, key), f"s3://{bucket}/{key}")]
        rec["tables"].append({"table": table.qualified, "partitions_touched": [c for c, _ in touched] if keys else [],
                              "partitions_total": len(candidates) if keys else 0, "bytes_scanned": size,
                              "objects": objects})
        all_cols = table.columns + table.partition_keys
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{table.db}"')
        con.execute(f'CREATE TABLE "{table.db}"."{table.name}" ('
                    + ", ".join(f'"{n}" {duck_type(t)}' for n, t in all_cols) + ")")
        if rows:
            with open(path, "w", encoding="utf-8") as fh:
                for r in rows:
                    fh.write(json.dumps(dict(zip([n for n, _ in all_cols], r)), ensure_ascii=False, default=str) + "\n")
            spec = "{" + ", ".join(f"'{n}': '{duck_type(t)}'" for n, t in all_cols) + "}"
            con.execute(f"""INSERT INTO "{table.db}"."{table.name}" SELECT * FROM read_json('{path}',
                        format = 'newline_delimited', columns = {spec}, maximum_object_size = 134217728)""")


# ---------------------------------------------------------------------------------------------
# Athena API
# ---------------------------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, message: str, kind: str = "InvalidRequestException"):
        super().__init__(message)
        self.kind = kind


class Athena:
    """Query executions, run one at a time by a worker thread in submission order."""

    def __init__(self, engine: Engine, running_polls: int):
        self.engine, self.running_polls = engine, running_polls
        self.lock = threading.Lock()
        self.queries: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}
        self.work: queue.Queue = queue.Queue()
        threading.Thread(target=self._worker, daemon=True).start()

    def _worker(self) -> None:
        while True:
            rec = self.work.get()
            with self.lock:
                if rec.get("cancelled") or rec["id"] not in self.queries:
                    continue
                rec["started"] = True
            try:
                result, error = self.engine.run(rec), None
            except QueryFailed as e:
                result, error = None, e
            except Exception as e:  # a stand-in bug must fail the query, not hang the caller
                result, error = None, QueryFailed("GENERIC_INTERNAL_ERROR", f"athena stand-in: {e!r}", user=False)
            with self.lock:
                rec["result"], rec["failure"] = result, error
                rec["state"] = "FAILED" if error else "SUCCEEDED"
                rec["error"] = error.reason if error else None
                rec["finished"] = time.time()

    @staticmethod
    def true_state(rec: dict) -> str:
        if rec.get("cancelled"):
            return "CANCELLED"
        if "finished" not in rec:
            return "RUNNING" if rec.get("started") else "QUEUED"
        return rec["state"]

    def visible_state(self, rec: dict, poll: bool = False) -> str:
        """What callers see: the first ``running_polls`` polls of a finished query say RUNNING."""
        if poll:
            rec["polls"] += 1
        state = self.true_state(rec)
        return "RUNNING" if state in ("SUCCEEDED", "FAILED") and rec["polls"] <= self.running_polls else state

    def _get(self, body: dict) -> dict:
        rec = self.queries.get(body.get("QueryExecutionId", ""))
        if rec is None:
            raise ApiError(f"QueryExecution {body.get('QueryExecutionId')} was not found")
        return rec

    def call(self, op: str, body: dict) -> dict:
        with self.lock:
            return getattr(self, "op_" + op, self.op_unknown)(body)

    def op_unknown(self, body: dict) -> dict:
        raise ApiError("athena stand-in does not implement this operation", "UnknownOperationException")

    def op_StartQueryExecution(self, body: dict) -> dict:
        if not isinstance(body.get("QueryString"), str) or not body["QueryString"].strip():
            raise ApiError("QueryString is required")
        # The API model: at least one parameter when the member is sent, each 1..1024 chars
        # (the Rust SDK does not check these constraints; Athena does).
        params = body.get("ExecutionParameters")
        if params is not None and (not isinstance(params, list) or not params):
            raise ApiError(f"1 validation error detected: Value '{params}' at 'executionParameters' failed to "
                           "satisfy constraint: Member must have length greater than or equal to 1")
        params = params or []
        if not all(isinstance(p, str) and 1 <= len(p) <= 1024 for p in params):
            raise ApiError("1 validation error detected: Value at 'executionParameters' failed to satisfy "
                           "constraint: Member must satisfy constraint: [Member must have length less than or "
                           "equal to 1024, Member must have length greater than or equal to 1]")
        token = body.get("ClientRequestToken")
        if token and token in self.tokens:
            return {"QueryExecutionId": self.tokens[token]}
        ctx = body.get("QueryExecutionContext") or {}
        qid = str(uuid.uuid4())
        out = (body.get("ResultConfiguration") or {}).get("OutputLocation")
        rec = {"id": qid, "sql_template": body["QueryString"], "query": body["QueryString"], "parameters": params,
               "database": ctx.get("Database") or "default", "catalog": ctx.get("Catalog") or "AwsDataCatalog",
               "workgroup": body.get("WorkGroup") or "primary",
               "output_location": (out.rstrip("/") + f"/{qid}.csv") if out else None,
               "state": "QUEUED", "error": None, "tables": [], "data_scanned_bytes": 0, "row_count": None,
               "duckdb_sql": None, "submitted": time.time(), "polls": 0}
        self.queries[qid] = rec
        if token:
            self.tokens[token] = qid
        self.work.put(rec)
        return {"QueryExecutionId": qid}

    def op_GetQueryExecution(self, body: dict) -> dict:
        rec = self._get(body)
        state = self.visible_state(rec, poll=True)
        done = state in ("SUCCEEDED", "FAILED", "CANCELLED")
        status = {"State": state, "SubmissionDateTime": rec["submitted"]}
        if done:
            status["CompletionDateTime"] = rec.get("finished") or rec.get("cancelled_at") or time.time()
        if state == "FAILED":
            f = rec["failure"]
            status["StateChangeReason"] = f.reason
            status["AthenaError"] = {"ErrorCategory": 2 if f.user else 1, "Retryable": False, "ErrorMessage": f.reason}
        if state == "CANCELLED":
            status["StateChangeReason"] = "Query was cancelled by user"
        ctx = {"Database": rec["database"], "Catalog": rec["catalog"]}
        millis = int(((status.get("CompletionDateTime") or time.time()) - rec["submitted"]) * 1000)
        qe = {"QueryExecutionId": rec["id"], "Query": rec["query"], "StatementType": "DML",
              "QueryExecutionContext": ctx, "WorkGroup": rec["workgroup"], "Status": status,
              "ResultConfiguration": {"OutputLocation": rec["output_location"]} if rec["output_location"] else {},
              "Statistics": {"DataScannedInBytes": rec["data_scanned_bytes"] if state == "SUCCEEDED" else 0,
                             "EngineExecutionTimeInMillis": millis, "TotalExecutionTimeInMillis": millis,
                             "QueryQueueTimeInMillis": 0},
              "EngineVersion": {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"}}
        if rec["parameters"]:
            qe["ExecutionParameters"] = rec["parameters"]
        return {"QueryExecution": qe}

    def op_GetQueryResults(self, body: dict) -> dict:
        rec = self._get(body)
        state = self.visible_state(rec)
        if state in ("QUEUED", "RUNNING"):
            raise ApiError(f"Query has not yet finished. Current state: {state}")
        if state != "SUCCEEDED":
            raise ApiError(f"Query did not finish successfully. Final query state: {state}")
        limit = body.get("MaxResults", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ApiError(f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy "
                           "constraint: Member must have value less than or equal to 1000")
        offset = 0
        if body.get("NextToken"):
            try:
                qid, offset = base64.b64decode(body["NextToken"]).decode().rsplit(":", 1)
                offset = int(offset)
                assert qid == rec["id"]
            except Exception:
                raise ApiError("The NextToken is invalid")
        columns, rows = rec["result"]
        datum = lambda v: {} if v is None else {"VarCharValue": v}  # noqa: E731
        out = []
        if offset == 0:
            out.append({"Data": [datum(c["Name"]) for c in columns]})
        take = rows[offset:offset + limit - len(out)]
        out += [{"Data": [datum(trino_string(v)) for v in r]} for r in take]
        resp = {"ResultSet": {"ResultSetMetadata": {"ColumnInfo": columns}, "Rows": out}, "UpdateCount": 0}
        if offset + len(take) < len(rows):
            resp["NextToken"] = base64.b64encode(f"{rec['id']}:{offset + len(take)}".encode()).decode()
        return resp

    def op_StopQueryExecution(self, body: dict) -> dict:
        rec = self._get(body)
        if self.visible_state(rec) in ("QUEUED", "RUNNING"):
            rec["cancelled"], rec["cancelled_at"] = True, time.time()
        return {}

    def op_ListQueryExecutions(self, body: dict) -> dict:
        return {"QueryExecutionIds": list(self.queries)[::-1]}

    def report(self) -> list[dict]:
        with self.lock:
            keys = ["id", "query", "sql_template", "parameters", "database", "workgroup", "error", "duckdb_sql",
                    "row_count", "data_scanned_bytes", "tables"]
            return [dict({k: r[k] for k in keys}, state=self.true_state(r)) for r in self.queries.values()]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "athena-standin"
    athena: Athena
    moto: urllib.parse.ParseResult

    def log_message(self, fmt, *args):  # quiet: tests read stdout for the ready line
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, ctype: str = "application/x-amz-json-1.1") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        body = self._body()
        target = self.headers.get("X-Amz-Target", "")
        path = urllib.parse.urlparse(self.path).path
        if target.startswith("AmazonAthena."):
            try:
                req = json.loads(body or b"{}")
                out, status = self.athena.call(target.split(".", 1)[1], req), 200
            except ApiError as e:
                out, status = {"__type": e.kind, "Message": str(e)}, 400
            except ValueError as e:
                out, status = {"__type": "InvalidRequestException", "Message": f"invalid JSON: {e}"}, 400
            return self._send(status, json.dumps(out).encode())
        if path == "/standin/queries" and self.command == "GET":
            return self._send(200, json.dumps(self.athena.report()).encode(), "application/json")
        if path == "/standin/reset" and self.command == "POST":
            with self.athena.lock:
                self.athena.queries.clear()
                self.athena.tokens.clear()
            return self._send(200, b"{}", "application/json")
        if path == "/standin/config" and self.command == "POST":
            cfg = json.loads(body or b"{}")
            if "running_polls" in cfg:
                self.athena.running_polls = int(cfg["running_polls"])
            body = json.dumps({"running_polls": self.athena.running_polls}).encode()
            return self._send(200, body, "application/json")
        self._forward(body)

    def _forward(self, body: bytes) -> None:
        hop = {"connection", "keep-alive", "transfer-encoding", "expect", "content-length", "proxy-connection"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(self.moto.hostname, self.moto.port or 80, timeout=60)
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            return self._send(502, json.dumps({"__type": "BadGateway", "Message": f"moto: {e}"}).encode())
        finally:
            conn.close()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in hop:
                self.send_header(k, v)
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


def serve(args) -> None:
    Handler.athena = Athena(Engine(Source(args.moto)), args.running_polls)
    Handler.moto = urllib.parse.urlparse(args.moto)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    stop = lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    if not args.no_stdin_watch:
        threading.Thread(target=lambda: (sys.stdin.buffer.read(), stop()), daemon=True).start()
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()
    os._exit(0)  # not a normal exit: the stdin watcher thread still holds stdin's lock


# ---------------------------------------------------------------------------------------------
# Seed: the documented tables in moto's Glue, log files in moto's S3
# ---------------------------------------------------------------------------------------------

# Column list and regex of "Create the table for ALB access logs in Athena using partition
# projection" (current text, with conn_trace_id and the trailing ``?( .*)?``).
ALB_DOC_COLUMNS = [
    ("type", "string"), ("time", "string"), ("elb", "string"), ("client_ip", "string"), ("client_port", "int"),
    ("target_ip", "string"), ("target_port", "int"), ("request_processing_time", "double"),
    ("target_processing_time", "double"), ("response_processing_time", "double"), ("elb_status_code", "int"),
    ("target_status_code", "string"), ("received_bytes", "bigint"), ("sent_bytes", "bigint"),
    ("request_verb", "string"), ("request_url", "string"), ("request_proto", "string"), ("user_agent", "string"),
    ("ssl_cipher", "string"), ("ssl_protocol", "string"), ("target_group_arn", "string"), ("trace_id", "string"),
    ("domain_name", "string"), ("chosen_cert_arn", "string"), ("matched_rule_priority", "string"),
    ("request_creation_time", "string"), ("actions_executed", "string"), ("redirect_url", "string"),
    ("lambda_error_reason", "string"), ("target_port_list", "string"), ("target_status_code_list", "string"),
    ("classification", "string"), ("classification_reason", "string"), ("conn_trace_id", "string")]
ALB_DOC_REGEX = (
    r'([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*):([0-9]*) ([^ ]*)[:-]([0-9]*) ([-.0-9]*) ([-.0-9]*) ([-.0-9]*) '
    r'(|[-0-9]*) (-|[-0-9]*) ([-0-9]*) ([-0-9]*) "([^ ]*) (.*) (- |[^ ]*)" "([^"]*)" ([A-Z0-9-_]+) '
    r'([A-Za-z0-9.-]*) ([^ ]*) "([^"]*)" "([^"]*)" "([^"]*)" ([-.0-9]*) ([^ ]*) "([^"]*)" "([^"]*)" '
    r'"([^ ]*)" "([^\s]+?)" "([^\s]+)" "([^ ]*)" "([^ ]*)" ?([^ ]*)? ?( .*)?')
CLOUDTRAIL_DOC_COLUMNS = [
    ("eventversion", "string"),
    ("useridentity", "struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,"
                     "accesskeyid:string,username:string,onbehalfof:struct<userid:string,identitystorearn:string>,"
                     "sessioncontext:struct<attributes:struct<mfaauthenticated:string,creationdate:string>,"
                     "sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,"
                     "username:string>,ec2roledelivery:string,webidfederationdata:struct<federatedprovider:string,"
                     "attributes:map<string,string>>>>"),
    ("eventtime", "string"), ("eventsource", "string"), ("eventname", "string"), ("awsregion", "string"),
    ("sourceipaddress", "string"), ("useragent", "string"), ("errorcode", "string"), ("errormessage", "string"),
    ("requestparameters", "string"), ("responseelements", "string"), ("additionaleventdata", "string"),
    ("requestid", "string"), ("eventid", "string"), ("readonly", "string"),
    ("resources", "array<struct<arn:string,accountid:string,type:string>>"), ("eventtype", "string"),
    ("apiversion", "string"), ("recipientaccountid", "string"), ("serviceeventdetails", "string"),
    ("sharedeventid", "string"), ("vpcendpointid", "string"), ("vpcendpointaccountid", "string"),
    ("eventcategory", "string"),
    ("addendum", "struct<reason:string,updatedfields:string,originalrequestid:string,originaleventid:string>"),
    ("sessioncredentialfromconsole", "string"), ("edgedevicedetails", "string"),
    ("tlsdetails", "struct<tlsversion:string,ciphersuite:string,clientprovidedhostheader:string>")]
TEXT_IN = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
KINDS = {"alb_projected": "alb_access_logs", "cloudtrail_projected": "cloudtrail_logs_pp",
         "alb_hive": "alb_access_logs_hive"}


def table_input(kind: str, name: str, root: str, rng: str | None) -> dict:
    """The Glue TableInput that Athena's CREATE TABLE from the documentation produces."""
    def projection(col: str, default_range: str) -> dict:
        return {"projection.enabled": "true", f"projection.{col}.type": "date",
                f"projection.{col}.range": rng or default_range, f"projection.{col}.format": "yyyy/MM/dd",
                f"projection.{col}.interval": "1", f"projection.{col}.interval.unit": "DAYS",
                "storage.location.template": root + "${" + col + "}"}
    cols = lambda spec: [{"Name": n, "Type": t} for n, t in spec]  # noqa: E731
    if kind.startswith("alb"):
        sd = {"Columns": cols(ALB_DOC_COLUMNS), "Location": root, "InputFormat": TEXT_IN, "OutputFormat": TEXT_OUT,
              "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.RegexSerDe",
                            "Parameters": {"serialization.format": "1", "input.regex": ALB_DOC_REGEX}}}
        if kind == "alb_projected":
            return {"Name": name, "TableType": "EXTERNAL_TABLE", "StorageDescriptor": sd,
                    "PartitionKeys": [{"Name": "day", "Type": "string"}],
                    "Parameters": dict(projection("day", "2022/01/01,NOW"), EXTERNAL="TRUE")}
        return {"Name": name, "TableType": "EXTERNAL_TABLE", "StorageDescriptor": sd,
                "Parameters": {"EXTERNAL": "TRUE"},
                "PartitionKeys": [{"Name": k, "Type": "string"} for k in ("year", "month", "day")]}
    sd = {"Columns": cols(CLOUDTRAIL_DOC_COLUMNS), "Location": root.rstrip("/"),
          "InputFormat": "com.amazon.emr.cloudtrail.CloudTrailInputFormat", "OutputFormat": TEXT_OUT,
          "SerdeInfo": {"SerializationLibrary": "org.apache.hive.hcatalog.data.JsonSerDe", "Parameters": {}}}
    return {"Name": name, "TableType": "EXTERNAL_TABLE", "StorageDescriptor": sd,
            "PartitionKeys": [{"Name": "timestamp", "Type": "string"}],
            "Parameters": dict(projection("timestamp", "2020/01/01,NOW"), EXTERNAL="TRUE")}


def seed(source: Source, spec: dict) -> dict:
    glue, s3, report = source.glue, source.s3, []
    for t in spec.get("tables", []):
        kind = t["kind"]
        if kind not in KINDS:
            raise SystemExit(f"seed: unknown table kind {kind!r} (use one of {', '.join(KINDS)})")
        name, db, bucket = t.get("name") or KINDS[kind], t["database"], t["bucket"]
        service = "CloudTrail" if kind.startswith("cloudtrail") else "elasticloadbalancing"
        prefix = (t.get("prefix") or "").strip("/")
        root = (f"s3://{bucket}/" + (prefix + "/" if prefix else "")
                + f"AWSLogs/{t.get('account', '123456789012')}/{service}/{t.get('region', 'us-east-1')}/")
        try:
            glue.create_database(DatabaseInput={"Name": db})
        except glue.exceptions.AlreadyExistsException:
            pass
        try:
            glue.delete_table(DatabaseName=db, Name=name)
        except glue.exceptions.EntityNotFoundException:
            pass
        glue.create_table(DatabaseName=db, TableInput=table_input(kind, name, root, t.get("range")))
        try:
            s3.create_bucket(Bucket=bucket)
        except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            pass
        objects, days = [], []
        for f in t.get("files", []):
            day = f["partition"].strip("/")
            if not re.fullmatch(r"\d{4}/\d{2}/\d{2}", day):
                raise SystemExit(f"seed: partition {day!r} is not yyyy/MM/dd")
            with open(f["path"], "rb") as fh:
                data = fh.read()
            obj = f.get("name") or os.path.basename(f["path"])
            if t.get("gzip") and not obj.endswith(".gz"):
                data, obj = gzip.compress(data), obj + ".gz"
            key = root.split("/", 3)[3] + f"{day}/{obj}"
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            objects.append(f"s3://{bucket}/{key}")
            days.append(day)
        if kind == "alb_hive":
            for day in dict.fromkeys(days):
                sd = dict(table_input(kind, name, root, None)["StorageDescriptor"], Location=root + day)
                try:
                    glue.create_partition(DatabaseName=db, TableName=name,
                                          PartitionInput={"Values": day.split("/"), "StorageDescriptor": sd})
                except glue.exceptions.AlreadyExistsException:
                    pass
        report.append({"database": db, "table": name, "kind": kind, "location": root, "objects": objects})
    return {"tables": report}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--moto", required=True, help="moto server URL, e.g. http://127.0.0.1:5000")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--running-polls", type=int, default=1)
    ap.add_argument("--no-stdin-watch", action="store_true")
    sub = ap.add_subparsers(dest="cmd")
    sp = sub.add_parser("seed", help="create a documented table in Glue and upload files to S3")
    sp.add_argument("--spec", help="JSON file: {\"tables\": [...]}")
    sp.add_argument("--table", help="KIND[:NAME], KIND one of " + ", ".join(KINDS))
    sp.add_argument("--database")
    sp.add_argument("--bucket")
    sp.add_argument("--prefix", default="")
    sp.add_argument("--account", default="123456789012")
    sp.add_argument("--region", default="us-east-1")
    sp.add_argument("--range", help="projection range, e.g. 2024/08/01,NOW")
    sp.add_argument("--gzip", action="store_true")
    sp.add_argument("--file", action="append", default=[], help="PARTITION=LOCAL_PATH, PARTITION like 2024/08/16")
    args = ap.parse_args(argv)
    if args.cmd != "seed":
        return serve(args)
    if args.spec:
        with open(args.spec, encoding="utf-8") as fh:
            spec = json.load(fh)
    else:
        if not (args.table and args.database and args.bucket):
            ap.error("seed needs --spec, or --table, --database and --bucket")
        kind, _, name = args.table.partition(":")
        files = []
        for f in args.file:
            part, sep, path = f.partition("=")
            if not sep:
                ap.error(f"--file {f!r}: expected PARTITION=LOCAL_PATH")
            files.append({"partition": part, "path": path})
        spec = {"tables": [{"kind": kind, "name": name or None, "database": args.database, "bucket": args.bucket,
                            "prefix": args.prefix, "account": args.account, "region": args.region,
                            "range": args.range, "gzip": args.gzip, "files": files}]}
    try:
        print(json.dumps(seed(Source(args.moto), spec)))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError, KeyError) as e:
        raise SystemExit(f"seed: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
