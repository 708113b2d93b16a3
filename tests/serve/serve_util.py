"""Shared pieces of the `tessera serve` acceptance tests and bench (stdlib only).

Every call of the `tessera` CLI lives here, so a changed flag spelling is fixed
in one place: building the tiny fixture model, making a ledger database with
plans, prices and keys, starting / killing a server on a free port, and
reading the ledger table (billing/ledger.h documents its columns) with sqlite3
(a file path) or with the `psql` CLI (a postgresql:// URL).
"""
import csv
import io
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_SHARED = os.path.join(REPO, "..", "shared", "data")

# The fixture model: 2 layers, 64 wide, context 128, a 512-token BPE fitted to
# Tiny Shakespeare, 80 steps. Seconds to build; text is gibberish but
# Shakespeare-shaped, which is all the serving tests need.
TINY_CONFIG = {
    "description": "serve tests fixture: a tiny GPT on Tiny Shakespeare (tests/serve/make_fixture.py)",
    "task": "language_model",
    "model": {"block_size": 128, "n_layer": 2, "n_head": 2, "n_embd": 64, "dropout": 0.0, "bias": True},
    "optimizer": {"type": "adamw", "lr": 3e-3, "weight_decay": 0.1, "betas": [0.9, 0.99], "eps": 1e-8},
    "schedule": {"type": "cosine", "warmup_steps": 5, "min_lr": 3e-4},
    "train": {"steps": 80, "batch_size": 8, "grad_accum": 1, "clip_grad_norm": 1.0, "eval_every": 80,
              "eval_batches": 2, "log_every": 10, "seed": 1337, "threads": 2, "checkpoint": {"keep_last": 1}},
}
MODEL_NAME = "tiny-shakespeare"


class Failure(Exception):
    """A check that did not hold; the message says which and with what figures."""


def check(cond, message):
    if not cond:
        raise Failure(message)


def run_cli(cli, args, timeout=600):
    """Runs `tessera ARGS`; returns stdout; raises Failure naming the command and its stderr."""
    cmd = [cli] + [str(a) for a in args]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        raise Failure("command failed (exit %d): %s\nstdout: %s\nstderr: %s" %
                      (p.returncode, " ".join(cmd), p.stdout[-2000:], p.stderr[-2000:]))
    return p.stdout


def build_tiny_model(cli, out, shared=DEFAULT_SHARED, config=None, steps=None):
    """Data shards + a pretrained checkpoint under OUT; returns the run folder. Reuses a finished one."""
    run_dir = os.path.join(out, "model")
    if os.path.exists(os.path.join(run_dir, "summary.json")):
        return run_dir
    os.makedirs(out, exist_ok=True)
    data_dir = os.path.join(out, "data")
    if not os.path.exists(os.path.join(data_dir, "meta.json")):
        run_cli(cli, ["data", "prepare", "--train-tokenizer", "bpe", "--vocab-size", 512, "--blank-line-docs",
                      "--input", os.path.join(shared, "tinyshakespeare", "input.txt"), "--out", data_dir, "--quiet"])
    cfg_path = os.path.join(out, "tiny_gpt.json")
    with open(cfg_path, "w") as f:
        json.dump(config or TINY_CONFIG, f, indent=1)
    args = ["pretrain", "--config", cfg_path, "--data", data_dir, "--out", run_dir, "--quiet"]
    if steps is not None:
        args += ["--steps", steps]
    run_cli(cli, args)
    return run_dir


def set_plan(cli, db, name, period="total", token_quota=0, budget_micros=0, rpm=0, tpm=0, max_parallel=0,
             max_output_tokens=0):
    run_cli(cli, ["plans", "set", name, "--db", db, "--period", period, "--token-quota", token_quota,
                  "--budget-micros", budget_micros, "--rpm", rpm, "--tpm", tpm, "--max-parallel", max_parallel,
                  "--max-output-tokens", max_output_tokens])


def decimal_micros(micros):
    """Micro-units as the decimal amount `tessera plans price` takes (1500000 -> "1.500000")."""
    return "%d.%06d" % divmod(micros, 1_000_000)


def set_price(cli, db, model, input_micros_per_mtok, output_micros_per_mtok):
    """A new price version for MODEL, in micro-units per million tokens."""
    run_cli(cli, ["plans", "price", model, "--db", db, "--input", decimal_micros(input_micros_per_mtok),
                  "--output", decimal_micros(output_micros_per_mtok)])


def create_key(cli, db, account, plan, name="test"):
    """Creates a key; the key text is the last line of stdout."""
    out = run_cli(cli, ["keys", "create", "--db", db, "--account", account, "--plan", plan, "--name", name])
    lines = [l.strip() for l in out.strip().splitlines() if l.strip()]
    check(lines, "keys create printed nothing")
    return lines[-1]


def audit(cli, db):
    """`tessera usage audit` (exit 0 only when counters as kept equal those recomputed from the
    ledger): checks it says so and that no reservation is open; returns a one-line summary."""
    out = json.loads(run_cli(cli, ["usage", "audit", "--db", db, "--format", "json"]))
    check(out["counters_equal"] is True, "tessera usage audit: counters differ from the ledger: %r" % out)
    check(out["open_reservations"] == 0, "tessera usage audit: %d open reservations" % out["open_reservations"])
    return "usage audit: counters_equal, 0 open, %d keys" % len(out["keys"])


# ---------------------------------------------------------------- the server

class Server:
    """`tessera serve` on a free port (--port 0 --port-file); kill() is kill -9, stop() is SIGTERM."""

    def __init__(self, cli, checkpoint, db, workdir, model_name=MODEL_NAME, instance="tests", max_batch=None,
                 extra=(), log_name="server.log", start_timeout=120):
        os.makedirs(workdir, exist_ok=True)
        self.port_file = os.path.join(workdir, "port.%d" % time.monotonic_ns())
        self.log_path = os.path.join(workdir, log_name)
        cmd = [cli, "serve", "--checkpoint", checkpoint, "--db", db, "--port", "0", "--port-file", self.port_file,
               "--model-name", model_name, "--instance", instance]
        if max_batch is not None:
            cmd += ["--max-batch", str(max_batch)]
        cmd += [str(a) for a in extra]
        self.cmd = cmd
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure("server exited at start (code %s): %s\n%s" % (self.proc.returncode, " ".join(cmd),
                                                                          self.log_tail()))
            if os.path.exists(self.port_file):
                text = open(self.port_file).read().strip()
                if text.isdigit() and self.health_ok(int(text)):
                    self.port = int(text)
                    break
            time.sleep(0.05)
        if self.port is None:
            self.kill()
            raise Failure("server did not listen within %d s: %s\n%s" % (start_timeout, " ".join(cmd), self.log_tail()))
        self.base_url = "http://127.0.0.1:%d" % self.port

    @staticmethod
    def health_ok(port):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def log_tail(self, n=3000):
        try:
            if not self.log.closed:
                self.log.flush()
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self, timeout=30):
        """SIGTERM (drain) and wait; kill -9 when it does not exit in time. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


# ---------------------------------------------------------------- the ledger

def is_url(db):
    """A PostgreSQL URL (postgresql:// or postgres://) rather than an SQLite file path (as `tessera serve` tells)."""
    return "://" in db


# Integer columns of the tables read here (psql's CSV gives text).
INT_COLUMNS = {"id", "ts_ms", "key_id", "account_id", "price_version", "prompt_tokens", "completion_tokens",
               "cost_micros", "period_start", "tokens", "micros", "open_requests"}
PSQL_NULL = "\\N"


def psql(url, sql, timeout=60):
    """Runs one statement with `psql -X --csv` against URL; returns stdout; raises Failure on an error."""
    cmd = ["psql", "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1", "-P", "null=" + PSQL_NULL, "-d", url, "-c", sql]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        raise Failure("psql failed (exit %d): %s\nstderr: %s" % (p.returncode, sql, p.stderr[-2000:]))
    return p.stdout


def pg_query(url, sql):
    """The rows of a SELECT as dicts (NULL -> None, the integer columns as ints), like sqlite3.Row."""
    out = []
    for r in csv.DictReader(io.StringIO(psql(url, sql), newline="")):
        out.append({k: None if v == PSQL_NULL else int(v) if k in INT_COLUMNS else v for k, v in r.items()})
    return out


_fresh_dbs = itertools.count()


def fresh_db(db):
    """An empty ledger to start from. A file path: the file removed; returns DB.
    A PostgreSQL URL: a new database tessera_serve_<pid>[_<n>] created on that cluster (any left
    by an earlier process with the same pid dropped first); returns the URL of the new database."""
    if not is_url(db):
        if os.path.exists(db):
            os.remove(db)
        return db
    n = next(_fresh_dbs)
    name = "tessera_serve_%d" % os.getpid() + ("_%d" % n if n else "")
    psql(db, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    psql(db, "CREATE DATABASE %s" % name)
    # scheme://[netloc]/DBNAME[?query]: only the path replaced (urlunsplit would drop an empty netloc's "//").
    scheme, rest = db.split("://", 1)
    netloc_end = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0] or [len(rest)])
    query_at = rest.find("?", netloc_end)
    return "%s://%s/%s%s" % (scheme, rest[:netloc_end], name, rest[query_at:] if query_at >= 0 else "")


def ledger_rows(db):
    """Every row of the ledger table as dicts, in insertion order."""
    if is_url(db):
        return pg_query(db, "SELECT * FROM ledger ORDER BY id")
    con = sqlite3.connect(db, timeout=30)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("SELECT * FROM ledger ORDER BY id")]
    finally:
        con.close()


def rows_by_request(rows):
    """request_id -> {'reserve': row, 'final': [commit/interrupt rows]}."""
    out = {}
    for r in rows:
        e = out.setdefault(r["request_id"], {"reserve": None, "final": []})
        if r["kind"] == "reserve":
            e["reserve"] = r
        else:
            e["final"].append(r)
    return out


def open_reservations(rows):
    return [rid for rid, e in rows_by_request(rows).items() if e["reserve"] is not None and not e["final"]]


def check_ledger_consistent(rows):
    """The invariants of the audit trail, whatever the traffic was:
    one reserve and at most one final row per request id, final rows after
    their reserve, charged <= reserved, completion <= max_tokens reserved,
    and an interrupt charges exactly the prompt tokens with no completion."""
    seen = rows_by_request(rows)
    for rid, e in seen.items():
        check(e["reserve"] is not None, "request %s has a %s row but no reserve row" % (rid, e["final"][0]["kind"]))
        reserve = e["reserve"]
        check(len(e["final"]) <= 1, "request %s has %d commit/interrupt rows" % (rid, len(e["final"])))
        for f in e["final"]:
            check(f["id"] > reserve["id"], "request %s: final row %d before its reserve %d" % (rid, f["id"], reserve["id"]))
            check(f["cost_micros"] <= reserve["cost_micros"],
                  "request %s charged %d micros > reserved %d" % (rid, f["cost_micros"], reserve["cost_micros"]))
            check(f["completion_tokens"] <= reserve["completion_tokens"],
                  "request %s: %d completion tokens > %d reserved" % (rid, f["completion_tokens"],
                                                                       reserve["completion_tokens"]))
            check(f["price_version"] == reserve["price_version"], "request %s: price version changed" % rid)
            check(f["key_id"] == reserve["key_id"] and f["account_id"] == reserve["account_id"],
                  "request %s: key/account differ between reserve and final row" % rid)
            if f["kind"] == "interrupt":
                check(f["status"] == "interrupted" and f["completion_tokens"] == 0 and
                      f["prompt_tokens"] == reserve["prompt_tokens"],
                      "request %s: interrupt row should charge the prompt only: %r" % (rid, f))
            else:
                check(f["kind"] == "commit" and f["status"] in ("completed", "cancelled", "failed"),
                      "request %s: unexpected final row %r" % (rid, f))
    return seen


def counters_as_kept(db):
    """key_id -> (tokens, micros, open_requests), summed over periods, from the counters table."""
    if is_url(db):
        out = {}
        for r in pg_query(db, "SELECT key_id, tokens, micros, open_requests FROM counters"):
            t = out.get(r["key_id"], (0, 0, 0))
            out[r["key_id"]] = (t[0] + r["tokens"], t[1] + r["micros"], t[2] + r["open_requests"])
        return {k: v for k, v in out.items() if v != (0, 0, 0)}
    con = sqlite3.connect(db, timeout=30)
    try:
        out = {}
        for key_id, tokens, micros, open_requests in con.execute(
                "SELECT key_id, tokens, micros, open_requests FROM counters"):
            t = out.get(key_id, (0, 0, 0))
            out[key_id] = (t[0] + tokens, t[1] + micros, t[2] + open_requests)
        return {k: v for k, v in out.items() if v != (0, 0, 0)}
    finally:
        con.close()


def counters_from_rows(rows):
    """The same sums recomputed from the ledger: a settled request counts its final row's tokens
    and cost, an open one its reservation (prompt + max_tokens and the reserved cost)."""
    out = {}
    for e in rows_by_request(rows).values():
        r = e["final"][0] if e["final"] else e["reserve"]
        t = out.get(r["key_id"], (0, 0, 0))
        out[r["key_id"]] = (t[0] + r["prompt_tokens"] + r["completion_tokens"], t[1] + r["cost_micros"],
                            t[2] + (0 if e["final"] else 1))
    return {k: v for k, v in out.items() if v != (0, 0, 0)}


def check_counters(db, what):
    """Counters as kept = recomputed from the ledger rows (our own audit, beside `tessera usage audit`)."""
    kept, recomputed = counters_as_kept(db), counters_from_rows(ledger_rows(db))
    check(kept == recomputed, "%s: counters as kept %r != recomputed from the ledger %r" % (what, kept, recomputed))
    return kept


def charged_micros(rows, account_id=None):
    return sum(r["cost_micros"] for r in rows
               if r["kind"] in ("commit", "interrupt") and (account_id is None or r["account_id"] == account_id))


def cost_micros(prompt, completion, input_price, output_price):
    """billing::cost_micros: ceil((p * in + c * out) / 1e6), exact."""
    return -(-(prompt * input_price + completion * output_price) // 1_000_000)


def wait_until(pred, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def die(message):
    print("FAIL: " + message, file=sys.stderr, flush=True)
    sys.exit(1)
