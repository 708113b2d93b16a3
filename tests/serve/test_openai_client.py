#!/usr/bin/env python3
"""`tessera serve` through the official `openai` Python package, unmodified.

Starts a server on a free port over the fixture model (make_fixture.py) and a
fresh ledger, then checks with `openai.OpenAI(base_url=.../v1)`:
  models.list names the model; completions.create and chat.completions.create
  return OpenAI-shaped objects whose usage equals the ledger's commit row for
  the response id (already there when the response arrives) at the model's
  price; greedy and seeded requests repeat exactly; streamed completions and chat with
  stream_options={"include_usage": True} end with a usage chunk equal to the
  ledger row and carry the same text as the plain request; a bad key raises
  AuthenticationError (401) and leaves no ledger row; a key on a 40-token
  quota gets RateLimitError (429, insufficient_quota) with max_retries=0 and
  is never charged beyond its quota; an unknown model is refused. At the end:
  no open reservation, `tessera usage audit` passes, SIGTERM exits 0.
Exit status 0 when everything holds; otherwise 1 with a FAIL line.

Usage: test_openai_client.py --tessera build/tessera --fixture DIR [--work DIR]
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_util as su  # noqa: E402
from serve_util import check  # noqa: E402
import make_fixture  # noqa: E402

import openai  # noqa: E402

INPUT_PRICE, OUTPUT_PRICE = 1_000_000, 2_000_000  # micro-units per million tokens (make_fixture.make_db)


def commit_row(db, request_id):
    rows = [r for r in su.ledger_rows(db) if r["request_id"] == request_id]
    check(rows, "no ledger row has request_id %r (the response id)" % request_id)
    final = [r for r in rows if r["kind"] == "commit"]
    check(len(final) == 1, "request %s: expected one commit row when the response arrived, got %r" % (request_id, rows))
    return final[0]


def check_usage_matches_ledger(db, request_id, usage, what):
    row = commit_row(db, request_id)
    check(usage is not None, "%s: response has no usage" % what)
    check(usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, "%s: total_tokens %d != %d + %d" %
          (what, usage.total_tokens, usage.prompt_tokens, usage.completion_tokens))
    check((row["prompt_tokens"], row["completion_tokens"]) == (usage.prompt_tokens, usage.completion_tokens),
          "%s %s: usage (%d, %d) != ledger commit row (%d, %d)" % (what, request_id, usage.prompt_tokens,
                                                                  usage.completion_tokens, row["prompt_tokens"],
                                                                  row["completion_tokens"]))
    want = su.cost_micros(usage.prompt_tokens, usage.completion_tokens, INPUT_PRICE, OUTPUT_PRICE)
    check(row["cost_micros"] == want, "%s %s: charged %d micros, price gives %d" % (what, request_id,
                                                                                     row["cost_micros"], want))
    check(row["status"] == "completed", "%s %s: commit status %r" % (what, request_id, row["status"]))
    return row


def run(a):
    info_dir = a.fixture
    checkpoint = su.build_tiny_model(a.tessera, info_dir)
    db = os.path.join(a.work, "openai_client.db")
    keys = make_fixture.make_db(a.tessera, db)
    model = su.MODEL_NAME
    server = su.Server(a.tessera, checkpoint, db, a.work, log_name="openai_client_server.log")
    try:
        base = server.base_url + "/v1"
        client = openai.OpenAI(api_key=keys["free"], base_url=base, max_retries=0, timeout=120)
        figures = {}

        # models.list
        ids = [m.id for m in client.models.list()]
        check(model in ids, "models.list gave %r, expected %r among them" % (ids, model))

        # completions.create, greedy, twice: same text, each metered exactly.
        c1 = client.completions.create(model=model, prompt="ROMEO:", max_tokens=12, temperature=0)
        check(c1.object == "text_completion", "completion object %r" % c1.object)
        check(c1.id.startswith("cmpl-"), "completion id %r should start with cmpl-" % c1.id)
        check(len(c1.choices) == 1 and isinstance(c1.choices[0].text, str), "completion choices %r" % c1.choices)
        check(c1.choices[0].finish_reason in ("stop", "length"), "finish_reason %r" % c1.choices[0].finish_reason)
        check(1 <= c1.usage.completion_tokens <= 12, "completion_tokens %d outside 1..12" % c1.usage.completion_tokens)
        check(c1.choices[0].finish_reason != "length" or c1.usage.completion_tokens == 12,
              "finish_reason length with %d of 12 tokens" % c1.usage.completion_tokens)
        check_usage_matches_ledger(db, c1.id, c1.usage, "completion")
        c2 = client.completions.create(model=model, prompt="ROMEO:", max_tokens=12, temperature=0)
        check(c2.id != c1.id, "two requests got the same id %s" % c1.id)
        check(c2.choices[0].text == c1.choices[0].text, "greedy completion differs between two runs: %r vs %r" %
              (c1.choices[0].text, c2.choices[0].text))
        figures["completion"] = (c1.usage.prompt_tokens, c1.usage.completion_tokens, c1.choices[0].text)

        # Sampling with a seed repeats too (the model's greedy text is mostly newlines after 30 steps).
        s1 = client.completions.create(model=model, prompt="ROMEO:", max_tokens=16, temperature=1.0, seed=7)
        s2 = client.completions.create(model=model, prompt="ROMEO:", max_tokens=16, temperature=1.0, seed=7)
        check(s1.choices[0].text == s2.choices[0].text, "seeded completion differs between two runs: %r vs %r" %
              (s1.choices[0].text, s2.choices[0].text))
        check_usage_matches_ledger(db, s1.id, s1.usage, "seeded completion")
        figures["seeded_completion"] = (s1.usage.prompt_tokens, s1.usage.completion_tokens, s1.choices[0].text)

        # Streamed completion with include_usage: same text as the plain one, usage chunk = ledger.
        pieces, usage, sid = [], None, None
        for chunk in client.completions.create(model=model, prompt="ROMEO:", max_tokens=16, temperature=1.0, seed=7,
                                               stream=True, stream_options={"include_usage": True}):
            check(sid is None or chunk.id == sid, "stream chunk ids differ: %s vs %s" % (sid, chunk.id))
            sid = chunk.id
            for ch in chunk.choices:
                pieces.append(ch.text)
            if chunk.usage is not None:
                check(usage is None, "two usage chunks in one stream")
                check(not chunk.choices, "the usage chunk should have empty choices, got %r" % chunk.choices)
                usage = chunk.usage
        check(usage is not None, "streamed completion with include_usage: no usage chunk")
        check("".join(pieces) == s1.choices[0].text, "streamed completion text %r != plain %r" %
              ("".join(pieces), s1.choices[0].text))
        check_usage_matches_ledger(db, sid, usage, "streamed completion")

        # chat.completions.create
        messages = [{"role": "system", "content": "You are a player."},
                    {"role": "user", "content": "Speak of the king."}]
        ch1 = client.chat.completions.create(model=model, messages=messages, max_tokens=10, temperature=1.0, seed=11)
        check(ch1.object == "chat.completion", "chat object %r" % ch1.object)
        check(ch1.id.startswith("chatcmpl-"), "chat id %r should start with chatcmpl-" % ch1.id)
        msg = ch1.choices[0].message
        check(msg.role == "assistant" and isinstance(msg.content, str), "chat message %r" % msg)
        check(ch1.model == model, "chat model %r" % ch1.model)
        check_usage_matches_ledger(db, ch1.id, ch1.usage, "chat")
        figures["chat"] = (ch1.usage.prompt_tokens, ch1.usage.completion_tokens, msg.content)

        # Streamed chat with include_usage.
        pieces, usage, sid, roles, finish = [], None, None, [], None
        stream = client.chat.completions.create(model=model, messages=messages, max_tokens=10, temperature=1.0,
                                                seed=11, stream=True, stream_options={"include_usage": True})
        for chunk in stream:
            check(chunk.object == "chat.completion.chunk", "chunk object %r" % chunk.object)
            check(sid is None or chunk.id == sid, "stream chunk ids differ: %s vs %s" % (sid, chunk.id))
            sid = chunk.id
            for c in chunk.choices:
                if c.delta.role:
                    roles.append(c.delta.role)
                if c.delta.content:
                    pieces.append(c.delta.content)
                if c.finish_reason:
                    finish = c.finish_reason
            if chunk.usage is not None:
                usage = chunk.usage
        check(roles == ["assistant"], "streamed chat roles %r (want one 'assistant' delta)" % roles)
        check(finish == ch1.choices[0].finish_reason, "streamed finish_reason %r != plain %r" %
              (finish, ch1.choices[0].finish_reason))
        check(usage is not None, "streamed chat with include_usage: no usage chunk")
        check("".join(pieces) == msg.content, "streamed chat text %r != plain %r" % ("".join(pieces), msg.content))
        check_usage_matches_ledger(db, sid, usage, "streamed chat")
        figures["stream_chat_usage"] = (usage.prompt_tokens, usage.completion_tokens)

        # A bad key: AuthenticationError, nothing in the ledger.
        n_rows = len(su.ledger_rows(db))
        bad = openai.OpenAI(api_key="sk-not-a-key", base_url=base, max_retries=0, timeout=60)
        try:
            bad.completions.create(model=model, prompt="x", max_tokens=2)
            su.die("a bad key was accepted")
        except openai.AuthenticationError as e:
            check(e.status_code == 401, "bad key: status %d, want 401" % e.status_code)
        check(len(su.ledger_rows(db)) == n_rows, "a request with a bad key wrote ledger rows")

        # An unknown model is refused (404 model_not_found, or 400) without a charge.
        try:
            client.completions.create(model="no-such-model", prompt="x", max_tokens=2)
            su.die("an unknown model was accepted")
        except (openai.NotFoundError, openai.BadRequestError) as e:
            figures["unknown_model_status"] = e.status_code
        check(len(su.ledger_rows(db)) == n_rows, "a request for an unknown model wrote ledger rows")

        # Over quota: the "tiny" plan allows 40 tokens in total.
        tiny = openai.OpenAI(api_key=keys["tiny"], base_url=base, max_retries=0, timeout=60)
        small = tiny.completions.create(model=model, prompt="KING:", max_tokens=4, temperature=0)
        check_usage_matches_ledger(db, small.id, small.usage, "tiny-plan completion")
        try:
            tiny.completions.create(model=model, prompt="KING:", max_tokens=100)
            su.die("a request for 100 tokens on a 40-token quota was accepted")
        except openai.RateLimitError as e:
            check(e.status_code == 429, "over quota: status %d" % e.status_code)
            check(e.code == "insufficient_quota", "over quota: error code %r, want insufficient_quota" % e.code)
            figures["429_message"] = str(e.message)[:160]
        # Keep asking for small completions until the quota runs out: never charged beyond it.
        denied = 0
        for _ in range(40):
            try:
                tiny.completions.create(model=model, prompt="KING:", max_tokens=4)
            except openai.RateLimitError as e:
                check(e.code == "insufficient_quota", "tiny plan: error code %r" % e.code)
                denied += 1
                break
        check(denied == 1, "40 requests on a 40-token quota never got a 429")
        rows = su.ledger_rows(db)
        tiny_acct = [r for r in rows if r["request_id"] == small.id][0]["account_id"]
        used = sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows
                   if r["account_id"] == tiny_acct and r["kind"] in ("commit", "interrupt"))
        check(used <= 40, "the tiny account used %d tokens on a 40-token quota" % used)
        figures["tiny_tokens_used"] = used

        # The audit trail.
        su.check_ledger_consistent(rows)
        check(not su.open_reservations(rows), "open reservations after all responses: %r" % su.open_reservations(rows))
        su.check_counters(db, "openai client test")
        su.audit(a.tessera, db)
    finally:
        code = server.stop()
    check(code == 0, "server exit code %s after SIGTERM\n%s" % (code, server.log_tail()))
    return figures, len(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--fixture", required=True, help="folder of make_fixture.py (built here when missing)")
    ap.add_argument("--work", help="scratch folder (default: a new temp dir)")
    a = ap.parse_args()
    a.work = a.work or tempfile.mkdtemp(prefix="tessera_openai_")
    os.makedirs(a.work, exist_ok=True)
    t0 = time.monotonic()
    try:
        figures, n_rows = run(a)
    except su.Failure as e:
        su.die(str(e))
    except openai.APIError as e:
        su.die("unexpected OpenAI API error: %r" % e)
    for k, v in figures.items():
        print("%s: %r" % (k, v))
    print("PASS test_openai_client (%d ledger rows, %.1f s)" % (n_rows, time.monotonic() - t0))


if __name__ == "__main__":
    main()
