"""A CloudWatch Logs Insights stand-in for the tests: the query engine moto does not have.

moto 5.2.5 stores log events and runs FilterLogEvents on them for real, but its Logs Insights
only reads `fields`, `sort` and `limit` and ignores everything else (`filter`, `stats`,
`pattern`), and its StartQuery ignores `logGroupIdentifiers`. This server sits in front of
moto on loopback: it answers StartQuery, GetQueryResults and StopQuery itself, running the
subset of the Logs Insights language that fa2 sends over the events stored in moto (read back
with FilterLogEvents, so moto stays the only store), and forwards every other request to moto
unchanged, so one endpoint serves every AWS service of a test.

The subset, with the service's semantics:
  fields F, ...                         output fields (@timestamp, @message, @log, @logStream)
  filter F like /re/ | like "s" | =~ /re/ | not like ...  joined with `and` / `or`
  sort @timestamp asc|desc              (Insights sorts descending by default)
  limit N                               at most 10,000 rows, as the service; the lower of the
                                        `limit` command and StartQuery's limit wins
  stats count(*) [as name] [by @log, bin(Ns|Nm|Nh)]
                                        bins are epoch-aligned, returned as
                                        `YYYY-MM-DD HH:MM:SS.000`; `@log` is `account:group`
  pattern @message                      one row per pattern: @pattern, @sampleCount, @ratio,
                                        @severityLabel, @logSamples (a JSON list of messages),
                                        @patternId; a pattern is the message with every token
                                        that holds a digit replaced by <*>
Log groups are given by logGroupName, logGroupNames or logGroupIdentifiers (names, or ARNs
without a trailing `:*`, which the service rejects with InvalidParameterException); the same
goes for FilterLogEvents' logGroupIdentifier, which moto ignores: the stand-in resolves it to
the logGroupName moto reads before forwarding the call. The time
range is `[startTime, endTime]` in whole seconds, both included (as moto). Anything outside the
subset is a MalformedQueryException, never a silent approximation.

Usage: logs_insights_standin.py --port P --upstream http://127.0.0.1:MOTO_PORT
"""

import argparse
import datetime
import hashlib
import http.server
import json
import re
import sys
import threading
import urllib.error
import urllib.request
import uuid

ACCOUNT = "123456789012"
ROW_CAP = 10_000
QUERIES = {}
LOCK = threading.Lock()


class QueryError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def fmt_ts(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


# ---------------------------------------------------------------------------------------------
# Reading the events stored in moto.
# ---------------------------------------------------------------------------------------------


def moto_call(upstream, target, body, auth):
    req = urllib.request.Request(
        upstream + "/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Logs_20140328." + target,
            "Authorization": auth,
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        err = json.loads(e.read() or b"{}")
        kind = err.get("__type", "ServiceUnavailableException").split("#")[-1]
        raise QueryError(kind, err.get("message", "moto error")) from e


def group_name(identifier):
    if identifier.startswith("arn:"):
        if identifier.endswith("*"):
            raise QueryError(
                "InvalidParameterException",
                "log group ARN must not end with '*': " + identifier,
            )
        if ":log-group:" not in identifier:
            raise QueryError("InvalidParameterException", "not a log group ARN: " + identifier)
        return identifier.split(":log-group:", 1)[1]
    return identifier


def read_events(upstream, auth, groups, start_ms, end_ms):
    """Every stored event of the groups with start_ms <= timestamp <= end_ms."""
    out = []
    for g in groups:
        token = None
        while True:
            body = {
                "logGroupName": g,
                "startTime": start_ms,
                "endTime": end_ms,
                "interleaved": True,
            }
            if token:
                body["nextToken"] = token
            page = moto_call(upstream, "FilterLogEvents", body, auth)
            for e in page.get("events", []):
                out.append(
                    {
                        "@timestamp": e["timestamp"],
                        "@message": e["message"],
                        "@log": ACCOUNT + ":" + g,
                        "@logStream": e.get("logStreamName", ""),
                        "@ptr": e.get("eventId", ""),
                    }
                )
            token = page.get("nextToken")
            if not token:
                break
    return out


# ---------------------------------------------------------------------------------------------
# The query language subset.
# ---------------------------------------------------------------------------------------------


def split_commands(query):
    """Splits on `|` outside /regex/ and "strings"."""
    parts, cur, quote = [], [], None
    for ch in query:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "/\"'":
            quote = ch
            cur.append(ch)
        elif ch == "|":
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


CONDITION = re.compile(
    r"""\s*(?P<field>@?[\w.]+)\s+(?P<neg>not\s+)?(?P<op>like|=~)\s+
        (?:/(?P<re>(?:[^/\\]|\\.)*)/(?P<flags>[a-z]*)|"(?P<s>[^"]*)"|'(?P<s2>[^']*)')\s*""",
    re.X,
)


def parse_filter(text):
    """`a or b and c` as a list of and-lists (or binds weaker than and)."""
    alternatives = []
    for alt in re.split(r"\s+or\s+", text.strip()):
        conds = []
        for part in re.split(r"\s+and\s+", alt):
            part = part.strip()
            while part.startswith("(") and part.endswith(")"):
                part = part[1:-1].strip()
            m = CONDITION.fullmatch(part)
            if not m:
                raise QueryError(
                    "MalformedQueryException",
                    "unsupported filter (the stand-in runs `F like /re/`, `F like \"s\"`, "
                    "`F =~ /re/`, `not`, `and`, `or`): " + part,
                )
            if m.group("re") is not None:
                rx = re.compile(m.group("re"), re.I if "i" in m.group("flags") else 0)
                test = lambda v, rx=rx: rx.search(v) is not None
            else:
                s = m.group("s") if m.group("s") is not None else m.group("s2")
                test = lambda v, s=s: s in v
            conds.append((m.group("field"), bool(m.group("neg")), test))
        alternatives.append(conds)
    return alternatives


def matches(ev, alternatives):
    for conds in alternatives:
        ok = True
        for field, neg, test in conds:
            v = ev.get(field)
            hit = v is not None and test(str(v))
            if hit == neg:
                ok = False
                break
        if ok:
            return True
    return False


PERIOD = re.compile(r"(\d+)\s*(ms|s|sec|m|min|h|hr|d)s?$")
UNIT_MS = {"ms": 1, "s": 1000, "sec": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000,
           "hr": 3_600_000, "d": 86_400_000}


def parse_stats(text):
    m = re.fullmatch(r"count\(\*\)(?:\s+as\s+(\w+))?(?:\s+by\s+(.+))?", text.strip())
    if not m:
        raise QueryError("MalformedQueryException", "unsupported stats: " + text)
    name = m.group(1) or "count(*)"
    keys = []
    for k in (m.group(2) or "").split(","):
        k = k.strip()
        if not k:
            continue
        b = re.fullmatch(r"bin\((.+)\)", k)
        if b:
            p = PERIOD.fullmatch(b.group(1).strip())
            if not p:
                raise QueryError("MalformedQueryException", "bad bin period: " + k)
            keys.append(("bin", k, int(p.group(1)) * UNIT_MS[p.group(2)]))
        elif k.startswith("@"):
            keys.append(("field", k, None))
        else:
            raise QueryError("MalformedQueryException", "unsupported stats key: " + k)
    return name, keys


TOKEN_VAR = re.compile(r"\d")


def pattern_of(message):
    return " ".join("<*>" if TOKEN_VAR.search(t) else t for t in message.split())


def severity(message):
    lower = message.lower()
    for word, label in (("fatal", "Fatal"), ("error", "Error"), ("warn", "Warning"),
                        ("info", "Info"), ("debug", "Debug")):
        if word in lower:
            return label
    return ""


def run_query(query, events, limit_param):
    rows = events
    sort_desc = True
    limit = None
    output = None
    for cmd in split_commands(query):
        head, _, rest = cmd.partition(" ")
        head = head.lower()
        if head == "fields":
            output = [f.strip() for f in rest.split(",") if f.strip()]
        elif head == "filter":
            alternatives = parse_filter(rest)
            rows = [e for e in rows if matches(e, alternatives)]
        elif head == "sort":
            m = re.fullmatch(r"@timestamp(?:\s+(asc|desc))?", rest.strip())
            if not m:
                raise QueryError("MalformedQueryException", "unsupported sort: " + rest)
            sort_desc = m.group(1) != "asc"
        elif head == "limit":
            limit = int(rest.strip())
        elif head == "stats":
            name, keys = parse_stats(rest)
            groups = {}
            for e in rows:
                key = []
                for kind, label, width in keys:
                    if kind == "bin":
                        key.append((label, fmt_ts(e["@timestamp"] // width * width)))
                    else:
                        key.append((label, e.get(label, "")))
                key = tuple(key)
                groups[key] = groups.get(key, 0) + 1
            rows = [dict(list(k) + [(name, str(n))]) for k, n in sorted(groups.items())]
            output = None
            sort_desc = None
        elif head == "pattern":
            if rest.strip() != "@message":
                raise QueryError("MalformedQueryException", "unsupported pattern: " + rest)
            clusters = {}
            for e in rows:
                p = pattern_of(e["@message"])
                c = clusters.setdefault(p, {"n": 0, "samples": []})
                c["n"] += 1
                if len(c["samples"]) < 5:
                    c["samples"].append(e["@message"])
            total = max(1, len(rows))
            rows = [
                {
                    "@pattern": p,
                    "@sampleCount": str(c["n"]),
                    "@ratio": f"{c['n'] / total:.4f}",
                    "@severityLabel": severity(p),
                    "@patternId": hashlib.md5(p.encode()).hexdigest()[:20],
                    "@logSamples": json.dumps(c["samples"]),
                }
                for p, c in sorted(clusters.items(), key=lambda kv: -kv[1]["n"])
            ]
            output = None
            sort_desc = None
        else:
            raise QueryError("MalformedQueryException", "unsupported command: " + head)
    if sort_desc is not None:
        rows = sorted(rows, key=lambda e: e["@timestamp"], reverse=sort_desc)
    cap = min(x for x in (limit, limit_param, ROW_CAP) if x)
    rows = rows[:cap]
    results = []
    for r in rows:
        fields = output if output is not None else [k for k in r if k != "@ptr"]
        out = []
        for f in fields:
            if f in r:
                v = r[f]
                if f == "@timestamp":
                    v = fmt_ts(v)
                out.append({"field": f, "value": str(v)})
        if "@ptr" in r:
            out.append({"field": "@ptr", "value": str(r["@ptr"])})
        results.append(out)
    return results


# ---------------------------------------------------------------------------------------------
# The server.
# ---------------------------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ""

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        has_type = False
        for k, v in headers:
            if k.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            has_type = has_type or k.lower() == "content-type"
            self.send_header(k, v)
        if not has_type:
            self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, kind, message):
        self.reply(400, {"__type": kind, "message": message}, [("x-amzn-ErrorType", kind)])

    def forward(self, body):
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "content-length", "connection")}
        req = urllib.request.Request(self.upstream + self.path, data=body or None,
                                     method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                self.reply(resp.status, resp.read(), resp.getheaders())
        except urllib.error.HTTPError as e:
            self.reply(e.code, e.read(), e.headers.items())

    def do_GET(self):
        self.forward(None)

    def do_DELETE(self):
        self.forward(None)

    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.forward(self.rfile.read(n))

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        target = self.headers.get("X-Amz-Target", "")
        op = target.rsplit(".", 1)[-1] if target.startswith("Logs_") else ""
        try:
            if op == "StartQuery":
                return self.start_query(json.loads(body or b"{}"))
            if op == "GetQueryResults":
                return self.get_results(json.loads(body or b"{}"))
            if op == "StopQuery":
                with LOCK:
                    q = QUERIES.get(json.loads(body or b"{}").get("queryId"))
                return self.reply(200, {"success": bool(q) and q["status"] == "Running"})
            if op == "FilterLogEvents":
                body = self.filter_identifier(body)
        except QueryError as e:
            return self.error(e.kind, e.message)
        self.forward(body)

    def filter_identifier(self, body):
        """moto ignores FilterLogEvents' logGroupIdentifier: resolve it (a name, or an ARN
        without a trailing `:*`) to the logGroupName moto reads."""
        req = json.loads(body or b"{}")
        ident = req.pop("logGroupIdentifier", None)
        if ident is None:
            return body
        if req.get("logGroupName"):
            raise QueryError(
                "InvalidParameterException",
                "logGroupIdentifier and logGroupName are mutually exclusive",
            )
        req["logGroupName"] = group_name(ident)
        return json.dumps(req).encode()

    def start_query(self, req):
        given = [x for x in ("logGroupName", "logGroupNames", "logGroupIdentifiers") if req.get(x)]
        if len(given) != 1:
            raise QueryError(
                "InvalidParameterException",
                "exactly one of logGroupName, logGroupNames, logGroupIdentifiers is required",
            )
        ids = req[given[0]]
        ids = [ids] if isinstance(ids, str) else ids
        if len(ids) > 50:
            raise QueryError("InvalidParameterException", "at most 50 log groups")
        groups = [group_name(i) if given[0] == "logGroupIdentifiers" else i for i in ids]
        start, end = int(req["startTime"]), int(req["endTime"])
        if end < start:
            raise QueryError("InvalidParameterException", "endTime is before startTime")
        limit = req.get("limit")
        if limit is not None and not 1 <= int(limit) <= ROW_CAP:
            raise QueryError("InvalidParameterException", "limit must be 1..10000")
        auth = self.headers.get("Authorization", "")
        events = read_events(self.upstream, auth, groups, start * 1000, end * 1000)
        results = run_query(req["queryString"], events, limit and int(limit))
        qid = str(uuid.uuid4())
        with LOCK:
            QUERIES[qid] = {
                "status": "Complete",
                "results": results,
                "statistics": {
                    "recordsMatched": float(len(results)),
                    "recordsScanned": float(len(events)),
                    "bytesScanned": float(sum(len(e["@message"]) for e in events)),
                },
            }
        self.reply(200, {"queryId": qid})

    def get_results(self, req):
        with LOCK:
            q = QUERIES.get(req.get("queryId"))
        if q is None:
            raise QueryError("ResourceNotFoundException", "unknown query id")
        self.reply(200, q)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    args = ap.parse_args()
    Handler.upstream = args.upstream.rstrip("/")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
