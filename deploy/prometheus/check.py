#!/usr/bin/env python3
"""Proves every dashboard panel, alert and recording rule against a real
Prometheus scraping a real amaters-server. Run through check.sh, which runs
promtool first. Python 3.11, standard library only.

What it starts, all on loopback, in a temporary folder removed at the end:
  main   amaters-server, memory engine, TLS on the API port, API-key
         authentication, a low rate limit and a small value limit;
  full   (root only: it mounts a 3 MiB tmpfs) amaters-server on the lsm
         engine whose disk is full, so that it answers 507;
  dead   a scrape target where nothing listens;
  prometheus, scraping the three every second and evaluating recording.yml
         and alerts.yml every second.
First it checks that every alert and severity has a promtool test case where
it fires and one where it must not. It drives traffic (successes,
400/401/404/405/413/429, range, batch, backup, cache hits, failed
authentications, and 507s on "full") until the alerts it provokes are active
(10 to 45 s), waits for two more scrapes and rule evaluations, then checks
through the HTTP API:
  - the targets are up (main, full) and down (dead);
  - every rule loaded and evaluates without error, with a severity, a
    summary and a description on every alert;
  - every alert and recording expression evaluates; every metric selector in
    it returns data (or its metric and label names exist, when only the label
    values are absent because that event did not happen here); every
    recorded series exists for main;
  - the alerts this traffic must trigger are pending or firing (AmatersDown on
    dead, AmatersStorageDiskFull and AmatersHigh5xxRatio on full,
    AmatersRateLimitedSpike and AmatersAuthFailureSpike on main), and no
    other alert is active on main;
  - each dashboard's structure (schema version, datasource variable used by
    every panel and target, job and instance variables used by every
    selector, unique ids, the required rows), then every variable query and
    every panel expression, with $job, $instance and $__rate_interval
    substituted: each must evaluate, and each panel of amaters.json must
    return data.
Metrics that the server does not export yet are listed in PENDING_METRICS;
the cluster metrics of amaters-cluster.json in LATER_METRICS. An
expression that reads one of them may be empty: it is printed as PENDING or
LATER, never skipped silently. Exit status 0 when everything passed.
"""

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

# Metrics the server will export soon (the rules and panels are written
# against their names already). An expression that reads one of them may be
# empty for now; delete each name once the server exports it, and the check
# then requires data from every expression that reads it.
PENDING_METRICS = [
]

# Metrics of later releases: watch (API.md §8) and the cluster edition,
# amaters-server-cluster (§9). amaters-cluster.json and the watch and cluster
# alerts read them; this single-node check parses and evaluates those
# expressions but does not require data from them.
LATER_METRICS = [
    "amaters_cluster_is_leader",
    "amaters_cluster_term",
    "amaters_cluster_commit_index",
    "amaters_cluster_applied_index",
    "amaters_cluster_proposals_failed_total",
    "amaters_cluster_peer_send_failures_total",
    "amaters_cluster_snapshots_total",
]

# Alerts the traffic of this check must trigger (pending or firing), by the
# target they concern. An alert that reads a pending metric is PENDING until
# the metric exists.
EXPECTED_ALERTS = [
    ("dead", "AmatersDown", {}),
    ("full", "AmatersStorageDiskFull", {}),
    ("full", "AmatersHigh5xxRatio", {"severity": "warning"}),
    ("full", "AmatersHigh5xxRatio", {"severity": "critical"}),
    ("full", "AmatersStorageWritesStopped", {}),
    ("main", "AmatersRateLimitedSpike", {}),
    ("main", "AmatersAuthFailureSpike", {}),
    # The main server's certificate is valid for 10 days: warning, not critical.
    ("main", "AmatersCertificateExpiringSoon", {"severity": "warning", "kind": "serving"}),
]

# Traffic runs at least MIN_TRAFFIC_SECONDS, then until the expected alerts
# are active (rate()[5m] over a few seconds of data needs a while to pass the
# thresholds), at most MAX_TRAFFIC_SECONDS.
MIN_TRAFFIC_SECONDS = float(os.environ.get("CHECK_MIN_TRAFFIC_SECONDS", "10"))
MAX_TRAFFIC_SECONDS = float(os.environ.get("CHECK_MAX_TRAFFIC_SECONDS", "45"))
RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval is at a 15s scrape interval
REQUIRED_ROWS = {
    "amaters.json": ["traffic", "latency", "errors", "storage", "cache", "auth"],
    "amaters-cluster.json": ["watch", "cluster"],
}
# Dashboards whose panels must return data in this single-node check.
DATA_REQUIRED = {"amaters.json"}

HERE = os.path.dirname(os.path.abspath(__file__))
GRAFANA = os.path.join(os.path.dirname(HERE), "grafana")

failures = []
counts = {}


def report(status, where, expr="", detail=""):
    counts[status] = counts.get(status, 0) + 1
    line = f"  {status:<8} {where}"
    if detail:
        line += f": {detail}"
    print(line)
    if expr and status in ("FAIL", "PENDING", "LATER"):
        print(f"           {' '.join(expr.split())}")
    if status == "FAIL":
        failures.append(where)


def die(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- processes

procs = []
mounts = []


def start(name, argv, log, **kw):
    f = open(log, "wb")
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
    p.name = name
    p.log = log
    procs.append(p)
    return p


def cleanup():
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    deadline = time.time() + 10
    for p in reversed(procs):
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for m in mounts:
        subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def start_server(name, binary, args, log):
    p = start(name, [binary, "start", "--bind", "127.0.0.1:0", "--health-port", "0"] + args, log)
    deadline = time.time() + 15
    while time.time() < deadline:
        m = re.search(r"msg=serving .*?api=(\S+) health=(\S+)", tail(log, 50))
        if m:
            api, health = m.group(1), m.group(2)
            while time.time() < deadline:
                try:
                    with urllib.request.urlopen(f"http://{health}/readyz", timeout=2) as r:
                        if r.status == 200:
                            return api, health
                except OSError:
                    pass
                time.sleep(0.05)
        if p.poll() is not None:
            break
        time.sleep(0.05)
    die(f"server {name} did not start:\n{tail(log)}")


# ------------------------------------------------------------------ traffic


class Client:
    """One kept-alive connection; reconnects after the server closes it."""

    def __init__(self, addr, key=None, tls=None):
        self.host, port = addr.rsplit(":", 1)
        self.port = int(port)
        self.key = key
        self.tls = tls
        self.conn = None
        self.codes = {}

    def request(self, method, path, body=None, key=None, headers=None):
        h = dict(headers or {})
        k = self.key if key is None else key
        if k:
            h["X-API-Key"] = k
        for attempt in range(2):
            if self.conn is None:
                if self.tls:
                    self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.tls, timeout=10)
                else:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                if r.will_close:
                    self.conn.close()
                    self.conn = None
                self.codes[r.status] = self.codes.get(r.status, 0) + 1
                return r.status, data
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def b64(s):
    return base64.b64encode(s.encode()).decode()


def fill_disk(c):
    """Writes 8 KiB values until ten writes in a row are refused with 507.
    The values are random: tables compress their blocks (Snappy), so
    repetitive values would leave room once flushed, and the disk would
    not stay full."""
    refused = 0
    for i in range(5000):
        code, _ = c.request("PUT", f"/v1/collections/c/keys/fill{i:05d}", os.urandom(8192))
        if code == 507:
            refused += 1
            if refused >= 10:
                return
        elif code == 204:
            refused = 0
        else:
            die(f"filling the disk of 'full': PUT answered {code}")
    die("the disk of 'full' never filled")


def drive(main, flood, anon, full, stop, errors):
    try:
        drive_until(main, flood, anon, full, stop)
    except Exception as e:  # reported by the main thread
        errors.append(e)


def drive_until(main, flood, anon, full, stop):
    i = 0
    while not stop.is_set():
        t0 = time.time()
        k = f"k{i % 50}"
        main.request("PUT", f"/v1/collections/demo/keys/{k}", f"value {i}".encode())  # 204
        main.request("GET", f"/v1/collections/demo/keys/{k}")  # 200, cache miss
        main.request("GET", f"/v1/collections/demo/keys/{k}")  # 200, cache hit
        main.request("HEAD", f"/v1/collections/demo/keys/{k}")  # 200
        main.request("GET", "/v1/collections/demo/keys/absent")  # 404
        main.request("PUT", "/v1/collections/bad%20name/keys/k", b"x")  # 400
        main.request("PATCH", "/v1/collections/demo/keys/k", b"x")  # 405
        main.request("PUT", "/v1/collections/demo/keys/big", b"x" * 8192)  # 413
        main.request("GET", "/v1/collections/demo/range?prefix=k&limit=10")  # 200
        ops = [{"op": "set", "collection": "demo", "key": b64(f"b{i % 7}"), "value": b64("v")},
               {"op": "delete", "collection": "demo", "key": b64(f"b{(i + 3) % 7}")}]
        main.request("POST", "/v1/batch", json.dumps({"ops": ops}).encode())  # 200
        main.request("POST", "/v1/batch", b'{"ops":[{"op":"set","collection":"demo","key":"not base64!"}]}')  # 400
        main.request("DELETE", f"/v1/collections/demo/keys/{k}")  # 204
        main.request("GET", "/v1/status")  # 200
        # 60 failed authentications a second: rate()[5m] over the few seconds
        # of this check must pass the alert's 1/s.
        for _ in range(8):
            anon.request("GET", "/v1/collections/demo/keys/k0")  # 401 no credentials
            anon.request("GET", "/v1/collections/demo/keys/k0", key="not-a-key")  # 401 refused
        for _ in range(60):
            flood.request("GET", "/v1/status")  # 200 until the bucket is empty, then 429
        if full:
            full.request("PUT", f"/v1/collections/c/keys/more{i}", os.urandom(8192))  # 507
            for _ in range(3):
                full.request("GET", "/v1/collections/c/keys/fill00000")  # 200
        i += 1
        time.sleep(max(0.0, 0.25 - (time.time() - t0)))


# --------------------------------------------------------------- prometheus


class Prom:
    def __init__(self, addr):
        self.base = f"http://{addr}"

    def get(self, path, **params):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=20) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            try:
                return json.load(e)
            except ValueError:
                return {"status": "error", "error": f"HTTP {e.code}"}

    def query(self, expr):
        """(result list, None) or (None, error text)."""
        body = self.get("/api/v1/query", query=expr)
        if body.get("status") != "success":
            return None, f"{body.get('errorType', '')}: {body.get('error', body)}"
        return body["data"]["result"], None


def active_alerts(prom):
    alerts = prom.get("/api/v1/alerts")["data"]["alerts"]
    return [(a["labels"], a["state"]) for a in alerts if a["state"] in ("pending", "firing")]


def alert_matches(active, instance, name, labels):
    """The state of the first active alert of that name, instance and labels, or None."""
    for l, state in active:
        if l.get("alertname") == name and l.get("instance") == instance \
                and all(l.get(k) == v for k, v in labels.items()):
            return state
    return None


KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan", "atan2"}


def selectors(expr):
    """The vector selectors of a PromQL expression: [(text, metric name, matchers text)].
    Enough for the expressions of these files: no selector without a metric name,
    no string literal outside label matchers (other than function arguments)."""
    braces = []

    def keep(m):
        braces.append(m.group(0))
        return f"\x00{len(braces) - 1}\x00"

    s = re.sub(r"\{[^{}]*\}", keep, expr)
    s = re.sub(r'"(?:[^"\\]|\\.)*"', " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    out = []
    for m in re.finditer(r"(?<![\w:.\x00])([A-Za-z_:][\w:]*)\s*(\x00(\d+)\x00)?(\s*\()?", s):
        name, idx, call = m.group(1), m.group(3), m.group(4)
        if call or name.lower() in KEYWORDS:
            continue
        matchers = braces[int(idx)] if idx is not None else ""
        out.append((name + matchers, name, matchers))
    return out


def matcher_labels(matchers):
    return re.findall(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"', matchers)


def base_metric(name):
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix) and name[: -len(suffix)] in PENDING_METRICS + LATER_METRICS:
            return name[: -len(suffix)]
    return name


class Deps:
    """Which pending or later metrics an expression reads, through recording rules too."""

    def __init__(self):
        self.records = {}

    def of(self, expr, seen=()):
        pending, later = set(), set()
        for _, name, _ in selectors(expr):
            b = base_metric(name)
            if b in PENDING_METRICS:
                pending.add(b)
            elif b in LATER_METRICS:
                later.add(b)
            elif name in self.records and name not in seen:
                for e in self.records[name]:
                    p, l = self.of(e, seen + (name,))
                    pending |= p
                    later |= l
        return pending, later


def empty_status(deps, expr):
    pending, later = deps.of(expr)
    if pending:
        return "PENDING", "no data until the server exports " + ", ".join(sorted(pending))
    if later:
        return "LATER", "no data until the server exports " + ", ".join(sorted(later))
    return "FAIL", "returned no data"


def check_selectors(prom, deps, where, expr):
    """Every selector returns data, or its metric and label names exist.
    Returns the selectors that are empty because they read a pending or later
    metric: {"PENDING": [...], "LATER": [...]}."""
    waiting = {"PENDING": [], "LATER": []}
    for text, name, matchers in selectors(expr):
        res, err = prom.query(f"count({text})")
        if err:
            report("FAIL", f"{where}: selector {text}", detail=err)
            continue
        if res:
            continue
        status, why = empty_status(deps, text)
        if status != "FAIL":
            waiting[status].append(text)
            continue
        res, _ = prom.query(f"count({name})")
        if not res:
            report("FAIL", f"{where}: selector {text}", detail=f"no series named {name}")
            continue
        missing = []
        for label, op in matcher_labels(matchers):
            if op in ("=", "=~"):
                r, _ = prom.query(f'count({name}{{{label}!=""}})')
                if not r:
                    missing.append(label)
        if missing:
            report("FAIL", f"{where}: selector {text}", detail=f"{name} has no label {', '.join(missing)}")
        else:
            report("NOEVENT", f"{where}: {text}",
                   detail=f"{name} and its labels exist; no series has these values in this check")
    return waiting


# --------------------------------------------------------------- dashboards


def substitute(expr, job, instance_re):
    s = expr.replace("${job}", job).replace("$job", job)
    s = s.replace("${instance}", instance_re).replace("$instance", instance_re)
    s = s.replace("$__rate_interval", RATE_INTERVAL).replace("$__interval", "15s").replace("$__range", "1h")
    return s


def check_dashboard_structure(name, d):
    where = f"{name}"
    problems = []
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 39:
        problems.append(f"schemaVersion {d.get('schemaVersion')} (want 39 or later)")
    for key in ("uid", "title"):
        if not d.get(key):
            problems.append(f"no {key}")
    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no datasource variable of type datasource for prometheus")
    for v in ("job", "instance"):
        var = variables.get(v)
        if not var or var.get("type") != "query":
            problems.append(f"no {v} query variable")
        elif var.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"variable {v} does not use ${{datasource}}")
    ids = set()
    rows = []
    panels = []
    for p in d.get("panels", []):
        for q in [p] + p.get("panels", []):
            if q.get("id") in ids:
                problems.append(f"panel id {q.get('id')} used twice")
            ids.add(q.get("id"))
            if "gridPos" not in q:
                problems.append(f"panel {q.get('title')!r} has no gridPos")
            if q.get("type") == "row":
                rows.append(q.get("title", ""))
            else:
                panels.append((rows[-1] if rows else "", q))
    for want in REQUIRED_ROWS.get(name, []):
        if not any(want in r.lower() for r in rows):
            problems.append(f"no row for {want}")
    for row, p in panels:
        title = f"{row} / {p.get('title')}"
        dsr = p.get("datasource") or {}
        if dsr.get("uid") != "${datasource}" or dsr.get("type") != "prometheus":
            problems.append(f"panel {title!r} does not use the datasource variable")
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"panel {title!r} has no query")
        refs = set()
        for t in targets:
            if (t.get("datasource") or {}).get("uid") != "${datasource}":
                problems.append(f"panel {title!r} target {t.get('refId')} does not use the datasource variable")
            if t.get("refId") in refs:
                problems.append(f"panel {title!r} repeats refId {t.get('refId')}")
            refs.add(t.get("refId"))
            expr = t.get("expr", "")
            if not expr.strip():
                problems.append(f"panel {title!r} target {t.get('refId')} has no expression")
            for text, _, matchers in selectors(expr):
                if 'job="$job"' not in matchers or 'instance=~"$instance"' not in matchers:
                    problems.append(f"panel {title!r}: selector {text} lacks job=\"$job\" and instance=~\"$instance\"")
    for p in problems:
        report("FAIL", where, detail=p)
    if not problems:
        report("OK", where, detail=f"schema {d['schemaVersion']}, {len(panels)} panels, rows: {', '.join(rows)}")
    return variables, panels


def check_dashboard(prom, deps, name, job, instance_re):
    path = os.path.join(GRAFANA, name)
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        report("FAIL", name, detail=f"cannot read: {e}")
        return
    variables, panels = check_dashboard_structure(name, d)
    for v in ("job", "instance"):
        var = variables.get(v)
        if not var:
            continue
        q = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", q or "")
        if not m:
            report("FAIL", f"{name} variable {v}", detail=f"not label_values(selector, label): {q!r}")
            continue
        expr = substitute(f"count by ({m.group(2)}) ({m.group(1)})", job, instance_re)
        res, err = prom.query(expr)
        if err or not res:
            report("FAIL", f"{name} variable {v}", expr, err or "returned no values")
        else:
            values = sorted(r["metric"].get(m.group(2), "") for r in res)
            report("OK", f"{name} variable {v}", detail=", ".join(values))
    for row, p in panels:
        for t in p.get("targets") or []:
            where = f"{name} {row} / {p.get('title')} [{t.get('refId')}]"
            expr = substitute(t.get("expr", ""), job, instance_re)
            if "$" in expr:
                report("FAIL", where, expr, "unknown variable")
                continue
            res, err = prom.query(expr)
            if err:
                report("FAIL", where, expr, err)
                continue
            check_selectors(prom, deps, where, expr)
            if res:
                legend = re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", ""))
                lacking = sorted({lab for lab in legend for r in res if not r["metric"].get(lab)})
                if lacking:
                    report("FAIL", where, expr, f"the legend uses {', '.join(lacking)}, which the result lacks")
                else:
                    report("OK", where, detail=f"{len(res)} series")
                continue
            status, why = empty_status(deps, expr)
            if status == "FAIL" and name not in DATA_REQUIRED:
                status, why = "LATER", "returned no data (not required in this single-node check)"
            report(status, where, expr, why)


# ------------------------------------------------------- unit test coverage


def check_test_coverage():
    """Every alert (and each of its severities) has a promtool test case where
    it fires, and one evaluation where it must not fire."""
    with open(os.path.join(HERE, "alerts.yml")) as f:
        text = f.read()
    want = set()
    for m in re.finditer(r"- alert: (\w+)(.*?)severity: (\w+)", text, re.S):
        want.add((m.group(1), m.group(3)))
    fired, quiet = set(), set()
    for name in sorted(os.listdir(HERE)):
        if not name.endswith("_test.yml"):
            continue
        with open(os.path.join(HERE, name)) as f:
            for case in re.split(r"\n\s*- eval_time:", f.read())[1:]:
                m = re.match(r"[^\n]*\n\s*alertname: (\w+)", case)
                if not m:
                    continue
                sevs = re.findall(r"exp_labels: \{[^}]*severity: (\w+)", case.split("\n  - name:")[0])
                if sevs:
                    fired |= {(m.group(1), s) for s in sevs}
                else:
                    quiet.add(m.group(1))
    before = len(failures)
    for alert, sev in sorted(want):
        if (alert, sev) not in fired:
            report("FAIL", f"unit tests: {alert} ({sev})", detail="no case where it fires")
    for alert in sorted({a for a, _ in want}):
        if alert not in quiet:
            report("FAIL", f"unit tests: {alert}", detail="no evaluation where it must not fire")
    if len(failures) == before:
        report("OK", "unit tests", detail=f"each of the {len(want)} alert/severity pairs fires in a case, "
                                          "and each alert is checked quiet in another")


# --------------------------------------------------------------------- main


def main():
    if len(sys.argv) != 2:
        die("usage: check.py SERVER_BINARY")
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        die(f"{binary} is not an executable")
    for tool in ("prometheus", "promtool", "openssl"):
        if not shutil.which(tool):
            die(f"{tool} is not installed")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tmp = tempfile.mkdtemp(prefix="amaters-obs-check-")
    t_start = time.time()
    try:
        run(binary, tmp)
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{len(failures)} failures; " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
          + f" ({time.time() - t_start:.0f}s)")
    if failures:
        print("FAIL: deploy/prometheus/check.py")
        sys.exit(1)
    print("PASS: deploy/prometheus/check.py")


def run(binary, tmp):
    print("unit test coverage")
    check_test_coverage()
    print()
    # --- main server: TLS, API keys, rate limit 100/s, values up to 4 KiB.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "10", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", f"{tmp}/key.pem", "-out", f"{tmp}/cert.pem"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    keys = {"app": ("app-key-4f1d2c3b", ["user"]), "flood": ("flood-key-9a8b7c6d", ["user"]),
            "admin": ("admin-key-1e2f3a4b", ["admin"])}
    with open(f"{tmp}/keys.json", "w") as f:
        json.dump([{"id": n, "name": n, "user_id": n, "roles": r, "collections": ["demo"],
                    "key_hash": base64.b64encode(hashlib.sha256(k.encode()).digest()).decode()}
                   for n, (k, r) in keys.items()], f)
    with open(f"{tmp}/main.toml", "w") as f:
        f.write('[storage]\nmax_value_bytes = 4096\n'
                '[auth]\napi_keys_file = "keys.json"\n'
                '[middleware]\nrate_limit_rps = 100\nrate_limit_burst = 100\n'
                '[network]\ntls_cert = "cert.pem"\ntls_key = "key.pem"\n'
                '[audit]\nfile = "audit.log"\n')
    main_api, main_health = start_server("main", binary, ["--config", f"{tmp}/main.toml", "--engine", "memory",
                                                          "--data-dir", f"{tmp}/main"], f"{tmp}/main.log")
    print(f"main server: API https://{main_api}, health {main_health}")

    # --- full server: lsm engine on a full 3 MiB tmpfs (needs root).
    full_api = full_health = None
    mnt = f"{tmp}/full"
    os.mkdir(mnt)
    why = "needs root to mount a tmpfs" if os.geteuid() != 0 else None
    if not why:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt], capture_output=True, text=True)
        if r.returncode == 0:
            mounts.append(mnt)
        else:
            why = f"mount tmpfs: {r.stderr.strip()}"
    if why:
        if os.environ.get("CI"):
            die(f"CI must run this check as root: the disk-full server {why}")
        print(f"SKIPPED: the disk-full server ({why}); CI runs it")
    else:
        with open(f"{tmp}/full.toml", "w") as f:
            f.write("[storage]\nmemtable_size_mb = 1\n[middleware]\nrate_limit_rps = 0\n[audit]\nenabled = false\n")
        full_api, full_health = start_server("full", binary, ["--config", f"{tmp}/full.toml", "--engine", "lsm",
                                                              "--data-dir", f"{mnt}/data"], f"{tmp}/full.log")
        print(f"disk-full server: API http://{full_api}, health {full_health}")

    dead = f"127.0.0.1:{free_port()}"
    targets = {"main": main_health, "dead": dead}
    if full_health:
        targets["full"] = full_health

    # --- prometheus.
    prom_addr = f"127.0.0.1:{free_port()}"
    with open(f"{tmp}/prometheus.yml", "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                f"rule_files:\n  - {json.dumps(HERE + '/recording.yml')}\n  - {json.dumps(HERE + '/alerts.yml')}\n"
                "scrape_configs:\n  - job_name: amaters\n    static_configs:\n"
                f"      - targets: [{', '.join(targets.values())}]\n")
    r = subprocess.run(["promtool", "check", "config", f"{tmp}/prometheus.yml"], capture_output=True, text=True)
    if r.returncode:
        die(f"promtool check config:\n{r.stdout}{r.stderr}")
    prom_proc = start("prometheus", ["prometheus", f"--config.file={tmp}/prometheus.yml",
                                     f"--storage.tsdb.path={tmp}/prometheus", f"--web.listen-address={prom_addr}",
                                     "--storage.tsdb.retention.time=1h", "--log.level=warn"],
                      f"{tmp}/prometheus.log")
    prom = Prom(prom_addr)
    deadline = time.time() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://{prom_addr}/-/ready", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if prom_proc.poll() is not None or time.time() > deadline:
            die(f"prometheus did not start:\n{tail(prom_proc.log)}")
        time.sleep(0.1)
    print(f"prometheus: http://{prom_addr}")

    # --- traffic.
    tls = ssl.create_default_context(cafile=f"{tmp}/cert.pem")
    app = Client(main_api, keys["app"][0], tls)
    flood = Client(main_api, keys["flood"][0], tls)
    anon = Client(main_api, None, tls)
    admin = Client(main_api, keys["admin"][0], tls)
    code, body = admin.request("GET", "/v1/admin/backup")
    if code != 200 or len(body) < 512:
        die(f"backup of main: {code}, {len(body)} bytes")
    full = Client(full_api) if full_api else None
    if full:
        fill_disk(full)
    inst = {"main": main_health, "full": full_health, "dead": dead}
    deps = Deps()
    for g in prom.get("/api/v1/rules")["data"]["groups"]:
        for r in g["rules"]:
            if r["type"] == "recording":
                deps.records.setdefault(r["name"], []).append(r["query"])
    rule_query = {r["name"]: r["query"] for g in prom.get("/api/v1/rules")["data"]["groups"]
                  for r in g["rules"] if r["type"] == "alerting"}
    awaited = [(t, n, l) for t, n, l in EXPECTED_ALERTS if inst[t] and not deps.of(rule_query.get(n, ""))[0]]
    stop = threading.Event()
    errors = []
    driver = threading.Thread(target=drive, args=(app, flood, anon, full, stop, errors))
    t0 = time.time()
    driver.start()
    try:
        while True:
            time.sleep(1)
            elapsed = time.time() - t0
            if errors or not driver.is_alive() or elapsed >= MAX_TRAFFIC_SECONDS:
                break
            if elapsed >= MIN_TRAFFIC_SECONDS:
                active = active_alerts(prom)
                if all(alert_matches(active, inst[t], n, l) for t, n, l in awaited):
                    break
    finally:
        stop.set()
        driver.join()
    if errors:
        die(f"driving traffic: {errors[0]!r}")
    print(f"drove traffic for {time.time() - t0:.0f}s")
    for name, c in (("main", app), ("flood", flood), ("unauthenticated", anon), ("full", full)):
        if c:
            print(f"  {name}: " + ", ".join(f"{k}×{v}" for k, v in sorted(c.codes.items())))
    for want, c in ((200, app), (204, app), (400, app), (404, app), (405, app), (413, app), (429, flood), (401, anon)):
        if not c.codes.get(want):
            die(f"the traffic got no {want} answer; the check needs one")
    if full and not full.codes.get(507):
        die("the disk-full server answered no 507")

    # --- wait for two more scrapes and rule evaluations after the traffic.
    time.sleep(2.5)
    main_re = re.escape(main_health).replace("\\", "\\\\")

    print("\ntargets")
    body = prom.get("/api/v1/targets")
    health = {t["labels"]["instance"]: t["health"] for t in body["data"]["activeTargets"]}
    for name, want in (("main", "up"), ("full", "up"), ("dead", "down")):
        if not inst[name]:
            continue
        got = health.get(inst[name])
        report("OK" if got == want else "FAIL", f"target {name} {inst[name]}", detail=f"{got} (want {want})")

    # --- rules.
    print("\nrules (as Prometheus loaded them)")
    body = prom.get("/api/v1/rules")
    groups = body["data"]["groups"]
    rules = [(g["file"], g["name"], r) for g in groups for r in g["rules"]]
    files = sorted({os.path.basename(f) for f, _, _ in rules})
    if files != ["alerts.yml", "recording.yml"]:
        report("FAIL", "rule files", detail=f"loaded {files}")
    n_alert = sum(1 for _, _, r in rules if r["type"] == "alerting")
    n_rec = len(rules) - n_alert
    report("OK" if n_alert and n_rec else "FAIL", "rules loaded",
           detail=f"{n_alert} alerting, {n_rec} recording rules in {len(groups)} groups")
    for _, group, r in rules:
        kind = "alert" if r["type"] == "alerting" else "record"
        where = f"{kind} {r['name']}"
        if r["type"] == "alerting":
            sev = r.get("labels", {}).get("severity")
            where += f" ({sev})"
            ann = r.get("annotations", {})
            if sev not in ("critical", "warning"):
                report("FAIL", where, detail=f"severity {sev!r}: want critical or warning")
            for a in ("summary", "description"):
                if not ann.get(a, "").strip():
                    report("FAIL", where, detail=f"no {a} annotation")
        if r.get("health") != "ok" or r.get("lastError"):
            report("FAIL", where, r["query"], f"health {r.get('health')}: {r.get('lastError', '')}")
            continue
        res, err = prom.query(r["query"])
        if err:
            report("FAIL", where, r["query"], err)
            continue
        waiting = check_selectors(prom, deps, where, r["query"])
        if r["type"] == "recording":
            rec, err = prom.query(f'{r["name"]}{{instance="{main_health}"}}')
            if err:
                report("FAIL", where, r["name"], err)
            elif rec:
                report("OK", where, detail=f"{len(rec)} series recorded for main")
            else:
                status, why = empty_status(deps, r["query"])
                report(status, where, r["query"], why if status != "FAIL" else "recorded nothing for main")
        else:
            state = f"{len(res)} series match now" if res else "evaluates; no series match now"
            for status in ("PENDING", "LATER"):
                if waiting[status]:
                    report(status, where, r["query"],
                           f"{state}; these selectors have no data yet: {', '.join(waiting[status])}")
                    break
            else:
                report("OK", where, detail=state + "; every selector has data")

    # --- alerts this traffic triggers.
    print("\nalerts triggered by the traffic")
    active = active_alerts(prom)
    for target, name, labels in EXPECTED_ALERTS:
        where = f"{name}{labels or ''} on {target}"
        if not inst[target]:
            report("SKIPPED", where, detail="the disk-full server did not run (not root)")
            continue
        match = alert_matches(active, inst[target], name, labels)
        if match:
            report("OK", where, detail=match)
            continue
        pending, _ = deps.of(rule_query.get(name, ""))
        if pending:
            report("PENDING", where, detail="not active until the server exports " + ", ".join(sorted(pending)))
        else:
            report("FAIL", where, detail="not pending or firing")
    for l, state in active:
        if l.get("instance") not in (None, main_health):
            continue
        if not any(alert_matches([(l, state)], main_health, n, want)
                   for t, n, want in EXPECTED_ALERTS if t == "main"):
            report("FAIL", f"{l.get('alertname')} on main", detail=f"{state}, but main is not meant to trigger it: {l}")

    # --- dashboards.
    for name in ("amaters.json", "amaters-cluster.json"):
        print(f"\ndashboard {name} (job=amaters, instance={main_health}, $__rate_interval={RATE_INTERVAL})")
        check_dashboard(prom, deps, name, "amaters", main_re)

    # --- which pending and later metrics exist by now.
    print("\npending and later metrics")
    for status, names in (("PENDING", PENDING_METRICS), ("LATER", LATER_METRICS)):
        for metric in names:
            res, _ = prom.query(f'count({{__name__=~"{metric}(_bucket|_count|_sum)?"}})')
            if res:
                report("NOTE", metric, detail=f"exported now: delete it from {status}_METRICS in check.py")
            else:
                report(status, metric, detail="not exported yet")

    # --- the processes must still be running.
    for p in procs:
        if p.poll() is not None:
            report("FAIL", f"process {p.name}", detail=f"exited with {p.returncode} during the check:\n{tail(p.log)}")


if __name__ == "__main__":
    main()
