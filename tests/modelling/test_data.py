"""Reading a snapshot's DocRED splits, units and windows, and the refusals that need no torch."""

from itertools import pairwise
from pathlib import Path

import pytest

from app.modelling import Doc, Mention, TrainConfig, TrainingRefused, load_snapshot, load_split, train
from app.modelling.features import make_windows, units
from tests.conftest import FIXTURES
from tests.modelling.corpus import tiny_docs, write_docred


def test_load_split_reads_what_a_snapshot_writes(tmp_path: Path) -> None:
    docs = tiny_docs(3)
    for split in ("train", "dev", "test"):
        write_docred(tmp_path / "docred" / f"{split}.json", docs)
    data = load_snapshot(tmp_path)
    assert data.train == data.dev == data.test == docs
    first = data.train[0]
    assert first.sentences == ["张伟毕业于清华大学。", "后来张伟加入腾讯公司。", "腾讯公司位于深圳。"]
    assert first.entities[0].mentions == [Mention(0, 0, 2), Mention(1, 2, 4)]
    r = first.relations[0]
    assert (r.head, r.tail, r.type, r.evidence) == (0, 1, "毕业于", [0])


def test_load_split_reads_re_docred() -> None:
    docs = load_split(FIXTURES / "docred" / "redocred_dev.json")
    assert len(docs) == 500
    doc = docs[0]
    for entity in doc.entities:
        for m in entity.mentions:
            assert doc.mention_text(m).strip() == doc.mention_text(m) != ""
    assert sum(len(d.relations) for d in docs) > 10_000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "train.json: not a DocRED JSON file"),
        ('{"title": "x"}', "train.json: a DocRED file is a JSON array"),
        ('[{"title": "x", "sents": [["a"]], "vertexSet": [[{"pos": [0, 3], "sent_id": 0}]]}]', "document 0"),
    ],
)
def test_a_bad_split_file_is_refused_by_name(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "train.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TrainingRefused, match=message):
        load_split(path)


def test_a_missing_split_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainingRefused, match=r"dev\.json: no such split file"):
        load_split(tmp_path / "dev.json")


def test_units_are_characters_of_chinese_and_words_of_latin_script() -> None:
    text = "张伟 joined Huawei在2019年。"
    assert [text[a:b] for a, b in units(text)] == ["张", "伟", "joined", "Huawei", "在", "2019", "年", "。"]
    assert units("") == []
    assert [("𠮷野家"[a:b]) for a, b in units("𠮷野家")] == ["𠮷", "野", "家"]


@pytest.mark.parametrize("counts", [[1] * 100, [1, 3, 8, 2, 1] * 20, [8] * 7, [1]])
def test_windows_cover_every_unit_within_the_budget_and_overlap(counts: list[int]) -> None:
    windows = make_windows(counts, 14)
    assert windows[0][0] == 0
    assert windows[-1][1] == len(counts)
    for (a, b), (c, d) in pairwise(windows):
        assert c <= b  # no gap
        assert c > a and d > b  # moving on
    for a, b in windows:
        assert b - a == 1 or sum(counts[a:b]) <= 14


@pytest.mark.parametrize(
    ("train_docs", "dev_docs", "message"),
    [
        ([], tiny_docs(1), "the train split has no documents"),
        (tiny_docs(2), [], "the dev split has no documents"),
        ([Doc("t", ["没有关系。"])], tiny_docs(1), "the train split has no relations"),
    ],
)
def test_data_no_model_can_learn_from_is_refused_before_anything_is_written(
    tmp_path: Path, train_docs: list[Doc], dev_docs: list[Doc], message: str
) -> None:
    with pytest.raises(TrainingRefused, match=message):
        train(train_docs, dev_docs, TrainConfig(), tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_settings_out_of_range_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainingRefused, match="epochs must be at least 1"):
        train(tiny_docs(2), tiny_docs(1), TrainConfig(epochs=0), tmp_path / "model")
    with pytest.raises(TrainingRefused, match="device must be one of"):
        train(tiny_docs(2), tiny_docs(1), TrainConfig(device="tpu"), tmp_path / "model")  # type: ignore[arg-type]
