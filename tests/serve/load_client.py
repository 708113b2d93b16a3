"""A raw HTTP client for the load test and the bench (stdlib http.client, one
connection per request), so a test can drop a stream after k chunks and see
exactly what arrived. One call = one request = one Outcome."""
import http.client
import json
import socket
import time

PROMPTS = [
    "ROMEO:", "First Citizen:\nWe are accounted poor citizens,", "KING HENRY:\nOnce more unto the breach,",
    "JULIET:\nO Romeo, Romeo!", "To be, or not to be:", "MENENIUS:\nEither you must confess yourselves wondrous",
    "Now is the winter of our discontent", "LADY MACBETH:", "All the world's a stage,", "CORIOLANUS:\nYou common cry",
]


class Outcome:
    __slots__ = ("kind", "status", "id", "usage", "stream", "chunks", "error_code", "detail", "t_start",
                 "t_first", "t_end", "max_tokens", "text")

    def __init__(self, stream, max_tokens):
        self.kind = "error"      # ok | 429 | aborted | error | truncated | conn_error
        self.status = 0
        self.id = None
        self.usage = None        # {"prompt_tokens", "completion_tokens", "total_tokens"}
        self.stream = stream
        self.chunks = 0          # chunks with choices
        self.error_code = None
        self.detail = ""
        self.t_start = time.monotonic()
        self.t_first = None      # first chunk with text (streams) / the response (plain)
        self.t_end = None
        self.max_tokens = max_tokens
        self.text = ""


def request_body(model, chat, prompt, max_tokens, stream, include_usage, temperature, seed=None):
    body = {"model": model, "max_tokens": max_tokens, "temperature": temperature}
    if seed is not None:
        body["seed"] = seed
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    return body


def send(host, port, key, body, abort_after=0, timeout=300):
    """POSTs BODY to /v1/chat/completions (messages) or /v1/completions; abort_after > 0 closes
    the connection after that many chunks with choices (a client going away)."""
    stream = bool(body.get("stream"))
    out = Outcome(stream, body.get("max_tokens"))
    path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", path, json.dumps(body),
                     {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        resp = conn.getresponse()
        out.status = resp.status
        if resp.status != 200:
            raw = resp.read()
            out.t_end = time.monotonic()
            try:
                err = json.loads(raw)["error"]
                out.error_code = err.get("code")
                out.detail = err.get("message", "")
            except (ValueError, KeyError, TypeError):
                out.detail = raw[:300].decode("utf-8", "replace")
            out.kind = "429" if resp.status == 429 else "error"
            return out
        if not stream:
            raw = resp.read()
            out.t_end = out.t_first = time.monotonic()
            obj = json.loads(raw)
            out.id, out.usage = obj.get("id"), obj.get("usage")
            ch = obj["choices"][0]
            out.text = ch["message"]["content"] if "message" in ch else ch.get("text", "")
            out.kind = "ok"
            return out
        pieces = []
        while True:
            line = resp.readline()
            if not line:
                out.kind, out.detail = "truncated", "stream ended without [DONE] after %d chunks" % out.chunks
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                out.kind = "ok"
                break
            obj = json.loads(data)
            if "error" in obj:
                out.kind, out.detail = "error", "error event in stream: %r" % obj["error"]
                break
            out.id = out.id or obj.get("id")
            if obj.get("usage"):
                out.usage = obj["usage"]
            if obj.get("choices"):
                out.chunks += 1
                for c in obj["choices"]:
                    piece = c.get("text")
                    if piece is None:
                        piece = (c.get("delta") or {}).get("content") or ""
                    if piece and out.t_first is None:
                        out.t_first = time.monotonic()
                    pieces.append(piece)
                if abort_after and out.chunks >= abort_after:
                    out.kind = "aborted"
                    break
        out.text = "".join(pieces)
        out.t_end = time.monotonic()
        return out
    except (ConnectionError, socket.timeout, http.client.HTTPException, OSError) as e:
        out.kind, out.detail = "conn_error", repr(e)
        out.t_end = time.monotonic()
        return out
    finally:
        conn.close()  # an abort: the server sees the socket go away at its next write


def random_request(rng, model, max_tokens_range=(1, 48), stream_share=0.5, abort_share=0.15):
    """A mixed request: completion or chat, plain or streamed (mostly with include_usage), random
    max_tokens, and for some streams an abort after 1-4 chunks. Returns (body, abort_after)."""
    stream = rng.random() < stream_share
    body = request_body(model, chat=rng.random() < 0.5, prompt=rng.choice(PROMPTS),
                        max_tokens=rng.randint(*max_tokens_range), stream=stream,
                        include_usage=rng.random() < 0.9, temperature=rng.choice([0, 0.8, 1.0]),
                        seed=rng.randint(0, 1 << 30))
    abort_after = rng.randint(1, 4) if stream and rng.random() < abort_share / stream_share else 0
    return body, abort_after
