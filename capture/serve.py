"""A local web page for the live demo on headless hosts: the annotated stream, its stats, and two buttons.

Standard library only. Bound to 127.0.0.1 unless told otherwise. The page polls /frame.jpg (a browser without
MJPEG support, or a screenshot tool, still gets a picture); /stream.mjpg is there for players that want it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>patchgen live</title>
<style>
body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 1em; }
#view { max-width: 96vw; max-height: 80vh; display: block; background: #000; }
button { font-size: 1em; margin: 0.5em 0.5em 0.5em 0; padding: 0.3em 0.9em; }
#status { font-family: monospace; }
</style></head><body>
<h1>patchgen live</h1>
<img id="view" alt="annotated stream" src="/frame.jpg">
<div>
  <button id="snapshot" onclick="post('/snapshot')">Save snapshot (s)</button>
  <button id="toggle" onclick="post('/toggle')">Toggle counterfactual (c)</button>
</div>
<div id="status">waiting for frames…</div>
<script>
let shown = 0;
const view = document.getElementById('view');
function next() { view.src = '/frame.jpg?t=' + Date.now(); }
view.onload = () => { shown += 1; view.dataset.framesShown = shown; setTimeout(next, 80); };
view.onerror = () => setTimeout(next, 500);
function post(url) {
  fetch(url, {method: 'POST'}).then(r => r.json()).then(show).catch(() => {});
}
function show(s) {
  const el = document.getElementById('status');
  el.textContent = `frames ${s.frames} | fps ${s.fps.toFixed(1)} | ` +
    `counterfactual ${s.counterfactual ? 'on' : 'off'} | snapshots ${s.snapshots} | ${s.message}`;
  el.dataset.frames = s.frames;
}
function poll() {
  fetch('/status').then(r => r.json()).then(show).catch(() => {}).finally(() => setTimeout(poll, 300));
}
document.addEventListener('keydown', e => {
  if (e.key === 's') post('/snapshot');
  if (e.key === 'c') post('/toggle');
});
poll();
</script>
</body></html>
"""


class LiveServer:
    """Holds the latest annotated JPEG and the stats; the live loop publishes, the browser reads."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8765):
        self.lock = threading.Condition()
        self.jpeg: bytes | None = None
        self.sequence = 0
        self.stats = {"frames": 0, "fps": 0.0, "counterfactual": False, "snapshots": 0, "message": "starting"}
        self.requests: list[str] = []  # "snapshot" / "toggle", taken by the loop
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # the demo's console is for the demo, not for access logs
                pass

            def _send(self, code, body: bytes, content_type):
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path == "/":
                    self._send(200, PAGE.encode(), "text/html; charset=utf-8")
                elif path == "/frame.jpg":
                    with server.lock:
                        jpeg = server.jpeg
                    if jpeg is None:
                        self._send(503, b"no frame yet", "text/plain")
                    else:
                        self._send(200, jpeg, "image/jpeg")
                elif path == "/status":
                    self._send(200, json.dumps(server.status()).encode(), "application/json")
                elif path == "/stream.mjpg":
                    self._stream()
                else:
                    self._send(404, b"not found", "text/plain")

            def do_POST(self):
                path = self.path.split("?", 1)[0]
                if path in ("/snapshot", "/toggle"):
                    with server.lock:
                        server.requests.append(path[1:])
                    self._send(200, json.dumps(server.status()).encode(), "application/json")
                else:
                    self._send(404, b"not found", "text/plain")

            def _stream(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                seen = -1
                try:
                    while not server.closed:
                        with server.lock:
                            server.lock.wait_for(lambda: server.sequence != seen or server.closed, timeout=1.0)
                            jpeg, seen = server.jpeg, server.sequence
                        if jpeg is None:
                            continue
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the viewer went away

        self.closed = False
        try:
            self.httpd = ThreadingHTTPServer((host, int(port)), Handler)
        except OSError as err:
            from patchgen.errors import UserError

            raise UserError(f"cannot serve on {host}:{port} ({err.strerror or err})") from None
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="live-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "LiveServer":
        self.thread.start()
        return self

    def status(self) -> dict:
        with self.lock:
            return dict(self.stats, time=time.time())

    def publish(self, jpeg: bytes, **stats):
        with self.lock:
            self.jpeg = jpeg
            self.sequence += 1
            self.stats.update(stats)
            self.lock.notify_all()

    def take_requests(self) -> list[str]:
        with self.lock:
            taken, self.requests = self.requests, []
        return taken

    def close(self):
        with self.lock:
            self.closed = True
            self.lock.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
