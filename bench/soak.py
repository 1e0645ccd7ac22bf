"""Soak: MINUTES of mixed traffic against one `riskloop serve` (Python standard library only).

Sets up a fresh database with `riskloop demo --no-serve` (German credit model, policy, keys),
trains and registers a second model, starts `riskloop serve`, and drives it from THREADS
clients: single and batch scores, outcome reports, reviews of decisions in review, list and
detail reads. Halfway it promotes the second model and edits the policy. It samples the
server's RSS every 10 s, and at the end stops the server gracefully and checks that every
decision acknowledged with a 2xx is in the database. Prints per-minute throughput, p50/p99
latency and RSS, error counts by status, and writes the whole record as JSON.

usage: python3 bench/soak.py RISKLOOP MINUTES THREADS OUT.json [DATABASE_URL]
"""
import csv
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import http.client

RISKLOOP, MINUTES, THREADS, OUT = os.path.abspath(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
DATABASE_URL = sys.argv[5] if len(sys.argv) > 5 else None
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


work = tempfile.mkdtemp(prefix="riskloop-soak-")
port = free_port()
db_url = DATABASE_URL or f"sqlite://{work}/riskloop-data/riskloop.db"
config = os.path.join(work, "riskloop.toml")
with open(config, "w") as f:
    # Rate limits off: the soak measures the server, not its refusals.
    f.write(f'data_dir = "{work}/riskloop-data"\nlisten = "127.0.0.1:{port}"\n'
            f'database_url = "{db_url}"\n'
            "[limits]\nintegration_per_second = 0\nanalyst_per_second = 0\nadmin_per_second = 0\n")
env = dict(os.environ, RISKLOOP_LOG="warn")
env.pop("DATABASE_URL", None)


def run(*args):
    out = subprocess.run([RISKLOOP, *args], cwd=work, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"riskloop {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


demo = run("demo", "--config", config, "--no-serve", "--no-simulate")
integration = re.search(r"\(integration\), shown once:\s+(rk_\S+)", demo).group(1)
admin = re.search(r"admin key rk_\S+, shown once:\s+(rk_\S+)", demo).group(1)
analyst = re.search(r"^\s+(rk_\S+)", run("keys", "--config", config, "create", "--name", "soak analyst",
                                         "--role", "analyst"), re.M).group(1)
dataset = os.path.join(work, "riskloop-data", "demo", "dataset")
models = os.path.join(work, "models2")
time.sleep(1.1)  # versions are named to the second: the second model must not share one
run("train", "--data", dataset, "--out", models, "--seed", "2")
second = os.path.join(models, os.listdir(models)[0])
run("models", "--config", config, "register", second)
second_version = os.path.basename(second)
policy_path = os.path.join(work, "riskloop-data", "policy.toml")

rows = list(csv.DictReader(open(os.path.join(HERE, "..", "data", "german_credit.csv"))))
applications = []
for r in rows:
    a = {}
    for k, v in r.items():
        if k == "creditability":
            continue
        try:
            a[k] = float(v)
        except ValueError:
            a[k] = v
    applications.append(a)

server = subprocess.Popen([RISKLOOP, "serve", "--config", config], cwd=work, env=env,
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "serve.log"), "w"))
for _ in range(300):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/readyz")
        if c.getresponse().status == 200:
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    sys.exit("the server did not become ready")

lock = threading.Lock()
records = []          # (t, kind, status, seconds)
acknowledged = []     # decision ids answered 2xx
approved = []         # decision ids approved, for outcomes
in_review = []        # decision ids in review, for reviews
started = time.time()
deadline = started + MINUTES * 60
events = []


def client(seed):
    rnd = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(method, path, key, body=None):
        nonlocal conn
        headers = {"Authorization": f"Bearer {key}"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        t = time.time()
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            text = r.read()
            status = r.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status, text = 0, b""
        return status, text, time.time() - t

    while time.time() < deadline:
        x = rnd.random()
        if x < 0.60:
            kind = "score"
            status, text, dt = call("POST", "/v1/score", integration,
                                    {"application": rnd.choice(applications)})
            if status == 200:
                d = json.loads(text)
                with lock:
                    acknowledged.append(d["decision_id"])
                    if d["decision"] == "approve":
                        approved.append(d["decision_id"])
                    elif d["decision"] == "review":
                        in_review.append(d["decision_id"])
        elif x < 0.70:
            kind = "batch"
            body = {"applications": [{"application": rnd.choice(applications)} for _ in range(10)]}
            status, text, dt = call("POST", "/v1/score/batch", integration, body)
            if status == 200:
                with lock:
                    acknowledged.extend(d["decision_id"] for d in json.loads(text)["decisions"])
        elif x < 0.80:
            kind = "outcome"
            with lock:
                pick = approved.pop() if approved else None
            if pick is None:
                continue
            status, text, dt = call("POST", "/v1/outcomes", integration, {
                "decision_id": pick, "outcome": rnd.choice(["repaid", "default"]),
                "observed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))})
        elif x < 0.85:
            kind = "review"
            with lock:
                pick = in_review.pop() if in_review else None
            if pick is None:
                continue
            status, text, dt = call("POST", f"/v1/decisions/{pick}/review", analyst,
                                    {"decision": rnd.choice(["approve", "decline"]), "note": "soak"})
        elif x < 0.95:
            kind = "list"
            status, text, dt = call("GET", "/v1/decisions?limit=50", analyst)
        else:
            kind = "detail"
            with lock:
                pick = acknowledged[rnd.randrange(len(acknowledged))] if acknowledged else None
            if pick is None:
                continue
            status, text, dt = call("GET", f"/v1/decisions/{pick}", analyst)
        with lock:
            records.append((time.time() - started, kind, status, dt))


def rss_kib():
    with open(f"/proc/{server.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


rss = []


def sampler():
    while time.time() < deadline:
        rss.append((time.time() - started, rss_kib()))
        time.sleep(10)


def midway():
    time.sleep(MINUTES * 30)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", f"/v1/models/{second_version}/promote", headers={"Authorization": f"Bearer {admin}"})
    r = c.getresponse()
    events.append((time.time() - started, f"promote {second_version}: {r.status} {r.read()[:200]!r}"))
    text = open(policy_path).read()
    text = re.sub(r'version = "[^"]*"', 'version = "soak-2"', text, count=1)
    text = text.replace("approve_min_score = 560", "approve_min_score = 550", 1)
    open(policy_path, "w").write(text)
    events.append((time.time() - started, "policy edited: soak-2"))


threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
threads += [threading.Thread(target=sampler), threading.Thread(target=midway)]
for t in threads:
    t.start()
for t in threads:
    t.join()
rss.append((time.time() - started, rss_kib()))
server.send_signal(signal.SIGTERM)
server.wait(timeout=120)

# Every acknowledged decision must be in the database.
ids = set(acknowledged)
if db_url.startswith("sqlite://"):
    db = sqlite3.connect(db_url[len("sqlite://"):])
    db.execute("CREATE TEMP TABLE acked (id TEXT PRIMARY KEY)")
    db.executemany("INSERT INTO acked VALUES (?)", [(i,) for i in ids])
    stored = db.execute("SELECT COUNT(*) FROM acked JOIN decisions USING (id)").fetchone()[0]
else:
    listing = os.path.join(work, "acked.txt")
    open(listing, "w").write("\n".join(ids) + "\n")
    out = subprocess.run(["psql", db_url, "-qAt", "-c", "CREATE TEMP TABLE acked (id TEXT PRIMARY KEY)",
                          "-c", f"\\copy acked FROM '{listing}'",
                          "-c", "SELECT COUNT(*) FROM acked JOIN decisions USING (id)"],
                         capture_output=True, text=True)
    stored = int(out.stdout.strip().splitlines()[-1])

minutes = []
for m in range(int(MINUTES + 0.999)):
    window = [r for r in records if m * 60 <= r[0] < (m + 1) * 60]
    ok = sorted(r[3] for r in window if 200 <= r[2] < 300)
    q = lambda p: ok[min(len(ok) - 1, int(p * len(ok)))] * 1000 if ok else None
    mem = [k for t, k in rss if m * 60 <= t < (m + 1) * 60]
    minutes.append({"minute": m + 1, "requests_per_s": len(window) / 60, "p50_ms": q(0.5), "p99_ms": q(0.99),
                    "rss_mib": max(mem) / 1024 if mem else None})
statuses = {}
for r in records:
    statuses[f"{r[1]} {r[2]}"] = statuses.get(f"{r[1]} {r[2]}", 0) + 1
report = {"engine": "postgres" if DATABASE_URL else "sqlite", "minutes": MINUTES, "threads": THREADS,
          "requests": len(records), "by_kind_and_status": statuses, "acknowledged_decisions": len(ids),
          "stored_of_acknowledged": stored, "events": events, "per_minute": minutes,
          "rss_kib": rss, "riskloop": RISKLOOP}
os.makedirs(os.path.dirname(os.path.abspath(OUT)), exist_ok=True)
json.dump(report, open(OUT, "w"), indent=1)
print(f"{report['engine']}: {len(records)} requests in {MINUTES} min from {THREADS} clients; "
      f"{len(ids)} decisions acknowledged, {stored} of them stored")
for k, v in sorted(statuses.items()):
    print(f"  {k}: {v}")
for e in events:
    print(f"  at {e[0]:.0f} s: {e[1]}")
print("minute  req/s   p50 ms  p99 ms  RSS MiB")
for m in minutes:
    print(f"{m['minute']:>6}  {m['requests_per_s']:>6.0f}  {m['p50_ms'] or 0:>7.2f} {m['p99_ms'] or 0:>7.2f}  {m['rss_mib'] or 0:>7.1f}")
sys.exit(0 if stored == len(ids) else 1)
