#!/usr/bin/env python3
"""Load and crash test of `tessera serve`'s metering (the fixture model, a fresh ledger).

Part 1 (load): CLIENTS threads send COUNT requests in all, under one key whose
plan has a small budget: completions and chats, plain and streamed, random
max_tokens, random aborts mid-stream (the connection closed after 1-4
chunks), so many requests get 429 insufficient_quota. Then:
  - 200s + 429s + aborted = requests sent (nothing else: no 5xx, no broken stream);
  - the ledger has exactly one request id per 200 or aborted request and none for a 429;
  - charged for the account <= its budget; every charge = the price of its tokens;
  - no open reservation (every 'reserve' row has its commit/interrupt row);
  - every completed response's usage = its commit row (request_id = response id);
  - counters as kept = recomputed (`tessera usage audit`) and the ledger's own invariants.
Part 2 (crash): traffic again under a second, unlimited key; the server is
killed with SIGKILL mid-load; every response a client saw complete (a plain
200 with its body, or a stream that got [DONE]) must already have its commit
row; the server restarts on the same database and instance name (recover()),
after which no reservation is open, each interrupted one charged its prompt,
and the audit passes.
With --servers N > 1, N `tessera serve` processes share the one ledger (each
its own --instance) and the clients spread their requests round-robin over
them; part 1's checks hold over all of them together (one budget, one ledger).
In part 2 one server is killed with SIGKILL while the others keep serving:
every response complete at that moment has its commit row; the killed server
restarts with the same --instance while the others serve on; its recover()
interrupts exactly the killed instance's open reservations, the other
instances' reservations are left to be settled by their own servers; then
the same final checks. --db takes an SQLite path or a postgresql:// URL (a new
database is made on that cluster: serve_util.fresh_db).
Exit status 0 when everything holds; otherwise 1 with a FAIL line.

Usage: load_test.py --tessera build/tessera --fixture DIR [--count 3000] [--clients 64]
                    [--db PATH|postgresql://...] [--servers N]
"""
import argparse
import collections
import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_util as su  # noqa: E402
from serve_util import check  # noqa: E402
import load_client as lc  # noqa: E402

INPUT_PRICE, OUTPUT_PRICE = 1_000_000, 2_000_000  # 1 micro per prompt token, 2 per completion token
INSTANCE = "loadtest"


def instance_name(a, i):
    return INSTANCE if a.servers == 1 else "%s-%d" % (INSTANCE, i)


class Traffic:
    """CLIENTS threads share a request budget (COUNT) or run until STOP is set. Request k goes to
    slots[k % len(slots)], or the next slot holding a server (a slot set to None under LOCK takes
    no new requests). outcomes[i] was sent to the server object targets[i]."""

    def __init__(self, slots, key, clients, seed, count=None, stop=None, model=su.MODEL_NAME):
        self.slots, self.lock = slots, threading.Lock()
        self.outcomes, self.targets, self.issued = [], [], [0]

        def worker(i):
            rng = random.Random(seed * 1000 + i)
            while True:
                with self.lock:
                    if (count is not None and self.issued[0] >= count) or (stop is not None and stop.is_set()):
                        return
                    k = self.issued[0]
                    self.issued[0] += 1
                    live = [srv for srv in self.slots[k % len(self.slots):] + self.slots[:k % len(self.slots)] if srv]
                    server = live[0]
                body, abort_after = lc.random_request(rng, model)
                o = lc.send("127.0.0.1", server.port, key, body, abort_after)
                with self.lock:
                    self.outcomes.append(o)
                    self.targets.append(server)

        self.threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join()

    def snapshot(self):
        with self.lock:
            return list(zip(self.outcomes, self.targets))


def check_completed_against_ledger(outcomes, by_request, what):
    """Each completed response: its commit row, status completed, usage equal when the client got one."""
    compared = 0
    for o in outcomes:
        if o.kind != "ok":
            continue
        check(o.id, "%s: a completed response without an id" % what)
        e = by_request.get(o.id)
        check(e is not None and e["final"], "%s: completed response %s has no commit row" % (what, o.id))
        row = e["final"][0]
        check(row["kind"] == "commit" and row["status"] == "completed",
              "%s: completed response %s has final row %s/%s" % (what, o.id, row["kind"], row["status"]))
        if o.usage is not None:
            got = (o.usage["prompt_tokens"], o.usage["completion_tokens"])
            check(got == (row["prompt_tokens"], row["completion_tokens"]),
                  "%s: response %s usage %r != ledger commit (%d, %d)" % (what, o.id, got, row["prompt_tokens"],
                                                                         row["completion_tokens"]))
            check(o.usage["completion_tokens"] <= o.max_tokens, "%s: %s generated %d > max_tokens %d" %
                  (what, o.id, o.usage["completion_tokens"], o.max_tokens))
            compared += 1
    return compared


def check_prices(rows):
    for r in rows:
        if r["kind"] in ("commit", "interrupt"):
            want = su.cost_micros(r["prompt_tokens"], r["completion_tokens"], INPUT_PRICE, OUTPUT_PRICE)
            check(r["cost_micros"] == want, "request %s charged %d micros; its tokens (%d, %d) cost %d" %
                  (r["request_id"], r["cost_micros"], r["prompt_tokens"], r["completion_tokens"], want))


def part_load(a, checkpoint, db, key, budget):
    servers = []
    try:
        for i in range(a.servers):
            servers.append(su.Server(a.tessera, checkpoint, db, a.work, instance=instance_name(a, i),
                                     log_name="load_server.log" if a.servers == 1 else "load_server%d.log" % i))
        t0 = time.monotonic()
        traffic = Traffic(list(servers), key, a.clients, a.seed, count=a.count)
        traffic.join()
        outcomes = traffic.outcomes
        traffic_s = time.monotonic() - t0
        kinds = collections.Counter(o.kind for o in outcomes)
        errors = [o for o in outcomes if o.kind in ("error", "truncated", "conn_error")]
        check(not errors, "%d requests failed; first: status %d %s" % (len(errors), errors[0].status, errors[0].detail)
              if errors else "")
        check(len(outcomes) == a.count and kinds["ok"] + kinds["429"] + kinds["aborted"] == a.count,
              "sent %d, got %d outcomes: %r" % (a.count, len(outcomes), dict(kinds)))
        codes = collections.Counter(o.error_code for o in outcomes if o.kind == "429")
        check(set(codes) <= {"insufficient_quota"}, "429 codes %r (the plan has only a budget)" % dict(codes))
        check(kinds["429"] > 0, "no request was refused: the budget (%d micros) was never reached" % budget)
        aborted_ids = [o.id for o in outcomes if o.kind == "aborted"]
        check(all(aborted_ids), "an aborted stream had no id in its first chunk")

        # Aborted streams settle at the engine's next step: wait for them, briefly.
        t1 = time.monotonic()
        open_left = su.wait_until(lambda: not su.open_reservations(su.ledger_rows(db)), 15)
        settle_s = time.monotonic() - t1
        rows = su.ledger_rows(db)
        check(open_left, "open reservations 15 s after the last response: %r" % su.open_reservations(rows)[:5])
        by_request = su.check_ledger_consistent(rows)
        check_prices(rows)
        ids = set(by_request)
        want_ids = {o.id for o in outcomes if o.kind in ("ok", "aborted")}
        check(ids == want_ids, "ledger request ids != the 200/aborted responses: %d only in the ledger, %d only "
              "seen by clients" % (len(ids - want_ids), len(want_ids - ids)))
        compared = check_completed_against_ledger(outcomes, by_request, "load")
        for rid in aborted_ids:
            f = by_request[rid]["final"][0]
            check(f["kind"] == "commit" and f["status"] in ("cancelled", "completed"),
                  "aborted stream %s settled as %s/%s" % (rid, f["kind"], f["status"]))
        # Each request's rows are written by the server that took it (its instance name).
        instance_of = {srv: instance_name(a, i) for i, srv in enumerate(servers)}
        for o, srv in zip(outcomes, traffic.targets):
            if o.kind in ("ok", "aborted"):
                e = by_request[o.id]
                check(e["reserve"]["instance"] == e["final"][0]["instance"] == instance_of[srv],
                      "request %s went to instance %s but its rows name %s/%s" %
                      (o.id, instance_of[srv], e["reserve"]["instance"], e["final"][0]["instance"]))
        per_instance = collections.Counter(r["instance"] for r in rows if r["kind"] == "commit")
        if a.servers > 1:
            check(len(per_instance) == a.servers, "commit rows from %d of %d servers: %r" %
                  (len(per_instance), a.servers, dict(per_instance)))
        charged = su.charged_micros(rows)
        check(charged <= budget, "charged %d micros > budget %d" % (charged, budget))
        su.check_counters(db, "after the load")
        audit_out = su.audit(a.tessera, db).strip()
    finally:
        codes = [(srv, srv.stop()) for srv in servers]
    for srv, code in codes:
        check(code == 0, "server exit code %s after SIGTERM\n%s" % (code, srv.log_tail()))
    cancelled = sum(1 for e in by_request.values() if e["final"][0]["status"] == "cancelled")
    lat = sorted(o.t_end - o.t_start for o in outcomes if o.kind == "ok")
    out = {
        "requests": a.count, "clients": a.clients, "ok": kinds["ok"], "429": kinds["429"], "aborted": kinds["aborted"],
        "cancelled_rows": cancelled, "usage_compared": compared, "streams": sum(o.stream for o in outcomes),
        "charged_micros": charged, "budget_micros": budget, "ledger_rows": len(rows),
        "completion_tokens": sum(r["completion_tokens"] for r in rows if r["kind"] == "commit"),
        "traffic_s": traffic_s, "req_per_s": a.count / traffic_s, "settle_wait_s": settle_s,
        "p50_ok_s": lat[len(lat) // 2] if lat else 0, "p99_ok_s": lat[int(len(lat) * 0.99)] if lat else 0,
        "audit": audit_out.splitlines()[-1] if audit_out else "",
    }
    if a.servers > 1:
        out["servers"] = a.servers
        out["commits_per_instance"] = "/".join("%s:%d" % kv for kv in sorted(per_instance.items()))
    return out


def part_crash(a, checkpoint, db, key):
    server = su.Server(a.tessera, checkpoint, db, a.work, instance=INSTANCE, log_name="crash_server.log")
    stop = threading.Event()
    t0 = time.monotonic()
    traffic = Traffic([server], key, a.clients, a.seed + 1, stop=stop)
    outcomes, issued = traffic.outcomes, traffic.issued
    # Kill once traffic is in full swing: some requests done, many in flight.
    su.wait_until(lambda: sum(o.kind == "ok" for o in list(outcomes)) >= a.crash_after, 60, 0.02)
    stop.set()  # no new requests; the ones in flight are cut by the kill
    server.kill()
    killed_at = time.monotonic() - t0
    traffic.join()
    completed = [o for o in outcomes if o.kind == "ok"]
    check(len(completed) >= 1, "no response completed before the kill")
    bad = [o for o in outcomes if o.kind in ("error", "429")]
    check(not bad, "before the kill: %d unexpected outcomes, first: %d %s" %
          (len(bad), bad[0].status, bad[0].detail) if bad else "")

    # Before any restart: the responses clients saw complete are already committed.
    rows = su.ledger_rows(db)
    before = su.rows_by_request(rows)
    check_completed_against_ledger(completed, before, "after kill -9")
    open_before = su.open_reservations(rows)

    server2 = su.Server(a.tessera, checkpoint, db, a.work, instance=INSTANCE, log_name="crash_restart.log")
    try:
        rows = su.ledger_rows(db)
        check(not su.open_reservations(rows), "after restart (recover): %d reservations still open" %
              len(su.open_reservations(rows)))
        by_request = su.check_ledger_consistent(rows)
        check_prices(rows)
        interrupted = [rid for rid in open_before if by_request[rid]["final"][0]["kind"] == "interrupt"]
        check(len(interrupted) == len(open_before), "recover(): %d of %d open reservations got an interrupt row" %
              (len(interrupted), len(open_before)))
        check_completed_against_ledger(completed, by_request, "after restart")
        su.check_counters(db, "after kill -9 and restart")
        audit_out = su.audit(a.tessera, db).strip()
    finally:
        code = server2.stop()
    check(code == 0, "restarted server exit code %s\n%s" % (code, server2.log_tail()))
    kinds = collections.Counter(o.kind for o in outcomes)
    return {"sent": issued[0], "completed_before_kill": len(completed), "aborted": kinds["aborted"],
            "cut_by_kill": kinds["conn_error"] + kinds["truncated"], "open_at_kill": len(open_before),
            "interrupt_rows": len(interrupted), "killed_after_s": killed_at,
            "audit": audit_out.splitlines()[-1] if audit_out else ""}


def part_crash_multi(a, checkpoint, db, key):
    """--servers N > 1: kill -9 one server mid-load while the others keep serving, restart it with its
    --instance while they go on, then the final checks."""
    names = [instance_name(a, i) for i in range(a.servers)]
    victim_i = 0
    victim_name = names[victim_i]
    servers = []
    stop = threading.Event()
    traffic = None
    try:
        for i in range(a.servers):
            servers.append(su.Server(a.tessera, checkpoint, db, a.work, instance=names[i],
                                     log_name="crash_server%d.log" % i))
        slots = list(servers)
        t0 = time.monotonic()
        traffic = Traffic(slots, key, a.clients, a.seed + 1, stop=stop)
        su.wait_until(lambda: sum(o.kind == "ok" for o in list(traffic.outcomes)) >= a.crash_after, 60, 0.02)
        victim = servers[victim_i]
        with traffic.lock:
            slots[victim_i] = None  # no new requests for it; those in flight are cut by the kill
        victim.kill()
        killed_at = time.monotonic() - t0

        # At the kill: every response a client saw complete (from any server) is committed.
        seen = traffic.snapshot()
        completed_at_kill = [o for o, _ in seen if o.kind == "ok"]
        check(any(srv is victim for o, srv in seen if o.kind == "ok"),
              "the killed server completed no request before the kill")
        rows = su.ledger_rows(db)
        check_completed_against_ledger(completed_at_kill, su.rows_by_request(rows), "after kill -9")
        reserve_of = {r["request_id"]: r for r in rows if r["kind"] == "reserve"}
        open_at_kill = su.open_reservations(rows)
        open_victim = {rid for rid in open_at_kill if reserve_of[rid]["instance"] == victim_name}
        open_others = {rid for rid in open_at_kill if reserve_of[rid]["instance"] != victim_name}
        check(all(reserve_of[rid]["instance"] in names for rid in open_at_kill), "open reservations of unknown "
              "instances: %r" % sorted({reserve_of[rid]["instance"] for rid in open_at_kill}))

        # The others serve on while the killed one is down.
        ok_others_at_kill = sum(o.kind == "ok" and srv is not victim for o, srv in seen)
        served_down = su.wait_until(lambda: sum(o.kind == "ok" and srv is not victim
                                                for o, srv in traffic.snapshot()) >= ok_others_at_kill + 20, 30, 0.02)
        check(served_down, "the other servers completed < 20 requests in 30 s after the kill")

        # Restart with the same --instance (recover() runs before it listens), with traffic on the others.
        restarted = su.Server(a.tessera, checkpoint, db, a.work, instance=victim_name, log_name="crash_restart.log")
        servers.append(restarted)
        rows = su.ledger_rows(db)
        by_request = su.rows_by_request(rows)
        interrupted = {r["request_id"] for r in rows if r["kind"] == "interrupt"}
        check(interrupted == open_victim, "recover() of %s: interrupt rows for %d requests, %d of its reservations "
              "were open at the kill (%d interrupt rows of other requests, %d open ones without)" %
              (victim_name, len(interrupted), len(open_victim), len(interrupted - open_victim),
               len(open_victim - interrupted)))
        check(all(r["instance"] == victim_name for r in rows if r["kind"] == "interrupt"),
              "an interrupt row names another instance than %s" % victim_name)
        recovered_log = restarted.log_tail()
        check("instance %s: %d reservation(s)" % (victim_name, len(open_victim)) in recovered_log,
              "the restarted server's log does not report %d interrupted reservations:\n%s" %
              (len(open_victim), recovered_log))
        others_open_at_restart = sum(1 for rid in open_others if not by_request[rid]["final"])
        with traffic.lock:
            slots[victim_i] = restarted
        ok_restarted = su.wait_until(lambda: sum(o.kind == "ok" and srv is restarted
                                                 for o, srv in traffic.snapshot()) >= 10, 30, 0.02)
        check(ok_restarted, "the restarted server completed < 10 requests in 30 s")
        stop.set()
        traffic.join()

        outcomes = traffic.outcomes
        bad = [o for o, srv in zip(outcomes, traffic.targets)
               if o.kind in ("error", "429") or (srv is not victim and o.kind not in ("ok", "aborted"))]
        check(not bad, "%d unexpected outcomes (only requests cut by the kill may fail), first: %d %s %s" %
              (len(bad), bad[0].status, bad[0].kind, bad[0].detail) if bad else "")
        open_left = su.wait_until(lambda: not su.open_reservations(su.ledger_rows(db)), 15)
        rows = su.ledger_rows(db)
        check(open_left, "open reservations 15 s after the last response: %r" % su.open_reservations(rows)[:5])
        by_request = su.check_ledger_consistent(rows)
        check_prices(rows)
        check({r["request_id"] for r in rows if r["kind"] == "interrupt"} == open_victim,
              "interrupt rows other than the killed instance's reservations open at the kill")
        for rid in open_others:
            f = by_request[rid]["final"][0]
            check(f["kind"] == "commit" and f["status"] in ("completed", "cancelled") and
                  f["instance"] == reserve_of[rid]["instance"],
                  "reservation %s of %s (open at the kill) settled as %s/%s by %s" %
                  (rid, reserve_of[rid]["instance"], f["kind"], f["status"], f["instance"]))
        completed = [o for o in outcomes if o.kind == "ok"]
        check_completed_against_ledger(completed, by_request, "after restart")
        for o, srv in zip(outcomes, traffic.targets):
            if o.kind == "aborted" and o.id not in open_victim:
                f = by_request[o.id]["final"][0]
                check(f["kind"] == "commit" and f["status"] in ("cancelled", "completed"),
                      "aborted stream %s settled as %s/%s" % (o.id, f["kind"], f["status"]))
        su.check_counters(db, "after kill -9 and restart")
        audit_out = su.audit(a.tessera, db).strip()
    finally:
        stop.set()
        if traffic is not None:
            traffic.join()
        codes = [(srv, srv.stop()) for srv in servers if not srv.log.closed]  # all but the killed one
    for srv, code in codes:
        check(code == 0, "server exit code %s after SIGTERM\n%s" % (code, srv.log_tail()))
    kinds = collections.Counter(o.kind for o in outcomes)
    to_victim = [o for o, srv in zip(outcomes, traffic.targets) if srv is victim]
    return {"sent": traffic.issued[0], "servers": a.servers, "killed": victim_name,
            "completed_before_kill": len(completed_at_kill),
            "completed_by_killed": sum(o.kind == "ok" for o in to_victim),
            "cut_by_kill": sum(o.kind in ("conn_error", "truncated") for o in to_victim),
            "aborted": kinds["aborted"], "open_at_kill_killed": len(open_victim),
            "open_at_kill_others": len(open_others), "others_still_open_at_restart": others_open_at_restart,
            "interrupt_rows": len(open_victim), "completed_after_restart": sum(
                o.kind == "ok" for o, srv in zip(outcomes, traffic.targets) if srv is restarted),
            "completed_total": len(completed), "killed_after_s": killed_at,
            "audit": audit_out.splitlines()[-1] if audit_out else ""}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--fixture", required=True, help="folder of make_fixture.py (built here when missing)")
    ap.add_argument("--work", help="scratch folder (default: a new temp dir)")
    ap.add_argument("--count", type=int, default=3000, help="requests in part 1 (CI: 600)")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--budget", type=int, default=0, help="the plan's budget in micros (default 20 x count)")
    ap.add_argument("--crash-after", type=int, default=100, help="part 2: kill -9 after this many completions")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-crash", action="store_true")
    ap.add_argument("--db", help="the ledger: an SQLite path or a postgresql:// URL, on whose cluster a new "
                    "database is made (default: WORK/load.db)")
    ap.add_argument("--servers", type=int, default=1, help="tessera serve processes sharing the ledger")
    a = ap.parse_args()
    if a.servers < 1:
        ap.error("--servers must be >= 1")
    a.work = a.work or tempfile.mkdtemp(prefix="tessera_load_")
    os.makedirs(a.work, exist_ok=True)
    budget = a.budget or 20 * a.count
    t0 = time.monotonic()
    try:
        checkpoint = su.build_tiny_model(a.tessera, a.fixture)
        db = su.fresh_db(a.db or os.path.join(a.work, "load.db"))
        su.set_plan(a.tessera, db, "small", period="month", budget_micros=budget)
        su.set_plan(a.tessera, db, "unlimited")
        su.set_price(a.tessera, db, su.MODEL_NAME, INPUT_PRICE, OUTPUT_PRICE)
        key = su.create_key(a.tessera, db, "loadco", "small", "load")
        crash_key = su.create_key(a.tessera, db, "crashco", "unlimited", "crash")
        load = part_load(a, checkpoint, db, key, budget)
        print("load: " + ", ".join("%s=%s" % (k, ("%.3f" % v) if isinstance(v, float) else v) for k, v in load.items()),
              flush=True)
        if not a.skip_crash:
            crash = (part_crash if a.servers == 1 else part_crash_multi)(a, checkpoint, db, crash_key)
            print("crash: " + ", ".join("%s=%s" % (k, ("%.2f" % v) if isinstance(v, float) else v)
                                        for k, v in crash.items()), flush=True)
    except su.Failure as e:
        su.die(str(e))
    print("PASS load_test (%.1f s)" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
