#!/usr/bin/env python3
"""Self-check of the Athena stand-in: starts moto and the stand-in on loopback, seeds the
documented ALB and CloudTrail tables through ``athena_standin.py seed``, runs queries with
boto3's Athena client against the stand-in and checks rows, failures and partition pruning.

    .venv/bin/python fa2-core/tests/support/athena_standin_check.py

Prints one line per check and ``N passed, 0 failed``; exits non-zero on the first failure.
The SQL mirrors what fa2-core/src/telemetry/aws/athena.rs builds (old and new forms).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PY = sys.executable
MOTO = os.environ.get("FA2_MOTO_SERVER", os.path.join(ROOT, ".venv", "bin", "moto_server"))
STANDIN = os.path.join(HERE, "athena_standin.py")

ALB_COLUMNS = [  # the documented table's columns, as the Rust query names them
    "type", "time", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time",
    "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code",
    "received_bytes", "sent_bytes", "request_verb", "request_url", "request_proto", "user_agent", "ssl_cipher",
    "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "chosen_cert_arn", "matched_rule_priority",
    "request_creation_time", "actions_executed", "redirect_url", "lambda_error_reason", "target_port_list",
    "target_status_code_list", "classification", "classification_reason"]
CLOUDTRAIL_SELECT = (
    "eventtime, eventsource, eventname, awsregion, sourceipaddress, useragent, useridentity.type AS identity_type, "
    "useridentity.arn AS identity_arn, useridentity.username AS identity_username, "
    "useridentity.principalid AS identity_principalid, useridentity.invokedby AS identity_invokedby, "
    "useridentity.sessioncontext.sessionissuer.username AS session_issuer_username, readonly, errorcode, "
    "errormessage, requestparameters, json_format(CAST(transform(resources, r -> r.arn) AS JSON)) AS resource_arns, "
    "eventid")
ALB_T = "try(parse_datetime(time, 'yyyy-MM-dd''T''HH:mm:ss.SSSSSS''Z'''))"
CT_T = "try(from_iso8601_timestamp(eventtime))"


def alb_line(t: str, status: int = 200, target: str = "10.0.0.1:80", times=("0.000", "0.001", "0.000"),
             url: str = "http://www.example.com:80/", verb: str = "GET", tg: str = "my-targets") -> str:
    """An entry shaped like the ELB guide's "Access log entries" HTTP example (current format)."""
    tstatus = "-" if target == "-" else str(status)
    return (f'http {t} app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 {target} {" ".join(times)} '
            f'{status} {tstatus} 34 366 "{verb} {url} HTTP/1.1" "curl/7.46.0" - - '
            f'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/{tg}/73e2d6bc24d8a067 '
            f'"Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 {t} "forward" "-" "-" '
            f'"{target}" "{tstatus}" "-" "-" TID_1234abcd5678ef90 "-" "-" "-"')


def ct_record(t: str, name: str, readonly: bool, error: str | None = None, user: str = "alice") -> dict:
    rec = {"eventVersion": "1.09", "eventTime": t, "eventSource": "ec2.amazonaws.com", "eventName": name,
           "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.5", "userAgent": "aws-cli/2.15",
           "userIdentity": {"type": "AssumedRole", "principalId": "AROA:alice", "accountId": "123456789012",
                            "arn": f"arn:aws:sts::123456789012:assumed-role/Admin/{user}",
                            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "Admin",
                                                                 "arn": "arn:aws:iam::123456789012:role/Admin"},
                                               "attributes": {"mfaAuthenticated": "false",
                                                              "creationDate": "2024-08-16T10:00:00Z"}}},
           "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-0abc"}]}},
           "responseElements": None, "eventID": f"ev-{name}-{t}", "readOnly": readonly,
           "resources": [{"ARN": "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc", "accountId": "123456789012",
                          "type": "AWS::EC2::Instance"}],
           "eventType": "AwsApiCall", "recipientAccountId": "123456789012"}
    if error:
        rec["errorCode"], rec["errorMessage"] = error, "denied"
    return rec


class Stack:
    def __init__(self):
        self.moto_port = self._free_port()
        self.moto = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(self.moto_port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.moto_url = f"http://127.0.0.1:{self.moto_port}"
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(self.moto_url + "/moto-api/", timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("moto did not start")
                time.sleep(0.1)
        self.standin = subprocess.Popen([PY, STANDIN, "--port", "0", "--moto", self.moto_url],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.standin.stdout.readline().split()
        assert line[:1] == ["ready"], line
        self.url = f"http://127.0.0.1:{line[1]}"
        kw = dict(endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
        self.athena = boto3.client("athena", **kw)
        self.glue = boto3.client("glue", **kw)
        self.s3 = boto3.client("s3", **dict(kw, config=Config(s3={"addressing_style": "path"})))

    @staticmethod
    def _free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def close(self):
        self.standin.stdin.close()  # the stand-in exits when its stdin closes
        try:
            self.standin.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.standin.kill()
        self.moto.kill()
        self.moto.wait()

    def seed(self, *args: str) -> dict:
        out = subprocess.run([PY, STANDIN, "--moto", self.moto_url, "seed", *args], check=True,
                             capture_output=True, text=True)
        return json.loads(out.stdout)

    def run(self, sql: str, params: list[str] | None = None, db: str = "aiops_db", page: int = 1000):
        """Runs a query to its end: (state, reason, columns, rows, execution, polls)."""
        kw = {"QueryString": sql, "QueryExecutionContext": {"Database": db, "Catalog": "AwsDataCatalog"},
              "WorkGroup": "primary", "ResultConfiguration": {"OutputLocation": "s3://athena-results/fa2/"}}
        if params:
            kw["ExecutionParameters"] = params
        qid = self.athena.start_query_execution(**kw)["QueryExecutionId"]
        polls = 0
        while True:
            qe = self.athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            polls += 1
            if qe["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            time.sleep(0.05)
        state = qe["Status"]["State"]
        if state != "SUCCEEDED":
            return state, qe["Status"].get("StateChangeReason"), None, None, qe, polls
        rows, columns, token, first = [], None, None, True
        while True:
            kw = {"QueryExecutionId": qid, "MaxResults": page}
            if token:
                kw["NextToken"] = token
            res = self.athena.get_query_results(**kw)
            columns = [c["Name"] for c in res["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
            page_rows = [[d.get("VarCharValue") for d in r["Data"]] for r in res["ResultSet"]["Rows"]]
            if first:
                assert page_rows[0] == columns, ("header row", page_rows[0], columns)
                page_rows, first = page_rows[1:], False
            rows += page_rows
            token = res.get("NextToken")
            if not token:
                break
        return state, None, columns, rows, qe, polls

    def report(self, qid: str) -> dict:
        with urllib.request.urlopen(self.url + "/standin/queries") as r:
            return next(q for q in json.load(r) if q["id"] == qid)


def where(predicate: str, t: str, extra: list[str] = ()) -> str:
    conds = ([f"({predicate})"] if predicate else []) + [f"{t} >= from_iso8601_timestamp(?)",
                                                          f"{t} < from_iso8601_timestamp(?)"] + list(extra)
    return "WHERE " + "\n  AND ".join(conds)


def main() -> None:
    passed = 0

    def check(name: str, cond: bool, detail=""):
        nonlocal passed
        if not cond:
            print(f"FAIL {name}: {detail}")
            raise SystemExit(1)
        passed += 1
        print(f"ok   {name}")

    stack = Stack()
    tmp = tempfile.mkdtemp()
    try:
        # ---- data: two ALB days, one bad line, CloudTrail on the same two days
        d16 = [alb_line("2024-08-16T11:20:00.186641Z"),
               alb_line("2024-08-16T11:25:00.000001Z", status=502, target="-", times=("0.000", "-1", "-1")),
               alb_line("2024-08-16T11:30:00.500000Z", url="http://www.example.com:80/api/orders?id=42",
                        verb="POST"),
               alb_line("2024-08-16T10:30:00.000000Z"),  # baseline
               alb_line("2024-08-16T09:00:00.000000Z"),  # before the span
               "this line does not match the documented regex"]
        d17 = [alb_line("2024-08-17T00:00:01.000000Z", status=503, target="-", times=("0.000", "-1", "-1"))]
        paths = {}
        for day, lines in (("16", d16), ("17", d17)):
            p = os.path.join(tmp, f"123456789012_elasticloadbalancing_us-east-1_app.my-lb_202408{day}T1130Z_x.log")
            with open(p, "w") as fh:
                fh.write("\n".join(lines) + "\n")
            paths[day] = p
        ct = {"16": [ct_record("2024-08-16T11:21:00Z", "StopInstances", False),
                     ct_record("2024-08-16T11:22:00Z", "DescribeInstances", True),
                     ct_record("2024-08-16T11:23:00Z", "DescribeInstances", True, error="AccessDenied"),
                     ct_record("2024-08-16 11:24:00", "RunInstances", False)],  # malformed time: dropped by try
              "17": [ct_record("2024-08-17T00:05:00Z", "TerminateInstances", False)]}
        for day, recs in ct.items():
            p = os.path.join(tmp, f"123456789012_CloudTrail_us-east-1_202408{day}T1130Z_x.json")
            with open(p, "w") as fh:
                json.dump({"Records": recs}, fh)
            paths["ct" + day] = p

        out = stack.seed("--table", "alb_projected", "--database", "aiops_db", "--bucket", "alb-logs", "--gzip",
                         "--file", f"2024/08/16={paths['16']}", "--file", f"2024/08/17={paths['17']}")
        alb_keys = out["tables"][0]["objects"]
        check("seed uploads gzip objects under the documented layout",
              alb_keys[0].startswith("s3://alb-logs/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2024/08/16/")
              and alb_keys[0].endswith(".log.gz"), alb_keys)
        spec = {"tables": [
            {"kind": "cloudtrail_projected", "name": "cloud_trail_logs", "database": "aiops_db", "bucket": "ct-logs",
             "gzip": True, "files": [{"partition": "2024/08/16", "path": paths["ct16"]},
                                     {"partition": "2024/08/17", "path": paths["ct17"]}]},
            {"kind": "alb_hive", "database": "aiops_db", "bucket": "alb-hive",
             "files": [{"partition": "2024/08/16", "path": paths["16"]},
                       {"partition": "2024/08/17", "path": paths["17"]}]}]}
        with open(os.path.join(tmp, "spec.json"), "w") as fh:
            json.dump(spec, fh)
        stack.seed("--spec", os.path.join(tmp, "spec.json"))
        sizes = {k["Key"]: k["Size"] for k in stack.s3.list_objects_v2(Bucket="alb-logs")["Contents"]}

        # ---- pass-through: Glue and S3 through the stand-in's endpoint
        tbl = stack.glue.get_table(DatabaseName="aiops_db", Name="alb_access_logs")["Table"]
        check("Glue calls pass through to moto", tbl["Parameters"]["projection.day.format"] == "yyyy/MM/dd")
        check("S3 calls pass through to moto", len(sizes) == 2, sizes)

        span = ["'2024-08-16T10:19:00.000Z'", "'2024-08-16T11:49:00.000Z'"]
        table = '"aiops_db"."alb_access_logs"'

        # ---- ALB entries, new form: partition predicate + span
        sql = (f"SELECT {', '.join(ALB_COLUMNS)}\nFROM {table}\n"
               f"{where(chr(34) + 'day' + chr(34) + ' IN (' + chr(39) + '2024/08/16' + chr(39) + ', ' + chr(39) + '2024/08/17' + chr(39) + ')', ALB_T)}\nLIMIT 100001")
        state, reason, cols, rows, qe, polls = stack.run(sql, span)
        check("ALB entries query succeeds", state == "SUCCEEDED", reason)
        check("first poll reports RUNNING", polls >= 2, polls)
        times = [r[cols.index("time")] for r in rows]
        check("time filter keeps the 4 entries in [10:19, 11:49)",
              times == ["2024-08-16T11:20:00.186641Z", "2024-08-16T11:25:00.000001Z", "2024-08-16T11:30:00.500000Z",
                        "2024-08-16T10:30:00.000000Z"], times)
        r502 = rows[1]
        check("RegexSerDe: '-' target gives '' ip, NULL port; -1 doubles; ints print plainly",
              (r502[cols.index("target_ip")], r502[cols.index("target_port")], r502[cols.index("elb_status_code")],
               r502[cols.index("target_processing_time")], r502[cols.index("request_processing_time")])
              == ("", None, "502", "-1.0", "0.0"), r502)
        rep = stack.report(qe["QueryExecutionId"])
        t = rep["tables"][0]
        check("two-day IN predicate touches exactly 2 partitions",
              [p["day"] for p in t["partitions_touched"]] == ["2024/08/16", "2024/08/17"], t["partitions_touched"])
        check("bytes scanned = stored sizes of the two objects", t["bytes_scanned"] == sum(sizes.values())
              and qe["Statistics"]["DataScannedInBytes"] == sum(sizes.values()), (t["bytes_scanned"], sizes))
        check("query is reported after parameter substitution",
              "from_iso8601_timestamp('2024-08-16T10:19:00.000Z')" in rep["query"] and "?" not in rep["query"])
        total_days = (dt.datetime.now(dt.timezone.utc).date() - dt.date(2022, 1, 1)).days + 1
        check("partitions_total is the projected day count", t["partitions_total"] == total_days,
              (t["partitions_total"], total_days))

        # ---- old form (no partition predicate): a full projected scan, same rows
        sql_old = f"SELECT {', '.join(ALB_COLUMNS)}\nFROM {table}\n{where('', ALB_T)}\nLIMIT 100001"
        state, reason, cols2, rows2, qe, _ = stack.run(sql_old, span)
        t = stack.report(qe["QueryExecutionId"])["tables"][0]
        check("without a partition predicate every projected day is touched",
              state == "SUCCEEDED" and len(t["partitions_touched"]) == total_days == t["partitions_total"]
              and rows2 == rows, (state, reason, len(t["partitions_touched"])))

        # ---- pruning with other predicate shapes
        state, _, _, rows3, qe, _ = stack.run(f"SELECT count(*) AS n FROM {table} WHERE \"day\" >= '2024/08/17' "
                                              "AND \"day\" < '2024/08/18' AND elb_status_code >= 500")
        t = stack.report(qe["QueryExecutionId"])["tables"][0]
        check("range predicate on day prunes to 1 partition; non-partition conjunct still filters",
              rows3 == [["1"]] and len(t["partitions_touched"]) == 1, (rows3, t["partitions_touched"]))

        # ---- a line that does not match is a row of NULLs (Hive/Trino RegexSerDe)
        state, _, _, rows4, _, _ = stack.run(f"SELECT count(*), count(time), count_if(type IS NULL) FROM {table} "
                                             "WHERE \"day\" = '2024/08/16'")
        check("non-matching line counts as an all-NULL row", rows4 == [["6", "5", "1"]], rows4)

        # ---- ? placement and count
        state, reason, *_ = stack.run(
            f"SELECT CASE WHEN {ALB_T} >= from_iso8601_timestamp(?) THEN 'incident' ELSE 'outside' END AS phase "
            f"FROM {table} {where('', ALB_T)}", span + ["'2024-08-16T11:19:00.000Z'"])
        check("? in the SELECT list FAILS", state == "FAILED" and "INVALID_PARAMETER_USAGE" in reason
              and "line 1:" in reason, reason)
        state, reason, *_ = stack.run(f"SELECT time FROM {table} {where('', ALB_T)}", span[:1])
        check("parameter count mismatch FAILS", state == "FAILED" and "expected 2 but found 1" in reason, reason)
        state, _, _, rows5, _, _ = stack.run(f"SELECT time FROM {table} WHERE elb_status_code = ? AND '?' = '?' "
                                             "-- a ? in a comment\n", ["502"])
        check("? in WHERE works; ? in literals and comments is not a parameter",
              rows5 == [["2024-08-16T11:25:00.000001Z"]], rows5)

        # ---- names and types
        state, reason, *_ = stack.run(f"SELECT type, lb_error_reason FROM {table} WHERE \"day\" = '2024/08/16'")
        check("unknown column FAILS with COLUMN_NOT_FOUND at its position",
              state == "FAILED" and reason == "COLUMN_NOT_FOUND: line 1:14: Column 'lb_error_reason' cannot be resolved",
              reason)
        state, reason, *_ = stack.run("SELECT 1 FROM nope")
        check("unknown table FAILS", state == "FAILED" and "TABLE_NOT_FOUND" in reason
              and "'awsdatacatalog.aiops_db.nope'" in reason, reason)
        state, reason, *_ = stack.run(f"SELECT time FROM {table} WHERE elb_status_code >= '500'")
        check("int compared with a string FAILS (TYPE_MISMATCH)", state == "FAILED" and "TYPE_MISMATCH" in reason,
              reason)
        state, reason, *_ = stack.run(f"SELECT time FROM {table} WHERE \"day\" = \"2024/08/16\"")
        check("double quotes are identifiers", state == "FAILED" and "COLUMN_NOT_FOUND" in reason, reason)

        # ---- GROUP BY counts agree with the entries
        counts_sql = (f"SELECT CASE WHEN {ALB_T} >= from_iso8601_timestamp('2024-08-16T11:19:00.000Z') THEN 'incident' "
                      "ELSE 'baseline' END AS phase, elb_status_code, target_status_code, target_group_arn, request_verb, "
                      "coalesce(url_extract_path(request_url), '/') AS path, count(*) AS requests, "
                      "count_if(target_processing_time < 0) AS no_target_response, "
                      "avg(CASE WHEN target_processing_time >= 0 THEN target_processing_time END) AS avg_target_time, "
                      "max(target_processing_time) AS max_target_time, min(time) AS first_seen, max(time) AS last_seen\n"
                      f"FROM {table}\n{where(chr(34) + 'day' + chr(34) + ' = ' + chr(39) + '2024/08/16' + chr(39), ALB_T)}"
                      "\nGROUP BY 1, 2, 3, 4, 5, 6\nORDER BY requests DESC\nLIMIT 1000")
        state, reason, ccols, crows, _, _ = stack.run(counts_sql, span)
        check("GROUP BY count query succeeds", state == "SUCCEEDED", reason)
        check("GROUP BY totals equal the entry count", sum(int(r[ccols.index("requests")]) for r in crows) == len(rows),
              crows)
        paths_seen = sorted(r[ccols.index("path")] for r in crows)
        check("url_extract_path gives Trino's path", paths_seen == ["/", "/", "/", "/api/orders"], paths_seen)
        no_target = {r[ccols.index("elb_status_code")]: r[ccols.index("no_target_response")] for r in crows}
        check("count_if and doubles print as Trino does", no_target.get("502") == "1"
              and any(r[ccols.index("avg_target_time")] == "0.001" for r in crows), crows)
        state, reason, *_ = stack.run(f"SELECT elb_status_code AS s, count(*) FROM {table} WHERE \"day\" = '2024/08/16' "
                                      "GROUP BY s")
        check("GROUP BY a select alias FAILS as in Trino", state == "FAILED" and "COLUMN_NOT_FOUND" in reason, reason)

        # ---- the rewritten counts query: predicates in an inner SELECT, GROUPING SETS
        path = ("array_join(transform(split(split_part(request_url, '?', 1), '/'), s -> CASE WHEN "
                "regexp_like(s, '^[0-9]+$') THEN '{id}' ELSE s END), '/')")
        inner = (f"SELECT CASE WHEN {ALB_T} >= from_iso8601_timestamp('2024-08-16T11:19:00.000Z') THEN 'incident' "
                 f"ELSE 'baseline' END AS phase, elb_status_code, request_verb, {path} AS path, target_processing_time, "
                 f"time\nFROM {table}\n{where(chr(34) + 'day' + chr(34) + ' IN (' + chr(39) + '2024/08/16' + chr(39) + ')', ALB_T)}")
        grouped = ("SELECT phase, elb_status_code, request_verb, path, grouping(request_verb, path) AS {r}, "
                   f"count(*) AS requests\nFROM (\n{inner}\n) AS entries\nGROUP BY GROUPING SETS ((phase, elb_status_code), "
                   "(phase, elb_status_code, request_verb, path))\nORDER BY {r} DESC, requests DESC, path")
        state, reason, gcols, grows, qe, _ = stack.run(grouped.replace('{r}', '"rollup"'), span)
        totals = sum(int(r[gcols.index("requests")]) for r in grows or [] if r[gcols.index("rollup")] == "3")
        t = stack.report(qe["QueryExecutionId"])["tables"][0]
        check("GROUPING SETS over a subquery: totals equal the entries, inner WHERE prunes",
              state == "SUCCEEDED" and totals == len(rows) and len(t["partitions_touched"]) == 1, (reason, grows))
        state, reason, *_ = stack.run(grouped.replace('{r}', 'rollup'), span)
        check("unquoted reserved word (ROLLUP) FAILS", state == "FAILED" and reason.startswith("SYNTAX_ERROR"), reason)

        # ---- functions
        state, reason, fcols, frows, _, _ = stack.run(
            "SELECT try(parse_datetime('bad', 'yyyy')) AS a, parse_datetime('2024-08-16T11:19:00.123456Z', "
            "'yyyy-MM-dd''T''HH:mm:ss.SSSSSS''Z''') AS b, from_iso8601_timestamp('2024-08-16T11:19:00Z') AS c, "
            "TIMESTAMP '2024-08-16 11:19:00.000 UTC' = from_iso8601_timestamp('2024-08-16T11:19:00.000Z') AS d, "
            "regexp_replace('abc', '(b)', '<$1>') AS e, split_part('a.b', '.', 3) AS f, regexp_like('abc', 'b') AS g, "
            "element_at(ARRAY[1, 2], 5) AS h, cardinality(ARRAY[1, 2]) AS i, 1.0E-4 * 1 AS j, 2.5E7 AS k, "
            "url_extract_path('http://host') AS l, try(from_iso8601_timestamp('2024-08-16 11:19:00')) AS m, "
            "json_extract_scalar('{\"a\":{\"b\":1}}', '$.a') AS n, regexp_extract('abc', 'z') AS o, 7 AS p")
        got = dict(zip(fcols, frows[0])) if frows else reason
        check("Trino function shims", got == {
            "a": None, "b": "2024-08-16 11:19:00.123 UTC", "c": "2024-08-16 11:19:00.000 UTC", "d": "true",
            "e": "a<b>c", "f": None, "g": "true", "h": None, "i": "2", "j": "1.0E-4", "k": "2.5E7", "l": "",
            "m": None, "n": None, "o": None, "p": "7"}, got)
        state, reason, *_ = stack.run("SELECT from_iso8601_timestamp('2024-08-16 11:19:00')")
        check("from_iso8601_timestamp is strict without try", state == "FAILED"
              and reason.startswith("INVALID_FUNCTION_ARGUMENT"), reason)

        # ---- CloudTrail (projected, struct access, JSON text columns)
        ct_table = '"aiops_db"."cloud_trail_logs"'
        changes = "(readonly IS NULL OR readonly <> 'true' OR errorcode IS NOT NULL)"
        sql = (f"SELECT {CLOUDTRAIL_SELECT}\nFROM {ct_table}\n"
               f"{where(chr(34) + 'timestamp' + chr(34) + ' IN (' + chr(39) + '2024/08/16' + chr(39) + ')', CT_T, [changes])}"
               "\nLIMIT 100001")
        state, reason, cols, rows, qe, _ = stack.run(sql, span)
        check("CloudTrail changes query succeeds", state == "SUCCEEDED", reason)
        got = [(r[cols.index("eventname")], r[cols.index("errorcode")]) for r in rows]
        check("changes and errors; the malformed eventtime is dropped by try",
              got == [("StopInstances", None), ("DescribeInstances", "AccessDenied")], got)
        r0 = dict(zip(cols, rows[0]))
        check("struct fields and JSON text columns", r0["session_issuer_username"] == "Admin"
              and r0["identity_type"] == "AssumedRole" and r0["readonly"] == "false"
              and r0["requestparameters"] == '{"instancesSet":{"items":[{"instanceId":"i-0abc"}]}}'
              and r0["resource_arns"] == '["arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"]', r0)
        t = stack.report(qe["QueryExecutionId"])["tables"][0]
        check("CloudTrail timestamp predicate touches 1 partition", len(t["partitions_touched"]) == 1
              and t["partitions_total"] == (dt.datetime.now(dt.timezone.utc).date() - dt.date(2020, 1, 1)).days + 1,
              (len(t["partitions_touched"]), t["partitions_total"]))
        state, _, cols, rows, _, _ = stack.run(
            f"SELECT useridentity, resources FROM {ct_table} WHERE \"timestamp\" = '2024/08/17'")
        check("ROW and ARRAY values print like Athena", rows and rows[0][1].startswith("[{arn=arn:aws:ec2:")
              and "sessionissuer={type=Role" in rows[0][0], rows)
        state, reason, *_ = stack.run(f"SELECT useridentity.nosuch FROM {ct_table}")
        check("unknown struct field FAILS", state == "FAILED" and "Column 'useridentity.nosuch' cannot be resolved"
              in reason, reason)

        # ---- plain Hive partitions from Glue
        hive = '"aiops_db"."alb_access_logs_hive"'
        state, reason, _, rows, qe, _ = stack.run(
            f"SELECT count(*) FROM {hive} WHERE (\"year\" = '2024' AND \"month\" = '08' AND \"day\" = '16')")
        t = stack.report(qe["QueryExecutionId"])["tables"][0]
        check("Hive partitions: year/month/day predicate touches 1 of 2",
              rows == [["6"]] and t["partitions_touched"] == [{"year": "2024", "month": "08", "day": "16"}]
              and t["partitions_total"] == 2, (rows, t, reason))

        # ---- paging: the header row counts on page one
        state, _, cols, rows, _, _ = stack.run(f"SELECT time FROM {table} WHERE \"day\" = '2024/08/16' ORDER BY time",
                                               page=2)
        check("pages of 2 (header first) return every row in order", len(rows) == 6
              and rows[0] == ["2024-08-16T09:00:00.000000Z"] and rows[-1] == [None], rows)

        # ---- API constraints an SDK without client-side validation (Rust) would not catch
        req = urllib.request.Request(stack.url + "/", method="POST", data=json.dumps(
            {"QueryString": "SELECT 1", "ExecutionParameters": []}).encode(), headers={
            "X-Amz-Target": "AmazonAthena.StartQueryExecution", "Content-Type": "application/x-amz-json-1.1"})
        try:
            urllib.request.urlopen(req)
            status, body = 200, {}
        except urllib.error.HTTPError as e:
            status, body = e.code, json.load(e)
        check("ExecutionParameters: [] is rejected (min 1 item)",
              status == 400 and body.get("__type") == "InvalidRequestException", (status, body))

        # ---- cancel
        with urllib.request.urlopen(urllib.request.Request(stack.url + "/standin/config", method="POST",
                                                           data=json.dumps({"running_polls": 100}).encode())):
            pass
        qid = stack.athena.start_query_execution(QueryString="SELECT 1")["QueryExecutionId"]
        stack.athena.stop_query_execution(QueryExecutionId=qid)
        st = stack.athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"]
        try:
            stack.athena.get_query_results(QueryExecutionId=qid)
            err = None
        except stack.athena.exceptions.InvalidRequestException as e:
            err = str(e)
        check("StopQueryExecution cancels; results then fail with InvalidRequestException",
              st == "CANCELLED" and err and "CANCELLED" in err, (st, err))
    finally:
        stack.close()
    print(f"{passed} passed, 0 failed")


if __name__ == "__main__":
    main()
