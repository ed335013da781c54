"""A real model behind HTTP on 127.0.0.1, with faults on demand: the HTTP adapter's tests run it in a thread
(`ModelServer`), and a test that kills a run can run it as a process of its own:

    python tests/http_model_server.py --victim cifar_resnet20:PATH --port 0 --faults slow,500,drop,malformed \
        --then ok --count-file counts.json [--hold-after N] [--auth-env NAME] [--slow-s 1] [--normalised]

It prints "listening on PORT" once it answers. Each POST carries one PNG (raw body, multipart or base64 JSON,
told apart by Content-Type; field `image`). The n-th request that passes auth and holds an image gets the n-th
fault of `faults`, and every later one the fault `then`:
  ok         the model's answer
  slow       the answer after slow_s seconds (past the client's timeout)
  500        HTTP 500
  drop       the connection closed without an answer
  malformed  200 with a body that is not JSON
  missing    200 with JSON that lacks the answer's path
  429        HTTP 429 with Retry-After: 0
With hold_after N, the model's answers stop after the N-th: every later request that would get one is held
open, unanswered, until the server stops (a client caught part way through a batch, for a test to kill it there).
Answers: a classifier's {"predictions": [{"label", "probs", "logits"}]}, a detector's {"detections": [{"box":
[x1, y1, x2, y2], "score", "label"}]} (box in the sent image's pixels, or 0..1 with --normalised).

The count file (JSON, rewritten whole after every change) maps image_key(pixels) to {"requests": n, "answered": m}:
every request for that image, and the model's answers sent without a fault (a slow one is a fault), each counted
before it is sent, so the file is never behind what a client received. A held request counts as a request only."""

import argparse
import base64
import hashlib
import json
import os
import socket
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from patchgen.atomic import atomic_write_json

FAULTS = ("ok", "slow", "500", "drop", "malformed", "missing", "429")
FIELD = "image"


def image_key(rgb: np.ndarray) -> str:
    """What the count file keys an image by: the SHA-256 of its (H,W,3) uint8 RGB pixels."""
    return hashlib.sha256(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()).hexdigest()


class ModelServer:
    """`victim` (any patchgen victim) answering on 127.0.0.1:`port` (0: a free one, see `.port`)."""

    def __init__(self, victim, faults=(), then="ok", slow_s=1.0, auth=None, count_file=None, normalised=False,
                 port=0, together=0, hold_after=None):
        for fault in (*faults, then):
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")
        self.victim, self.faults, self.then, self.slow_s = victim, list(faults), then, slow_s
        self.auth, self.count_file, self.normalised, self.hold_after = auth, count_file, normalised, hold_after
        self.sent = 0  # the model's answers sent (each "answered" in the counts)
        self.stopping = threading.Event()  # releases the held requests
        self.seen = 0  # every POST, whatever became of it
        self.taken = 0  # requests that held an image (each takes the next fault)
        self.counts = {}  # image_key -> {"requests": n, "answered": m}
        self.lock = threading.Lock()
        # the first `together` requests answer only once that many are in flight at once (a concurrency check)
        self.gate = threading.Barrier(together, timeout=10) if together else None
        self.model_lock = threading.Lock()
        self.http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.http.daemon_threads = True
        self.http.model_server = self
        self.port = self.http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/predict"
        self.thread = None

    def __enter__(self):
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.http.shutdown()
        self.http.server_close()

    def next_fault(self) -> tuple[int, str]:
        """This request's number among those with an image (from 0), and its fault."""
        with self.lock:
            number = self.taken
            self.taken += 1
            return number, self.faults[number] if number < len(self.faults) else self.then

    def count(self, key: str, what: str) -> bool:
        """Counts a request, or an answer about to be sent; False (nothing counted) for an answer past hold_after."""
        with self.lock:
            if what == "answered":
                if self.hold_after is not None and self.sent >= self.hold_after:
                    return False
                self.sent += 1
            entry = self.counts.setdefault(key, {"requests": 0, "answered": 0})
            entry[what] += 1
            if self.count_file:
                atomic_write_json(self.count_file, self.counts)
            return True

    def answer(self, rgb: np.ndarray) -> dict:
        import torch

        images = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255
        with self.model_lock:
            found = self.victim.query(images)
        names = self.victim.names
        if self.victim.family == "classifier":
            probs = found[0]
            return {"predictions": [{"label": names[int(probs.argmax())], "probs": probs.tolist(),
                                     "logits": probs.clamp(min=1e-30).log().tolist()}]}
        scale = np.array([rgb.shape[1], rgb.shape[0]] * 2) if self.normalised else np.ones(4)
        return {"detections": [{"box": (np.array(d[:4].tolist()) / scale).tolist(), "score": float(d[4]),
                                "label": names[int(d[5])]} for d in found[0]]}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet: the tests read the counters
        pass

    def do_POST(self):
        server = self.server.model_server
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with server.lock:
            server.seen += 1
        given = self.headers.get("Authorization")
        if server.auth is not None and given != server.auth:
            # echoes what it got, as careless servers do: the client must keep it out of its messages
            return self.reply(401, f"unauthorised: got {given!r}".encode(), "text/plain")
        rgb = self.image(body)
        if rgb is None:
            return self.reply(400, b"no PNG image in the request", "text/plain")
        key = image_key(rgb)
        server.count(key, "requests")
        number, fault = server.next_fault()
        if server.gate is not None and number < server.gate.parties:
            server.gate.wait()
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "500":
            return self.reply(500, b"internal error", "text/plain")
        if fault == "429":
            return self.reply(429, b"slow down", "text/plain", {"Retry-After": "0"})
        if fault == "malformed":
            return self.reply(200, b'{"predictions": [{"probs": [0.1,', "application/json")
        if fault == "missing":
            return self.reply(200, b'{"error": "model busy"}', "application/json")
        answer = json.dumps(server.answer(rgb)).encode()
        if fault == "slow":
            time.sleep(server.slow_s)
        elif fault == "ok":
            # counted before it is sent: no client holds an answer the count lacks; past hold_after, never sent
            if not server.count(key, "answered"):
                server.stopping.wait()  # held open until the server stops
                return
        try:
            self.reply(200, answer, "application/json")
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            pass

    def image(self, body: bytes):
        kind = self.headers.get("Content-Type", "")
        data = body
        if kind.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {kind}\r\n\r\n".encode() + body)
            parts = [p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == FIELD]
            data = parts[0].get_payload(decode=True) if parts else b""
        elif kind.startswith("application/json"):
            try:
                data = base64.b64decode(json.loads(body)[FIELD])
            except (ValueError, KeyError, TypeError):
                return None
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        return None if bgr is None else np.ascontiguousarray(bgr[:, :, ::-1])

    def reply(self, status: int, body: bytes, kind: str, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--victim", required=True, help="a patchgen victim name, e.g. cifar_resnet20:PATH")
    parser.add_argument("--imgsz", type=int, default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--faults", default="", help="comma-separated, one per request in order: " + ", ".join(FAULTS))
    parser.add_argument("--then", default="ok", help="the fault of every request after the list")
    parser.add_argument("--slow-s", type=float, default=1.0)
    parser.add_argument("--auth-env", default="", help="environment variable whose value Authorization must be")
    parser.add_argument("--count-file", default=None)
    parser.add_argument("--hold-after", type=int, default=None, help="answers sent before every request is held")
    parser.add_argument("--normalised", action="store_true", help="detector boxes as 0..1 of the image")
    args = parser.parse_args()
    from patchgen.victims import load_victim

    server = ModelServer(load_victim(args.victim, imgsz=args.imgsz), [f for f in args.faults.split(",") if f],
                         args.then, args.slow_s, os.environ[args.auth_env] if args.auth_env else None,
                         args.count_file, args.normalised, args.port, hold_after=args.hold_after)
    print(f"listening on {server.port}", flush=True)
    server.http.serve_forever()


if __name__ == "__main__":
    main()
