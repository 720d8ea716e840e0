"""Provider adapters through the real SDKs against a real (fake) HTTP server: wire shapes, finishes, errors, retries."""

import asyncio
import pickle
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from app.annotation.contract import AnnotationOutput, parse_model_json
from app.annotation.providers import (
    Completion,
    GeminiProvider,
    OpenAIProvider,
    Provider,
    ProviderError,
    call_with_retries,
    close_provider,
    env_prefix_for,
    make_provider,
)
from app.config import Settings
from tests.aio import run_async
from tests.fake_llm_server import DEFAULT_ENTITIES, FakeLLMServer, FakeReply, contract_reply

KEY = "sk-test-SECRET-123"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"entities": {"type": "array"}, "relations": {"type": "array"}},
    "required": ["entities", "relations"],
    "additionalProperties": False,
}
ARGS: dict[str, Any] = {
    "system": "你是一名实体关系标注员。只输出 JSON。",
    "user": "文档：李白生于长安。",
    "json_schema": SCHEMA,
    "temperature": 0.0,
    "max_output_tokens": 2000,
}
BOTH = pytest.mark.parametrize("name", ["openai", "gemini"])


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(timeout_sleep=3.0) as fake:
        yield fake


def build(name: str, server: FakeLLMServer, **options: Any) -> OpenAIProvider | GeminiProvider:
    options.setdefault("timeout", 5.0)
    if name == "openai":
        return OpenAIProvider("gpt-test", api_key=KEY, base_url=server.openai_base_url, **options)
    return GeminiProvider("gemini-test", api_key=KEY, base_url=server.url, **options)


def run(provider: Provider, call: Callable[[], Awaitable[Completion]]) -> Completion:
    async def main() -> Completion:
        try:
            return await call()
        finally:
            await close_provider(provider)

    return run_async(main())


def complete(provider: Provider, **overrides: Any) -> Completion:
    return run(provider, lambda: provider.complete(**{**ARGS, **overrides}))


def with_retries(provider: Provider, delays: list[float], **options: Any) -> Completion:
    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    return run(provider, lambda: call_with_retries(provider, sleep=sleep, **options, **ARGS))


def settings(**values: Any) -> Settings:
    base: dict[str, Any] = {
        "openai_api_key": None,
        "openai_base_url": None,
        "gemini_api_key": None,
        "google_gemini_base_url": None,
    }
    return Settings(**{**base, **values})


# -- happy paths and request shapes ------------------------------------------------------------------------------


@BOTH
def test_happy_path_returns_content_tokens_and_stop(server: FakeLLMServer, name: str) -> None:
    completion = complete(build(name, server))

    assert completion.finish == "stop"
    assert parse_model_json(completion.text, AnnotationOutput).entities[0].name == "李白"
    assert completion.input_tokens > 0
    assert completion.output_tokens > 0
    assert completion.raw is not None
    assert server.calls(name) == 1


@BOTH
def test_latency_is_the_time_the_server_took_in_milliseconds(name: str) -> None:
    with FakeLLMServer(latency=0.4) as slow:
        completion = complete(build(name, slow))
    assert completion.finish == "stop"
    # At least the server's delay; at most a generous allowance for a busy machine (not seconds or µs).
    assert 400 <= completion.latency_ms < 4000


def test_openai_json_schema_request_shape(server: FakeLLMServer) -> None:
    complete(build("openai", server, json_mode="json_schema"))

    [request] = server.requests_for("openai")
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "<present>"
    body = request.json
    assert body is not None
    assert body["model"] == "gpt-test"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "annotation", "schema": SCHEMA, "strict": True},
    }
    assert body["messages"] == [
        {"role": "system", "content": ARGS["system"]},
        {"role": "user", "content": ARGS["user"]},
    ]
    assert body["max_completion_tokens"] == 2000
    assert "max_tokens" not in body
    assert body["temperature"] == 0.0
    assert not body.get("stream")


def test_openai_json_object_mode_ensures_the_word_json(server: FakeLLMServer) -> None:
    provider = build("openai", server, json_mode="json_object")
    complete(provider, system="你是一名标注员。", user="文档：李白生于长安。")
    complete(provider)  # this prompt already says JSON

    first, second = server.requests_for("openai")
    assert first.json is not None
    assert second.json is not None
    assert first.json["response_format"] == {"type": "json_object"}
    assert "json" in first.json["messages"][0]["content"].lower()
    assert first.json["max_tokens"] == 2000
    assert "max_completion_tokens" not in first.json
    assert second.json["messages"][0]["content"] == ARGS["system"]


def test_openai_json_schema_mode_without_a_schema_falls_back_to_json_object(server: FakeLLMServer) -> None:
    complete(build("openai", server), json_schema=None, system="标注。", user="文档。")

    [request] = server.requests_for("openai")
    assert request.json is not None
    assert request.json["response_format"] == {"type": "json_object"}
    assert "json" in request.json["messages"][0]["content"].lower()


@pytest.mark.parametrize("api_version", ["v1beta", "v1"])
def test_gemini_request_shape(server: FakeLLMServer, api_version: str) -> None:
    complete(build("gemini", server, api_version=api_version))

    [request] = server.requests_for("gemini")
    assert request.path == f"/{api_version}/models/gemini-test:generateContent"
    assert request.headers["x-goog-api-key"] == "<present>"
    body = request.json
    assert body is not None
    assert body["contents"] == [{"role": "user", "parts": [{"text": ARGS["user"]}]}]
    assert body["systemInstruction"]["parts"] == [{"text": ARGS["system"]}]
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == SCHEMA
    assert config["temperature"] == 0.0
    assert config["maxOutputTokens"] == 2000


# -- finishes: safety, truncation, empty, non-JSON ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fault"), [("openai", "safety"), ("gemini", "safety"), ("gemini", "safety_candidate")]
)
def test_safety_block_is_finish_safety_and_not_retried(server: FakeLLMServer, name: str, fault: str) -> None:
    server.add_faults(fault)
    delays: list[float] = []

    completion = with_retries(build(name, server), delays)

    assert completion.finish == "safety"
    assert not completion.text
    assert server.calls(name) == 1
    assert delays == []


@BOTH
def test_truncated_answer_is_finish_length(server: FakeLLMServer, name: str) -> None:
    server.add_faults("truncated")

    completion = complete(build(name, server))

    assert completion.finish == "length"
    assert completion.text
    assert contract_reply(DEFAULT_ENTITIES).startswith(completion.text[:20])
    with pytest.raises(ValueError, match="JSON"):
        parse_model_json(completion.text, AnnotationOutput)


@BOTH
def test_empty_content_is_returned_for_the_caller_to_judge(server: FakeLLMServer, name: str) -> None:
    server.add_faults("empty")

    completion = complete(build(name, server))

    assert completion.finish == "stop"
    assert completion.text == ""
    assert server.calls(name) == 1


@BOTH
def test_fenced_and_invalid_json_pass_through_untouched(server: FakeLLMServer, name: str) -> None:
    server.add_faults("fenced_json", "invalid_json")
    provider = build(name, server)

    fenced = complete(provider)
    invalid = complete(provider)

    assert fenced.text is not None
    assert fenced.text.startswith("Here is")
    assert parse_model_json(fenced.text, AnnotationOutput).entities
    assert invalid.finish == "stop"
    with pytest.raises(ValueError, match="no JSON object"):
        parse_model_json(invalid.text, AnnotationOutput)


# -- errors and the single retry layer ---------------------------------------------------------------------------


@BOTH
def test_429_retry_after_is_honoured(server: FakeLLMServer, name: str) -> None:
    server.add_faults("429")
    delays: list[float] = []

    completion = with_retries(build(name, server), delays, base_delay=0.01)

    assert completion.finish == "stop"
    assert server.calls(name) == 2
    assert len(delays) == 1
    assert delays[0] >= 1.0


@BOTH
def test_429_error_carries_status_and_retry_after(server: FakeLLMServer, name: str) -> None:
    server.add_faults("429")

    with pytest.raises(ProviderError) as caught:
        complete(build(name, server))

    assert caught.value.status == 429
    assert caught.value.retryable
    assert caught.value.retry_after == 1.0
    assert server.calls(name) == 1  # the SDK did not retry on its own


@BOTH
def test_500_then_success(server: FakeLLMServer, name: str) -> None:
    server.add_faults("500")
    delays: list[float] = []

    completion = with_retries(build(name, server), delays, base_delay=0.5, max_delay=0.5)

    assert completion.finish == "stop"
    assert server.calls(name) == 2
    assert len(delays) == 1
    assert 0 <= delays[0] <= 0.5


@BOTH
def test_sdk_retries_are_off_and_ours_count_exactly(server: FakeLLMServer, name: str) -> None:
    server.add_faults("500", "503", "502", "500")
    delays: list[float] = []

    with pytest.raises(ProviderError, match="after 3 attempts") as caught:
        with_retries(build(name, server), delays, attempts=3)

    assert server.calls(name) == 3
    assert len(delays) == 2
    assert caught.value.status == 502
    assert caught.value.retryable


@BOTH
def test_timeout_is_retried_then_fails_clearly(server: FakeLLMServer, name: str) -> None:
    server.add_faults("timeout", "timeout")
    delays: list[float] = []

    with pytest.raises(ProviderError) as caught:
        with_retries(build(name, server, timeout=0.2), delays, attempts=2)

    assert "timeout" in str(caught.value)
    assert "0.2 s" in str(caught.value)
    assert "after 2 attempts" in str(caught.value)
    assert server.calls(name) == 2
    assert len(delays) == 1


@BOTH
def test_timeout_then_success(server: FakeLLMServer, name: str) -> None:
    server.add_faults("timeout")
    delays: list[float] = []

    completion = with_retries(build(name, server, timeout=0.2), delays)

    assert completion.finish == "stop"
    assert server.calls(name) == 2


@BOTH
def test_client_errors_are_not_retried(server: FakeLLMServer, name: str) -> None:
    server.add_faults("400")
    delays: list[float] = []

    with pytest.raises(ProviderError) as caught:
        with_retries(build(name, server), delays)

    assert caught.value.status == 400
    assert not caught.value.retryable
    assert server.calls(name) == 1
    assert delays == []


def test_connection_refused_is_retryable() -> None:
    with FakeLLMServer() as gone:
        url = gone.url
    provider = OpenAIProvider("gpt-test", api_key=KEY, base_url=f"{url}/v1", timeout=2)

    with pytest.raises(ProviderError, match="could not reach") as caught:
        complete(provider)

    assert caught.value.retryable


# -- secrets -----------------------------------------------------------------------------------------------------


@BOTH
def test_the_key_never_appears_in_errors_reprs_or_raw(server: FakeLLMServer, name: str) -> None:
    def echo_key(provider: str, model: str, request: dict[str, Any]) -> FakeReply:
        return FakeReply(status=401, body={"error": {"code": 401, "message": f"Incorrect API key provided: {KEY}"}})

    provider = build(name, server)
    ok = complete(provider)
    server.responder = echo_key

    with pytest.raises(ProviderError) as caught:
        complete(provider)

    error = caught.value
    assert error.status == 401
    assert not error.retryable
    for text in (str(error), repr(error), repr(provider), repr(ok), str(ok.raw), str(error.__cause__)):
        assert KEY not in text
    assert "[redacted]" in str(error)
    assert error.__cause__ is None  # the SDK exception (request and all) is not chained


@BOTH
def test_wrong_key_is_a_clear_non_retryable_401(server: FakeLLMServer, name: str) -> None:
    server.expected_key = "the-right-key"

    with pytest.raises(ProviderError, match="401") as caught:
        complete(build(name, server))

    assert not caught.value.retryable
    assert KEY not in str(caught.value)


# -- make_provider -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "variable"), [("openai", "OPENAI_API_KEY"), ("gemini", "GEMINI_API_KEY")])
def test_missing_key_names_the_variable_to_set(name: str, variable: str) -> None:
    with pytest.raises(ProviderError, match=variable) as caught:
        make_provider(name, "m", settings=settings(), environ={})
    assert not caught.value.retryable

    with pytest.raises(ProviderError, match="CONCORD_ANNOTATOR_DEEPSEEK_V3_API_KEY"):
        make_provider(name, "m", settings=settings(), annotator_env_prefix="deepseek-v3", environ={})


def test_make_provider_reads_settings(server: FakeLLMServer) -> None:
    openai_provider = make_provider(
        "openai",
        "gpt-test",
        settings=settings(openai_api_key=KEY, openai_base_url=server.openai_base_url),
        environ={},
        timeout=3.0,
    )
    gemini_provider = make_provider(
        "gemini",
        "gemini-test",
        settings=settings(gemini_api_key=KEY, google_gemini_base_url=server.url),
        environ={},
        api_version="v1",
    )
    assert isinstance(openai_provider, OpenAIProvider)
    assert isinstance(gemini_provider, GeminiProvider)
    assert complete(openai_provider).finish == "stop"
    assert complete(gemini_provider).finish == "stop"
    assert server.requests_for("gemini")[0].api_version == "v1"
    assert KEY not in repr(openai_provider) + repr(gemini_provider)


def test_per_annotator_variables_take_key_and_url_together(server: FakeLLMServer) -> None:
    environ = {
        "CONCORD_ANNOTATOR_DEEPSEEK_V3_API_KEY": "sk-deepseek",
        "CONCORD_ANNOTATOR_DEEPSEEK_V3_BASE_URL": server.openai_base_url,
    }
    server.expected_key = "sk-deepseek"
    provider = make_provider(
        "openai",
        "deepseek-chat",
        settings=settings(openai_api_key=KEY, openai_base_url="http://127.0.0.1:9/v1"),
        annotator_env_prefix="deepseek-v3",
        environ=environ,
        json_mode="json_object",
    )

    assert complete(provider).finish == "stop"

    # Its URL without its own key: the global key is not sent to the annotator's URL.
    with pytest.raises(ProviderError, match="CONCORD_ANNOTATOR_DEEPSEEK_V3_API_KEY"):
        make_provider(
            "openai",
            "deepseek-chat",
            settings=settings(openai_api_key=KEY),
            annotator_env_prefix="CONCORD_ANNOTATOR_DEEPSEEK_V3",
            environ={"CONCORD_ANNOTATOR_DEEPSEEK_V3_BASE_URL": server.openai_base_url},
        )


def test_env_prefix_for() -> None:
    assert env_prefix_for("deepseek-v3") == "CONCORD_ANNOTATOR_DEEPSEEK_V3"
    assert env_prefix_for("gemini 2.5/pro") == "CONCORD_ANNOTATOR_GEMINI_2_5_PRO"
    assert env_prefix_for("CONCORD_ANNOTATOR_X") == "CONCORD_ANNOTATOR_X"


def test_unknown_provider() -> None:
    with pytest.raises(ProviderError, match="unknown model provider"):
        make_provider("anthropic", "m", settings=settings(), environ={})


# -- call_with_retries on its own --------------------------------------------------------------------------------


class Scripted:
    """A Provider answering from a script of completions and errors."""

    def __init__(self, *script: Completion | ProviderError) -> None:
        self.script = list(script)
        self.calls = 0

    async def complete(
        self, *, system: str, user: str, json_schema: dict[str, Any] | None, temperature: float, max_output_tokens: int
    ) -> Completion:
        self.calls += 1
        step = self.script.pop(0)
        if isinstance(step, ProviderError):
            raise step
        return step


def answer(finish: str = "stop") -> Completion:
    return Completion("{}", 1, 1, finish, 5, None)  # type: ignore[arg-type]


def retry(provider: Provider, **options: Any) -> tuple[Completion | ProviderError, list[float]]:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    async def main() -> Completion:
        return await call_with_retries(provider, sleep=sleep, **options, **ARGS)

    try:
        return run_async(main()), delays
    except ProviderError as exc:
        return exc, delays


def test_finish_error_is_retried() -> None:
    provider = Scripted(answer("error"), answer("stop"))
    result, delays = retry(provider)
    assert isinstance(result, Completion)
    assert result.finish == "stop"
    assert provider.calls == 2
    assert len(delays) == 1


def test_length_and_safety_are_returned_not_retried() -> None:
    for finish in ("length", "safety"):
        provider = Scripted(answer(finish))
        result, delays = retry(provider)
        assert isinstance(result, Completion)
        assert result.finish == finish
        assert delays == []


def test_backoff_is_exponential_full_jitter_and_capped() -> None:
    transient = ProviderError("boom", retryable=True)
    provider = Scripted(*[transient] * 6)
    result, delays = retry(provider, attempts=6, base_delay=1.0, max_delay=4.0)
    assert isinstance(result, ProviderError)
    assert provider.calls == 6
    caps = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(delays) == len(caps)
    assert all(0 <= d <= cap for d, cap in zip(delays, caps, strict=True))


def test_retry_after_is_a_floor_and_a_huge_one_fails_at_once() -> None:
    provider = Scripted(ProviderError("slow down", retryable=True, retry_after=7.5), answer())
    result, delays = retry(provider, base_delay=0.01, max_delay=0.01)
    assert isinstance(result, Completion)
    assert delays == [7.5]

    provider = Scripted(ProviderError("quota", retryable=True, retry_after=3600, status=429), answer())
    result, delays = retry(provider)
    assert isinstance(result, ProviderError)
    assert result.retry_after == 3600
    assert provider.calls == 1
    assert delays == []


def test_non_retryable_error_is_raised_at_once() -> None:
    provider = Scripted(ProviderError("bad request", retryable=False, status=400), answer())
    result, delays = retry(provider)
    assert isinstance(result, ProviderError)
    assert result.status == 400
    assert provider.calls == 1
    assert delays == []


# -- concurrency and reuse ---------------------------------------------------------------------------------------


@BOTH
def test_calls_overlap_on_the_server(name: str) -> None:
    with FakeLLMServer(latency=0.3) as server:
        provider = build(name, server)

        async def many() -> list[Completion]:
            try:
                return await asyncio.gather(*(provider.complete(**ARGS) for _ in range(8)))
            finally:
                await provider.aclose()

        results = run_async(many())

    assert [r.finish for r in results] == ["stop"] * 8
    assert server.max_in_flight == 8


@BOTH
def test_a_provider_survives_several_event_loops(server: FakeLLMServer, name: str) -> None:
    provider = build(name, server)
    for _ in range(2):
        assert complete(provider).finish == "stop"  # one asyncio.run, closed at its end, each time
    assert server.calls(name) == 2


def test_retry_after_ms_and_gemini_retry_info_are_read(server: FakeLLMServer) -> None:
    def rate_limited(provider: str, model: str, request: dict[str, Any]) -> FakeReply:
        if provider == "openai":
            return FakeReply(status=429, headers={"retry-after-ms": "2500"})
        retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
        error = {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED", "details": [retry_info]}
        return FakeReply(status=429, body={"error": error})

    server.responder = rate_limited
    for name, expected in (("openai", 2.5), ("gemini", 7.0)):
        with pytest.raises(ProviderError) as caught:
            complete(build(name, server))
        assert caught.value.retry_after == expected


def test_provider_error_survives_pickling() -> None:
    error = ProviderError("gemini: HTTP 429", retryable=True, retry_after=1.0, status=429)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (copy.message, copy.retryable, copy.retry_after, copy.status) == ("gemini: HTTP 429", True, 1.0, 429)


def test_gemini_raw_keeps_the_wire_names(server: FakeLLMServer) -> None:
    raw = complete(build("gemini", server)).raw
    assert raw is not None
    assert raw["candidates"][0]["finishReason"] == "STOP"
    assert raw["usageMetadata"]["promptTokenCount"] > 0
