#!/usr/bin/env python3
"""Builds the serving tests' fixture with the `tessera` CLI (a few seconds):

  OUT/data/        token shards of Tiny Shakespeare, a 512-token BPE fitted to it (`tessera data prepare`)
  OUT/model/       a 2-layer, 64-wide GPT, context 128, 80 steps (`tessera pretrain`)
  OUT/fixture.db   a ledger: plans "free" (unlimited) and "tiny" (40-token quota), a price
                   for the model, and one key on each plan (`tessera plans set|price`, `tessera keys create`)
  OUT/keys.json    {"free": KEY, "tiny": KEY, "model": NAME, "checkpoint": OUT/model, "db": OUT/fixture.db}

Tests copy fixture.db or make their own database (serve_util.set_plan etc.),
so no test sees another's usage. A finished model is reused.

Usage: make_fixture.py --tessera build/tessera --out DIR [--shared-data ../shared/data]
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_util as su  # noqa: E402


def make_db(cli, db):
    """A fresh ledger at DB (a file path, replaced; or a PostgreSQL URL, on whose cluster a new empty
    database is made: serve_util.fresh_db) with the plans, the price and two keys. Returns
    {"free": KEY, "tiny": KEY, "db": the ledger used (DB itself for a path, the new database's URL)}."""
    db = su.fresh_db(db)
    su.set_plan(cli, db, "free")
    su.set_plan(cli, db, "tiny", token_quota=40)
    su.set_price(cli, db, su.MODEL_NAME, 1_000_000, 2_000_000)
    return {"free": su.create_key(cli, db, "acme", "free", "ci"),
            "tiny": su.create_key(cli, db, "smallco", "tiny", "ci"), "db": db}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", required=True, help="the tessera CLI binary")
    ap.add_argument("--out", required=True, help="fixture folder")
    ap.add_argument("--shared-data", default=su.DEFAULT_SHARED)
    a = ap.parse_args()
    t0 = time.monotonic()
    try:
        checkpoint = su.build_tiny_model(a.tessera, a.out, a.shared_data)
        t1 = time.monotonic()
        db = os.path.join(a.out, "fixture.db")
        keys = make_db(a.tessera, db)
    except su.Failure as e:
        su.die(str(e))
    info = dict(keys, model=su.MODEL_NAME, checkpoint=checkpoint)
    with open(os.path.join(a.out, "keys.json"), "w") as f:
        json.dump(info, f, indent=1)
    print("fixture ready in %.1f s (model %.1f s): %s" % (time.monotonic() - t0, t1 - t0, a.out))


if __name__ == "__main__":
    main()
