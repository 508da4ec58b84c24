#!/usr/bin/env python3
"""Re-count the records of an incident bundle by parsing its files and compare with truth.json.

    python3 scripts/check_bundle.py [--strict] BUNDLE_DIR [BUNDLE_DIR ...]

Formats are detected from content (gzip or plain; file names are not trusted):
  - JSON documents: filter-log-events (`events`), get-query-results (`results`), Firehose
    CloudWatch Logs subscription records (concatenated objects with `messageType`;
    CONTROL_MESSAGE objects are skipped), CloudTrail (`Records`, or lookup-events `Events`),
    X-Ray get-trace-summaries (`TraceSummaries`) / batch-get-traces (`Traces`),
    get-metric-data (`MetricDataResults`)
  - ALB access logs (lines starting with a listener type and an ISO timestamp)
  - plain logs: a line with a leading timestamp starts an event, other lines continue it
Counts compared: truth["counts"] and truth["log_lines"] (plain-log physical non-empty lines plus
one per JSON log event) and that the window timestamps are ordered. Also reported: whether the
planted secrets and the injection occur in parsed log messages (a failure only with --strict;
the shared example lists a secret that is not in its files). Exit status 1 on any failure.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import sys

TS_RE = re.compile(r"^(\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})")
ALB_RE = re.compile(r"^(https?|h2|ws|wss|grpcs?) \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z ")


def read_text(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace").lstrip("\ufeff")


def json_objects(text: str):
    """Concatenated (or single) JSON values."""
    dec = json.JSONDecoder()
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            return
        obj, i = dec.raw_decode(text, i)
        yield obj


class Tally:
    def __init__(self):
        self.counts = {"log_events": 0, "alb_entries": 0, "cloudtrail_records": 0, "xray_summaries": 0,
                       "xray_traces": 0, "metric_points": 0}
        self.log_lines = 0
        self.messages: list[str] = []
        self.alb: list[str] = []
        self.files: list[tuple[str, str, int]] = []
        self.problems: list[str] = []

    def msg(self, m):
        if isinstance(m, str):
            self.messages.append(m)


def scan_json(t: Tally, rel: str, text: str):
    kinds = set()
    for obj in json_objects(text):
        if not isinstance(obj, dict):
            t.problems.append(f"{rel}: JSON value is not an object")
            continue
        if "messageType" in obj:
            kinds.add("firehose")
            if obj["messageType"] != "DATA_MESSAGE":
                continue
            for e in obj.get("logEvents", []):
                t.counts["log_events"] += 1
                t.log_lines += 1
                t.msg(e.get("message"))
        elif "events" in obj:
            kinds.add("filter-log-events")
            for e in obj["events"]:
                t.counts["log_events"] += 1
                t.log_lines += 1
                t.msg(e.get("message"))
        elif "results" in obj:
            kinds.add("insights")
            for row in obj["results"]:
                t.counts["log_events"] += 1
                t.log_lines += 1
                for fld in row:
                    if fld.get("field") == "@message":
                        t.msg(fld.get("value"))
                fields = {f.get("field") for f in row}
                if "@timestamp" not in fields:
                    t.problems.append(f"{rel}: insights row without @timestamp")
        elif "Records" in obj:
            kinds.add("cloudtrail")
            t.counts["cloudtrail_records"] += len(obj["Records"])
        elif "Events" in obj:
            kinds.add("cloudtrail-lookup")
            t.counts["cloudtrail_records"] += len(obj["Events"])
        elif "TraceSummaries" in obj:
            kinds.add("xray-summaries")
            t.counts["xray_summaries"] += len(obj["TraceSummaries"])
        elif "Traces" in obj:
            kinds.add("xray-traces")
            t.counts["xray_traces"] += len(obj["Traces"])
            for tr in obj["Traces"]:
                for seg in tr.get("Segments", []):
                    json.loads(seg["Document"])  # documents must be JSON strings
        elif "MetricDataResults" in obj:
            kinds.add("metrics")
            for r in obj["MetricDataResults"]:
                if len(r.get("Timestamps", [])) != len(r.get("Values", [])):
                    t.problems.append(f"{rel}: {r.get('Id')} has {len(r['Timestamps'])} timestamps, {len(r['Values'])} values")
                t.counts["metric_points"] += min(len(r.get("Timestamps", [])), len(r.get("Values", [])))
        else:
            t.problems.append(f"{rel}: JSON in no known format (keys {sorted(obj)[:6]})")
    return ",".join(sorted(kinds)) or "json?"


def scan_lines(t: Tally, rel: str, text: str):
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    first = next((ln for ln in lines if ln.strip()), "")
    if ALB_RE.match(first):
        n = 0
        for ln in lines:
            if not ln.strip():
                continue
            if not ALB_RE.match(ln):
                t.problems.append(f"{rel}: malformed ALB line: {ln[:80]}")
                continue
            n += 1
            t.alb.append(ln)
        t.counts["alb_entries"] += n
        return "alb"
    events, cur = 0, None
    orphan = 0
    for ln in lines:
        if not ln.strip():
            continue
        t.log_lines += 1
        if TS_RE.match(ln):
            if cur is not None:
                t.msg(cur)
            cur = ln
            events += 1
        elif cur is None:
            orphan += 1
        else:
            cur += "\n" + ln
    if cur is not None:
        t.msg(cur)
    if orphan:
        t.problems.append(f"{rel}: {orphan} lines before the first timestamped line")
    t.counts["log_events"] += events
    return "plain"


def check(bundle: str, strict: bool = False) -> bool:
    truth_path = os.path.join(bundle, "truth.json")
    with open(truth_path) as f:
        truth = json.load(f)
    t = Tally()
    total_bytes = 0
    for root, _, files in sorted(os.walk(bundle)):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, bundle)
            total_bytes += os.path.getsize(path)
            if name in ("truth.json", "incident.json"):
                continue
            text = read_text(path)
            if not text.strip():
                t.problems.append(f"{rel}: empty")
                continue
            kind = scan_json(t, rel, text) if text.lstrip().startswith("{") else scan_lines(t, rel, text)
            t.files.append((rel, kind, os.path.getsize(path)))
    ok = True
    print(f"== {bundle} ({total_bytes} bytes on disk, {len(t.files)} files)")
    for rel, kind, size in t.files:
        print(f"   {kind:<22} {size:>9}  {rel}")
    for k, v in t.counts.items():
        exp = truth["counts"].get(k)
        flag = "ok" if exp == v else "MISMATCH"
        ok &= exp == v
        print(f"   {k:<20} counted {v:>9}  truth {exp!s:>9}  {flag}")
    if "log_lines" in truth:
        flag = "ok" if truth["log_lines"] == t.log_lines else "MISMATCH"
        ok &= truth["log_lines"] == t.log_lines
        print(f"   {'log_lines':<20} counted {t.log_lines:>9}  truth {truth['log_lines']:>9}  {flag}")
    blob = "\n".join(t.messages)
    warn = []
    for s in truth.get("secrets", []):
        if s not in blob:
            warn.append(f"secret not found in any log message: {s[:12]}...")
    if truth.get("injection") and truth["injection"] not in blob:
        warn.append("injection not found in any log message")
    alb = "\n".join(t.alb)
    for s in truth.get("chronic", []):
        if s not in blob and s not in alb:
            warn.append(f"chronic string not found in any log message or ALB request: {s}")
    if strict:
        t.problems += warn
    else:
        for w in warn:
            print(f"   WARNING: {w}")
    if not (truth["baseline_start"] < truth["start"] <= truth["onset"] < truth["end"]):
        t.problems.append("window timestamps are not ordered baseline_start < start <= onset < end")
    for p in t.problems:
        print(f"   PROBLEM: {p}")
    ok &= not t.problems
    print(f"   => {'OK' if ok else 'FAILED'}")
    return ok


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    strict = "--strict" in argv
    results = [check(b, strict) for b in argv if b != "--strict"]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
