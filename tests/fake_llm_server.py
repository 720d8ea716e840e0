"""A real HTTP server speaking the OpenAI and Gemini wire formats, scripted by tests.

Usage::

    with FakeLLMServer() as server:
        server.responder = lambda provider, model, request: FakeReply(text=contract_reply([...]))
        server.add_faults("429", "500")           # consumed in order, before normal replies
        client = AsyncOpenAI(base_url=server.openai_base_url, ...)
        genai.Client(http_options=HttpOptions(base_url=server.url, ...))

Faults: "429" (Retry-After header + the provider's error body), any other status code as a string ("500",
"503", "401", ...), "timeout" (sleep `timeout_sleep` seconds before answering), "invalid_json", "fenced_json",
"empty", "safety" (Gemini prompt block / OpenAI content_filter), "safety_candidate" (Gemini candidate with
finishReason SAFETY and no content), "truncated" (the reply cut mid-JSON, finish length / MAX_TOKENS).
"""

import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Provider = Literal["openai", "gemini"]
Finish = Literal["stop", "length", "safety"]

FAULTS = (
    "429",
    "timeout",
    "invalid_json",
    "fenced_json",
    "empty",
    "safety",
    "safety_candidate",
    "truncated",
)
_AUTH_HEADERS = {"authorization", "x-goog-api-key", "api-key"}
_GEMINI_PATH = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):generateContent$")
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_OPENAI_ERROR_TYPE = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}

_OPENAI_MESSAGES = {
    401: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    429: "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s.",
    500: "The server had an error while processing your request. Sorry about that!",
}
_GEMINI_MESSAGES = {
    401: "API key not valid. Please pass a valid API key.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://ai.google.dev/",
}


@dataclass
class FakeReply:
    """What the server answers for one call.

    `text` is the model's content (None: no content at all). `status` other than 200 sends the provider's error
    body (or `body`, when given, verbatim). `headers` are added to the HTTP response.
    """

    text: str | None = None
    finish: Finish = "stop"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    provider: Provider
    path: str
    model: str
    api_version: str | None
    # Authentication headers are recorded as "<present>", never their values.
    headers: dict[str, str]
    json: dict[str, Any] | None
    fault: str | None


def contract_reply(entities: list[dict[str, Any]], relations: list[dict[str, Any]] | None = None) -> str:
    """Contract v1 JSON for the given entities and relations."""
    return json.dumps({"entities": entities, "relations": relations or []}, ensure_ascii=False)


DEFAULT_ENTITIES = [
    {"id": "E1", "type": "PER", "name": "李白", "mentions": ["李白"]},
    {"id": "E2", "type": "LOC", "name": "长安", "mentions": ["长安"]},
]
DEFAULT_RELATIONS = [{"head": "E1", "tail": "E2", "type": "位于", "evidence": [0]}]


def default_responder(provider: str, model: str, request_json: dict[str, Any]) -> FakeReply:
    return FakeReply(text=contract_reply(DEFAULT_ENTITIES, DEFAULT_RELATIONS))


def rough_tokens(text: str) -> int:
    """About one token per two characters (CJK-heavy text), at least one for non-empty text."""
    return (len(text) + 1) // 2


def prompt_text(provider: str, request_json: dict[str, Any]) -> str:
    """The concatenated prompt text of a recorded request (system and user)."""
    if provider == "openai":
        parts = []
        for message in request_json.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts += [c.get("text", "") for c in content if isinstance(c, dict)]
        return "\n".join(parts)
    texts = []
    system = request_json.get("systemInstruction") or request_json.get("system_instruction")
    blocks = [system] if isinstance(system, dict) else []
    blocks += request_json.get("contents", [])
    for block in blocks:
        texts += [part.get("text", "") for part in block.get("parts", []) if isinstance(part, dict)]
    return "\n".join(texts)


class FakeLLMServer:
    """OpenAI `POST .../chat/completions` and Gemini `POST /{version}/models/{model}:generateContent` on 127.0.0.1."""

    def __init__(
        self,
        responder: Callable[[str, str, dict[str, Any]], FakeReply] = default_responder,
        *,
        latency: float = 0.0,
        timeout_sleep: float = 2.0,
        retry_after: str = "1",
        expected_key: str | None = None,
    ) -> None:
        self.responder = responder
        # Artificial latency of every call, in seconds; calls overlap (one thread per connection).
        self.latency = latency
        # How long a "timeout" fault sleeps before answering: make it longer than the client's timeout.
        self.timeout_sleep = timeout_sleep
        self.retry_after = retry_after
        # When set, a call presenting another key gets the provider's 401.
        self.expected_key = expected_key
        self.requests: list[RecordedRequest] = []
        self.counts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: deque[str] = deque()
        self._provider_faults: dict[str, deque[str]] = {"openai": deque(), "gemini": deque()}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server root, e.g. http://127.0.0.1:43123 (Gemini's base_url)."""
        if self._httpd is None:
            raise RuntimeError("the fake LLM server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> "FakeLLMServer":
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping on latency or a "timeout" fault
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and assertions ----------------------------------------------------------------------------

    def add_faults(self, *faults: str, provider: str | None = None) -> None:
        """Queue faults, consumed one per call in order (a provider's own queue first, then the shared one)."""
        for fault in faults:
            if fault not in FAULTS and not (fault.isdigit() and 400 <= int(fault) <= 599):
                raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            (self._faults if provider is None else self._provider_faults[provider]).extend(faults)

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults) + sum(len(q) for q in self._provider_faults.values())

    def calls(self, provider: str | None = None) -> int:
        with self._lock:
            return self.counts[provider] if provider else sum(self.counts.values())

    def requests_for(self, provider: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.provider == provider]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.counts.clear()
            self._faults.clear()
            for queue in self._provider_faults.values():
                queue.clear()
            self.max_in_flight = 0

    # -- used by the handler ---------------------------------------------------------------------------------

    def _next_fault(self, provider: str) -> str | None:
        with self._lock:
            own = self._provider_faults[provider]
            if own:
                return own.popleft()
            return self._faults.popleft() if self._faults else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            self.counts[request.provider] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Do not wait for keep-alive connections the clients still hold open.
    block_on_close = False
    request_queue_size = 256
    fake: FakeLLMServer


class _Handler(BaseHTTPRequestHandler):
    # Without it every answer waits on a delayed ACK (~40 ms), which the benchmarks would count as latency.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: _Server
    # Idle keep-alive connections are dropped after this many seconds.
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        fake = self.server.fake
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        match = _GEMINI_PATH.match(path)
        provider: Provider
        if path.endswith("/chat/completions"):
            provider, api_version = "openai", None
            model = str(body.get("model", "")) if isinstance(body, dict) else ""
        elif match:
            provider, api_version, model = "gemini", match["version"], match["model"]
        else:
            self._send_json(404, {"error": {"message": f"no route for {path}"}})
            return
        presented = self._presented_key(provider)
        headers = {k.lower(): ("<present>" if k.lower() in _AUTH_HEADERS else v) for k, v in self.headers.items()}
        fault = fake._next_fault(provider)
        fake._record(RecordedRequest(provider, path, model, api_version, headers, body, fault))
        self._in_flight = True
        try:
            self._answer(fake, provider, model, body if isinstance(body, dict) else {}, fault, presented)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout) while we slept.
            self.close_connection = True
        finally:
            self._end_call()

    def _end_call(self) -> None:
        """The call leaves the in-flight count once, before its answer goes out: counted after the write, a
        handler thread slow to resume (a loaded machine) overlapped the client's next call, which its limiter had
        rightly let start, and the count read one call too many."""
        if getattr(self, "_in_flight", False):
            self._in_flight = False
            self.server.fake._done()

    def _presented_key(self, provider: str) -> str | None:
        if provider == "gemini":
            return self.headers.get("x-goog-api-key")
        auth = self.headers.get("Authorization") or ""
        return auth.removeprefix("Bearer ").strip() or None

    def _answer(
        self,
        fake: FakeLLMServer,
        provider: Provider,
        model: str,
        request: dict[str, Any],
        fault: str | None,
        presented: str | None,
    ) -> None:
        fake._sleep(fake.latency)
        if fake.expected_key is not None and presented != fake.expected_key:
            self._send_error(provider, 401, {})
            return
        if fault == "timeout":
            fake._sleep(fake.timeout_sleep)
            fault = None
        if fault is not None and fault.isdigit():
            status = int(fault)
            extra = {"Retry-After": fake.retry_after} if status == 429 else {}
            self._send_error(provider, status, extra)
            return
        reply = fake.responder(provider, model, request)
        fake._sleep(reply.delay)
        if reply.status != 200:
            if reply.body is not None:
                self._send_json(reply.status, reply.body, reply.headers)
            else:
                self._send_error(provider, reply.status, reply.headers)
            return
        if reply.body is not None:
            self._send_json(200, reply.body, reply.headers)
            return
        text, finish, block = reply.text, reply.finish, False
        if fault == "invalid_json":
            text = "抱歉，我无法完成这个任务。Sorry, I cannot do that."
        elif fault == "fenced_json":
            text = f"Here is the annotation you asked for.\n```json\n{text or '{}'}\n```\n"
        elif fault == "empty":
            text = ""
        elif fault == "truncated":
            full = text or contract_reply(DEFAULT_ENTITIES, DEFAULT_RELATIONS)
            text, finish = full[: max(1, len(full) // 2)], "length"
        elif fault == "safety":
            text, finish, block = None, "safety", provider == "gemini"
        elif fault == "safety_candidate":
            text, finish = None, "safety"
        prompt = prompt_text(provider, request)
        if provider == "openai":
            payload = _openai_completion(model, text, finish, prompt)
        else:
            payload = _gemini_response(model, text, finish, prompt, prompt_blocked=block)
        self._send_json(200, payload, reply.headers)

    def _send_error(self, provider: str, status: int, headers: dict[str, str]) -> None:
        if provider == "openai":
            kind, code = _OPENAI_ERROR_TYPE.get(status, ("server_error", None))
            message = _OPENAI_MESSAGES.get(status, _OPENAI_MESSAGES[500])
            body: dict[str, Any] = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        else:
            error: dict[str, Any] = {
                "code": status,
                "message": _GEMINI_MESSAGES.get(status, _GEMINI_MESSAGES[500]),
                "status": _GEMINI_STATUS.get(status, "UNKNOWN"),
            }
            if status == 429:
                error["details"] = [
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{headers.get('Retry-After', '1')}s",
                    }
                ]
            body = {"error": error}
        self._send_json(status, body, headers)

    def _send_json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self._end_call()
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _openai_completion(model: str, text: str | None, finish: Finish, prompt: str) -> dict[str, Any]:
    reason = {"stop": "stop", "length": "length", "safety": "content_filter"}[finish]
    prompt_tokens, completion_tokens = rough_tokens(prompt), rough_tokens(text or "")
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_fake",
    }


def _gemini_response(
    model: str, text: str | None, finish: Finish, prompt: str, *, prompt_blocked: bool
) -> dict[str, Any]:
    prompt_tokens, output_tokens = rough_tokens(prompt), rough_tokens(text or "")
    usage = {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}
    if prompt_blocked:
        return {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage, "modelVersion": model}
    reason = {"stop": "STOP", "length": "MAX_TOKENS", "safety": "SAFETY"}[finish]
    candidate: dict[str, Any] = {"finishReason": reason, "index": 0}
    if text is not None:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    if finish == "safety":
        candidate["safetyRatings"] = [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
        ]
    usage = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": prompt_tokens + output_tokens,
    }
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": uuid.uuid4().hex[:22],
    }
