"""A model behind an HTTP endpoint that takes an image and answers JSON (victim name: the URL itself).

`adapter.http` says how an image is sent (`form`: raw PNG body, multipart, or base64 in a JSON body) and where the
answer lies in the JSON (`scores` for a classifier, `boxes` and `box_keys` for a detector). Each image is one POST;
the images of a batch go `concurrency` at a time, at most `rate` requests per second. A timeout, a 5xx, a dropped
connection, a 429, an answer that is not JSON or lacks the configured path are retried with exponential backoff and
full jitter, and counted by kind (`failures`); any other 4xx is the user's to fix at once. The auth header's value
comes from the environment variable that `auth_env` names, read at load and at each batch, and is kept nowhere:
the config, the run folder and every message hold only the variable's name.

This file is the endpoint's conversation (torch-free, like every plug-in's settings); `http_victim.py` turns
tensors into PNGs and answers into tensors."""

import os
import random
import re
import threading
import time
from dataclasses import dataclass, field

from patchgen.errors import UserError
from patchgen.ranges import number, path
from patchgen.victims.names_file import check_count, read_names

SECTION = "adapter.http"
FAMILIES = ("classifier", "detector")
FORMS = ("png", "multipart", "json_base64")
SCORE_KINDS = ("probabilities", "logits")
FAILURES = ("timeout", "server_error", "connection", "malformed", "rate_limited")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CANNOT_CONNECT = "cannot connect"
SHOWN_BODY = 120  # characters of an error answer a message quotes


@dataclass
class Settings:
    family: str = ""  # "classifier" | "detector": what the endpoint answers
    imgsz: int = number(224, 1, 8192)  # the side, in pixels, of the square images sent
    names_file: str = path()  # the endpoint's classes: a text file, line i naming class index i
    form: str = "png"  # how an image is sent: png (the body), multipart, json_base64
    form_field: str = "image"  # multipart / json_base64: the field that holds the image
    scores: str = ""  # classifiers: the dotted path to the C scores in the answer ("predictions.0.probs")
    scores_are: str = "probabilities"  # or "logits" (softmaxed here)
    boxes: str = ""  # detectors: the dotted path to the list of boxes ("detections")
    box_keys: list[str] = field(default_factory=lambda: ["x1", "y1", "x2", "y2", "score", "class"])  # in each box
    boxes_normalised: bool = False  # box corners as 0..1 of the sent image, not its pixels
    timeout_s: float = number(30.0, 0.0, 3600.0, open_low=True)  # per request
    retries: int = number(4, 0, 100)  # further tries of an image after its first
    backoff_s: float = number(0.5, 0.0, 600.0)  # the first retry waits up to this, doubling each time...
    backoff_cap_s: float = number(30.0, 0.0, 3600.0)  # ...up to this
    rate: float = number(0.0, 0.0, 10000.0)  # requests per second at most; 0: no limit
    concurrency: int = number(4, 1, 256)  # requests in flight at once
    auth_env: str = ""  # the NAME of the environment variable holding the auth header's value
    auth_header: str = "Authorization"

    def check(self, key: str = SECTION) -> None:
        for name, value, allowed in (("family", self.family, FAMILIES), ("form", self.form, FORMS),
                                     ("scores_are", self.scores_are, SCORE_KINDS)):
            if value not in allowed:
                raise UserError(f"config key '{key}.{name}' must be one of {', '.join(allowed)}, got {value!r}")
        if not self.names_file:  # an endpoint's answer names no classes, and a goal needs them before any query
            raise UserError(f"config key '{key}.names_file' must name a file of the endpoint's class names, one per "
                            f"line, line i naming the class its answer's index i scores")
        if self.family == "classifier" and not self.scores:
            raise UserError(f"config key '{key}.scores' must give the dotted path to the scores in the endpoint's "
                            f"JSON answer (e.g. predictions.0.probs)")
        if self.family == "detector" and not self.boxes:
            raise UserError(f"config key '{key}.boxes' must give the dotted path to the list of boxes in the "
                            f"endpoint's JSON answer (e.g. detections)")
        if len(self.box_keys) != 6 or not all(self.box_keys):
            raise UserError(f"config key '{key}.box_keys' must name 6 keys within each box: x1, y1, x2, y2, score, "
                            f"class (got {len(self.box_keys)})")
        if self.form != "png" and not self.form_field:
            raise UserError(f"config key '{key}.form_field' must name the field that holds the image")
        if self.backoff_s > self.backoff_cap_s:
            raise UserError(f"config key '{key}.backoff_s' ({self.backoff_s:g}) must be at most "
                            f"'{key}.backoff_cap_s' ({self.backoff_cap_s:g})")
        if self.auth_env and not ENV_NAME.fullmatch(self.auth_env):  # not echoed: it may be the secret itself
            raise UserError(f"config key '{key}.auth_env' must be the NAME of an environment variable (letters, "
                            f"digits, _) that holds the header value, never the value itself")
        if self.auth_env and not self.auth_header:
            raise UserError(f"config key '{key}.auth_header' must name the header that carries the credential")


def load(name: str, settings: Settings):
    """The victim at URL `name`; nothing is sent until the first query."""
    from patchgen.victims.http_victim import HttpVictim

    settings.check()
    if not re.fullmatch(r"https?://[^/?#\s]+.*", name):
        raise UserError(f"victim {name!r} is no URL with a host: write it as http://HOST[:PORT]/PATH")
    endpoint = Endpoint(name, settings, read_names(settings.names_file, f"{SECTION}.names_file"))
    endpoint.auth_headers()  # a credential the settings name but the environment lacks: said now, not mid-run
    return HttpVictim(endpoint)


class Failure(Exception):
    """One try that did not give an answer and may be retried: its kind (one of FAILURES) and what happened."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.kind, self.detail, self.retry_after = kind, detail, retry_after


class Endpoint:
    """The conversation with one URL: counts every request (`requests`: those that reached a server), every
    failure by kind (`failures`) and every image answered (`answered`)."""

    def __init__(self, url: str, settings: Settings, names: list[str]):
        self.url, self.settings, self.names = url, settings, names
        self.failures = dict.fromkeys(FAILURES, 0)
        self.requests = self.answered = 0
        self.lock = threading.Lock()  # counters and the rate limit are shared by the worker threads
        self.next_slot = 0.0  # monotonic time of the next request the rate allows
        self.jitter = random.Random()  # waiting times only: no result depends on them, so not the run's generator

    def auth_headers(self) -> dict:
        """The auth header, read from the environment now (never kept: held only for the batch that sends it)."""
        name = self.settings.auth_env
        if not name:
            return {}
        value = os.environ.get(name)
        if not value:
            raise UserError(f"environment variable {name} (config key '{SECTION}.auth_env') is not set: export it "
                            f"with the value of the {self.settings.auth_header} header the endpoint expects")
        return {self.settings.auth_header: value}

    def answer_all(self, pngs: list[bytes], arrived) -> None:
        """Sends every image, `concurrency` at a time, and calls `arrived(index, answer)` on the caller's thread as
        each answer comes in (so a log can keep it before the next arrives), in arrival order. The first image
        that cannot be answered raises its UserError; requests still in flight finish, none is started after."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        import httpx

        headers = self.auth_headers()
        stop = threading.Event()
        workers = max(1, min(self.settings.concurrency, len(pngs)))
        with httpx.Client(timeout=self.settings.timeout_s, follow_redirects=False) as client:
            pool = ThreadPoolExecutor(workers, thread_name_prefix="patchgen-http")
            try:
                futures = {pool.submit(self.answer, client, png, headers, stop): i for i, png in enumerate(pngs)}
                for future in as_completed(futures):
                    arrived(futures[future], future.result())
            finally:
                stop.set()
                pool.shutdown(wait=True, cancel_futures=True)

    def answer(self, client, png: bytes, headers: dict, stop: threading.Event):
        """One image's answer, tried up to 1 + retries times: a classifier's C scores, or a detector's boxes as
        [x1, y1, x2, y2, score, class index] in sent-image pixels."""
        tries = self.settings.retries + 1
        for attempt in range(tries):
            if stop.is_set():
                return None
            self.wait_for_rate()
            try:
                found = self.read(self.post(client, png, headers))
            except Failure as failure:
                with self.lock:
                    self.failures[failure.kind] += 1
                if attempt + 1 == tries:
                    counted = f"{tries} tr{'y' if tries == 1 else 'ies'}"
                    raise UserError(self.scrubbed(f"{self.url}: did not answer after {counted} (last: "
                                                  f"{failure.detail}): {advice(failure)}")) from None
                time.sleep(self.delay(attempt, failure.retry_after))
                continue
            with self.lock:
                self.answered += 1
            return found

    def post(self, client, png: bytes, headers: dict) -> dict:
        """One request: the answer's JSON, or a Failure to retry, or a UserError (a 4xx other than 429)."""
        import httpx

        body = request_body(self.settings, png)
        try:
            response = client.post(self.url, headers={**headers, **body.pop("headers", {})}, **body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:  # nothing reached a server: no request counted
            raise Failure("connection", f"{CANNOT_CONNECT}: {reason(err)}") from None
        except httpx.TimeoutException:
            self.count_request()
            raise Failure("timeout", f"no answer within {self.settings.timeout_s:g} s") from None
        except httpx.TransportError as err:
            self.count_request()
            raise Failure("connection", f"connection dropped: {reason(err)}") from None
        self.count_request()
        status = response.status_code
        if status == 429:
            raise Failure("rate_limited", "HTTP 429 Too Many Requests", retry_after(response.headers))
        if status >= 500:
            raise Failure("server_error", f"HTTP {status}")
        if not 200 <= status < 300:
            said = " ".join(response.text.split())[:SHOWN_BODY]
            raise UserError(self.scrubbed(f"{self.url}: HTTP {status} {response.reason_phrase} ({said!r}): "
                                          f"{refusal_advice(status)}"))
        try:
            return response.json()
        except ValueError:
            shown = " ".join(response.text.split())[:40]
            raise Failure("malformed", f"an answer that is not JSON ({shown!r})") from None

    def read(self, answer) -> list:
        """The scores or boxes at the configured path; a missing path is retried (a server's bad moment), a
        value of the wrong form is the configuration's mistake (said at once: retrying costs queries)."""
        s = self.settings
        if s.family == "classifier":
            scores = lookup(answer, s.scores)
            if not (isinstance(scores, list) and all(is_number(v) for v in scores)):
                raise UserError(f"{self.url}: '{SECTION}.scores' ({s.scores}) holds {shape_of(scores)}, not a list "
                                f"of numbers: point it at the list of class scores")
            check_count(self.names, len(scores), self.settings.names_file, self.url, f"{SECTION}.names_file")
            return [float(v) for v in scores]
        boxes = lookup(answer, s.boxes)
        if not isinstance(boxes, list):
            raise UserError(f"{self.url}: '{SECTION}.boxes' ({s.boxes}) holds {shape_of(boxes)}, not a list of "
                            f"boxes: point it at the list")
        return [self.box(item) for item in boxes]

    def box(self, item) -> list:
        s = self.settings
        try:
            values = [lookup(item, key) for key in s.box_keys]
        except Failure:
            raise UserError(f"{self.url}: a box {shape_of(item)} lacks one of {SECTION}.box_keys "
                            f"({', '.join(s.box_keys)}): name the keys each box holds") from None
        *corners, score, label = values
        if not all(is_number(v) for v in (*corners, score)):
            raise UserError(f"{self.url}: a box's corners and score must be numbers, got {values}: check "
                            f"{SECTION}.box_keys")
        scale = s.imgsz if s.boxes_normalised else 1
        return [float(v) * scale for v in corners] + [float(score), float(self.class_index(label))]

    def class_index(self, label) -> int:
        """A box's class, given by index or by name."""
        if is_number(label) and float(label).is_integer() and 0 <= int(label) < len(self.names):
            return int(label)
        if isinstance(label, str) and label in self.names:
            return self.names.index(label)
        raise UserError(f"{self.url}: a box's class {label!r} is not one of the endpoint's {len(self.names)} "
                        f"classes (an index, or a name in {SECTION}.names_file)")

    def count_request(self) -> None:
        with self.lock:
            self.requests += 1

    def wait_for_rate(self) -> None:
        """At most `rate` requests per second over all threads: each takes the next free slot."""
        if not self.settings.rate:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_slot)
            self.next_slot = slot + 1.0 / self.settings.rate
        time.sleep(slot - now)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After where it gave one; else exponential backoff with full jitter (uniform up to
        base * 2^attempt, capped), so that clients failed together do not retry together."""
        if retry_after is not None:
            return retry_after
        return self.jitter.uniform(0, min(self.settings.backoff_cap_s, self.settings.backoff_s * 2**attempt))

    def scrubbed(self, message: str) -> str:
        """A message without the credential, should a server have echoed it back."""
        secret = os.environ.get(self.settings.auth_env) if self.settings.auth_env else None
        return message.replace(secret, "***") if secret else message


def request_body(settings: Settings, png: bytes) -> dict:
    """httpx.post's keywords for one image in the configured form."""
    if settings.form == "png":
        return {"content": png, "headers": {"Content-Type": "image/png"}}
    if settings.form == "multipart":
        return {"files": {settings.form_field: ("image.png", png, "image/png")}}
    import base64

    return {"json": {settings.form_field: base64.b64encode(png).decode("ascii")}}


def lookup(answer, path: str):
    """The value at a dotted path ("predictions.0.probs": keys of objects, indices of lists); Failure if absent."""
    node = answer
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and re.fullmatch(r"-?\d+", part) and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            raise Failure("malformed", f"no '{path}' in the answer")
    return node


def is_number(value) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def shape_of(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def retry_after(headers) -> float | None:
    """Retry-After in seconds (a number, or an HTTP date); None when absent or unreadable."""
    value = headers.get("retry-after")
    if value is None:
        return None
    if re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def reason(err) -> str:
    """An httpx error in a few words (its text, or its class name when it has none)."""
    text = " ".join(str(err).split()).rstrip(".")
    if "refused" in text.lower():
        return "connection refused"
    return text or type(err).__name__


def advice(failure: Failure) -> str:
    if failure.detail.startswith(CANNOT_CONNECT):
        return "check that a server is listening at that address and port"
    if failure.kind == "malformed":
        return f"check the endpoint's answer against {SECTION}.scores / {SECTION}.boxes"
    return f"check the endpoint, or raise {SECTION}.retries or {SECTION}.timeout_s"


def refusal_advice(status: int) -> str:
    if status in (401, 403):
        return f"the endpoint refused the credentials: check {SECTION}.auth_env and {SECTION}.auth_header"
    if status in (404, 405) or 300 <= status < 400:
        return "check the URL (the victim name)"
    return f"the endpoint refused the request: check {SECTION}.form and {SECTION}.form_field"
