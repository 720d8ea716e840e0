"""The compiled module is used only when it is usable, and ingestion gives the same documents without it."""

import importlib
import sys
import types
from collections.abc import Iterator

import pytest

import app.webtext
from app.webtext import dedup, native, pipeline
from app.webtext.pipeline import IngestPolicy, Processed, process_records
from app.webtext.records import RawRecord
from tests.conftest import require_compiled_module

PAGE = (
    "<html><head><title>北京大学</title></head><body><nav>首页 新闻 关于</nav><article><p>北京大学于一八九八年创办，"
    "是中国近代第一所国立综合性大学。</p>\r\n\r\n<p>  它的前身是京师大学堂，\x07校址位于北京市海淀区。  </p>"
    "</article></body></html>"
)


@pytest.fixture
def reloaded_native() -> Iterator[None]:
    yield
    importlib.reload(native)


def _stand_in(version: object) -> types.ModuleType:
    module = types.ModuleType("app.webtext._native")
    if version is not None:
        module.VERSION = version  # type: ignore[attr-defined]
    return module


@pytest.mark.usefixtures("reloaded_native")
@pytest.mark.parametrize("version", [None, native.VERSION - 1, "1"])
def test_a_module_built_from_other_source_is_not_used(monkeypatch: pytest.MonkeyPatch, version: object) -> None:
    stand_in = _stand_in(version)
    monkeypatch.setitem(sys.modules, "app.webtext._native", stand_in)
    monkeypatch.setattr(app.webtext, "_native", stand_in, raising=False)
    importlib.reload(native)
    assert native.compiled is None


@pytest.mark.usefixtures("reloaded_native")
def test_a_module_of_this_version_is_used() -> None:
    built = require_compiled_module()
    importlib.reload(native)
    assert native.compiled is built


def test_ingestion_makes_the_same_documents_without_the_compiled_module(monkeypatch: pytest.MonkeyPatch) -> None:
    require_compiled_module()
    records = [
        RawRecord(kind="html", offset=0, content_bytes=PAGE.encode(), http_status=200),
        RawRecord(kind="text", offset=1, text=" 第一段。\r\n\r\n\r\n第二段\u3000\n\n\n" * 20),
        RawRecord(kind="text", offset=2, text="É\u0301cole 𠮷野家，第一段。" * 10),
    ]
    policy = IngestPolicy(languages=frozenset(), min_chars=1)
    compiled = process_records(records, policy)
    monkeypatch.setattr(pipeline, "_native", None)
    monkeypatch.setattr(dedup, "_native", None)
    plain = process_records(records, policy)
    assert all(isinstance(result, Processed) for result in compiled)
    for fast, slow in zip(compiled, plain, strict=True):
        assert isinstance(fast, Processed) and isinstance(slow, Processed)
        assert (fast.text, fast.sentences_json, fast.text_hash, fast.minhash) == (
            slow.text,
            slow.sentences_json,
            slow.text_hash,
            slow.minhash,
        )
