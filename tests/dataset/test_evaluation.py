"""Evaluation: strict NER and relations, DocRED scores equal to the official scorer's, loaders and their errors."""

import json
import zlib
from dataclasses import asdict
from functools import cache
from typing import Any

import pytest

from app.dataset.exporters import export_docred, export_jsonl
from app.dataset.predictions import load_predictions
from app.evaluation.records import ExportDocument, ExportEntity, ExportMention, ExportRelation, from_docred
from app.evaluation.scores import NO_TRAIN, TRAIN, EvaluationInputError, evaluate
from app.webtext.docred import parse_docred
from tests.conftest import FIXTURES
from tests.dataset.docred_official_eval import official_evaluate


@cache
def _gold(n: int = 30) -> list[ExportDocument]:
    raws = json.loads((FIXTURES / "docred" / "redocred_dev.json").read_text())[:n]
    return [from_docred(parse_docred(raw), doc_id=str(i)) for i, raw in enumerate(raws)]


def _roll(*key: object) -> int:
    return zlib.crc32("|".join(map(str, key)).encode()) % 100


def _perturbed_results(gold: list[ExportDocument]) -> list[dict[str, Any]]:
    """DocRED results records: facts dropped, relabelled, invented, duplicated, evidence changed."""
    out: list[dict[str, Any]] = []
    for doc in gold:
        position = {e.index: i for i, e in enumerate(doc.entities)}
        for k, r in enumerate(doc.relations):
            roll = _roll(doc.title, k)
            record = {"title": doc.title, "h_idx": position[r.head], "t_idx": position[r.tail], "r": r.type}
            if roll < 15:
                continue
            if roll < 25:
                record["r"] = "P17" if r.type != "P17" else "P131"
            evidence = sorted(set(r.evidence))
            record["evidence"] = evidence[:-1] if roll % 3 == 0 else [*evidence, (max(evidence, default=0) + 1) % 3]
            out.append(record)
            if roll > 90:
                out.append({**record, "evidence": []})  # a duplicate: the first one counts
        n = len(doc.entities)
        for k in range(3):
            h, t = _roll(doc.title, "h", k) % n, _roll(doc.title, "t", k) % n
            if h != t:
                out.append({"title": doc.title, "h_idx": h, "t_idx": t, "r": "P150", "evidence": [0]})
    return out


def test_official_scorer_gives_one_on_an_export_scored_against_itself() -> None:
    truth = json.loads(b"".join(export_docred(_gold())))
    answers = [
        {"title": d["title"], "h_idx": x["h"], "t_idx": x["t"], "r": x["r"], "evidence": x["evidence"]}
        for d in truth
        for x in d["labels"]
    ]
    scores = official_evaluate(truth, answers)
    assert scores["RE_F1"] == pytest.approx(1.0)
    assert scores["Evi_F1"] == pytest.approx(1.0)
    ours = evaluate(_gold(), load_predictions(json.dumps(answers).encode(), _gold()))
    assert ours.docred.f1 == pytest.approx(1.0)
    assert ours.entities_from_gold


def test_docred_scores_equal_the_official_scorers_on_a_perturbed_prediction() -> None:
    gold = _gold()
    train = _gold(40)[20:40]  # shares ten documents with gold: some correct facts were seen in training
    answers = _perturbed_results(gold)
    truth = json.loads(b"".join(export_docred(gold)))
    train_json = json.loads(b"".join(export_docred(train)))
    official = official_evaluate(truth, answers, train_annotated=train_json)
    predicted = load_predictions(json.dumps(answers).encode(), gold)
    report = evaluate(gold, predicted, train=train)
    assert 0.3 < official["RE_F1"] < 0.95  # non-trivial
    assert report.docred.f1 == pytest.approx(official["RE_F1"], abs=1e-12)
    assert report.docred.evidence_f1 == pytest.approx(official["Evi_F1"], abs=1e-12)
    assert report.docred.ign_f1 == pytest.approx(official["RE_ignore_annotated_F1"], abs=1e-12)
    assert report.docred.correct_in_train > 0
    assert report.docred.ign_f1 < report.docred.f1
    assert report.docred.ign_basis == TRAIN


def test_without_a_training_set_ign_f1_is_f1_and_says_so() -> None:
    gold = _gold(10)
    report = evaluate(gold, load_predictions(json.dumps(_perturbed_results(gold)).encode(), gold))
    assert report.docred.ign_f1 == report.docred.f1
    assert report.docred.ign_basis == NO_TRAIN
    json.dumps(asdict(report))  # serialises


def _toy(relations: list[ExportRelation], entities: list[ExportEntity] | None = None) -> ExportDocument:
    text = "甲在乙工作。丙是乙的老板。"
    default = [
        ExportEntity(0, "PER", "甲", [ExportMention(0, 1, "甲", 0)]),
        ExportEntity(1, "ORG", "乙", [ExportMention(2, 3, "乙", 0), ExportMention(8, 9, "乙", 1)]),
        ExportEntity(2, "PER", "丙", [ExportMention(6, 7, "丙", 1)]),
    ]
    return ExportDocument("1", "toy", text, [(0, 6), (6, 13)], default if entities is None else entities, relations)


def test_strict_scores_and_the_intra_inter_sentence_breakdown() -> None:
    gold = _toy([ExportRelation(0, 1, "works_for", [0]), ExportRelation(2, 0, "boss_of", [0, 1])])
    # The second mention of 乙 is missing: its NER mention and every strict relation through it fail.
    pred = _toy(
        [ExportRelation(0, 1, "works_for", [0]), ExportRelation(2, 0, "knows", [1])],
        [
            ExportEntity(0, "PER", "甲", [ExportMention(0, 1, "甲", 0)]),
            ExportEntity(1, "ORG", "乙", [ExportMention(2, 3, "乙", 0)]),
            ExportEntity(2, "LOC", "丙", [ExportMention(6, 7, "丙", 1)]),
        ],
    )
    report = evaluate([gold], [pred])
    assert (report.ner.correct, report.ner.predicted, report.ner.gold) == (2, 3, 4)
    assert (report.relations.correct, report.relations.predicted, report.relations.gold) == (0, 2, 2)
    assert (report.docred.correct, report.docred.predicted, report.docred.gold) == (1, 2, 2)
    assert report.docred.evidence_f1 == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert (report.intra_sentence.correct, report.intra_sentence.gold, report.intra_sentence.f1) == (1, 1, 1.0)
    assert (report.inter_sentence.correct, report.inter_sentence.gold, report.inter_sentence.f1) == (0, 1, 0.0)


def test_a_gold_document_without_a_prediction_counts_as_missed() -> None:
    gold = [_toy([ExportRelation(0, 1, "works_for")])]
    report = evaluate(gold, [])
    assert report.ner.gold == 4 and report.ner.recall == 0.0
    assert report.docred.gold == 1 and report.docred.f1 == 0.0


def test_jsonl_predictions_load_and_score_perfectly_against_their_source() -> None:
    gold = _gold(5)
    report = evaluate(gold, load_predictions(b"".join(export_jsonl(gold)), gold))
    assert report.ner.f1 == report.relations.f1 == report.docred.f1 == 1.0
    assert not report.entities_from_gold


def test_docred_predictions_are_carried_onto_gold_text_that_differs_in_spacing() -> None:
    text = "Jane Doe, 42, founded Acme.\nShe left."
    gold = ExportDocument(
        "g",
        "acme",
        text,
        [(0, 27), (28, len(text))],
        [
            ExportEntity(0, "PER", "Jane Doe", [ExportMention(0, 8, "Jane Doe", 0), ExportMention(28, 31, "She", 1)]),
            ExportEntity(1, "ORG", "Acme", [ExportMention(22, 26, "Acme", 0)]),
        ],
        [ExportRelation(0, 1, "founded", [0])],
    )
    exported = b"".join(export_docred([gold]))
    assert parse_docred(json.loads(exported)[0]).text != text  # DocRED respaces it
    report = evaluate([gold], load_predictions(exported, [gold]))
    assert report.ner.f1 == 1.0 and report.relations.f1 == 1.0
    # A DocRED prediction without sents is read over the gold's tokens.
    bare = json.loads(exported)
    del bare[0]["sents"]
    report = evaluate([gold], load_predictions(json.dumps(bare).encode(), [gold]))
    assert report.ner.f1 == 1.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"title": "toy", "entities": []}\n{"title": "toy2", ', r"line 2: not valid JSON"),
        (b'{"title": "nope"}\n', r"line 1 \(title 'nope'\): this title is not in the gold"),
        (
            b'{"title": "toy", "entities": [{"mentions": []}]}',
            r"line 1 \(title 'toy'\): entities\[0\] is missing 'type'",
        ),
        (
            b'{"title": "toy", "entities": [{"type": "PER", "mentions": [{"start": 0}]}]}',
            r"entities\[0\]\.mentions\[0\] is missing 'end'",
        ),
        (
            b'{"title": "toy", "entities": [{"type": "PER", "mentions": [{"start": 0, "end": 1}]}],'
            b' "relations": [{"head": 0, "tail": 4, "type": "x"}]}',
            r"relations\[0\] refers to entity 4, but there are 1 entities",
        ),
        (b'{"title": "toy"}\n\n{"title": "toy"}\n', r"line 3 \(title 'toy'\): this title appears twice"),
        (b'{"title": "toy", "text": "completely different"}', r"differs from the gold text"),
        (
            b'[{"title": "toy", "vertexSet": [[{"pos": [0, 1], "sent_id": 0, "name": "x"}]],'
            b' "labels": [{"h": 0, "t": 3, "r": "x"}]}]',
            r"item 0 \(title 'toy'\): labels\[0\] refers to entity 3",
        ),
        (b'[{"title": "toy", "labels": []}]', r"item 0 \(title 'toy'\): the document is missing 'vertexSet'"),
        (
            b'[{"title": "toy", "h_idx": 0, "t_idx": 1, "r": "x"}, {"title": "toy", "h_idx": 9, "t_idx": 1, "r": "x"}]',
            r"item 1 \(title 'toy'\): refers to entity 9, but the gold vertexSet has 3",
        ),
        (b'[{"title": "toy", "h_idx": 0, "t_idx": 1}]', r"item 0 \(title 'toy'\): the record is missing 'r'"),
        (b"[1, 2", r"not valid JSON .* line 1"),
        (b"\xff\xfe", r"not UTF-8"),
    ],
)
def test_bad_prediction_files_name_the_first_bad_record(content: bytes, message: str) -> None:
    with pytest.raises(EvaluationInputError, match=message):
        load_predictions(content, [_toy([])])


def test_loader_reads_files_and_works_without_gold(tmp_path: Any) -> None:
    path = tmp_path / "pred.jsonl"
    path.write_bytes(b"".join(export_jsonl([_toy([ExportRelation(2, 1, "boss_of", [1])])])))
    docs = load_predictions(path)
    assert [len(d.entities) for d in docs] == [3]
    assert docs[0].relations[0].type == "boss_of"
    assert load_predictions(b"") == []
    with pytest.raises(EvaluationInputError, match="only be read against the gold"):
        load_predictions(b'[{"title": "toy", "h_idx": 0, "t_idx": 1, "r": "x"}]')


def test_predictions_for_unknown_or_repeated_titles_are_refused() -> None:
    with pytest.raises(EvaluationInputError, match="prediction 0: title 'other'"):
        evaluate([_toy([])], [ExportDocument("x", "other", "", [])])
    with pytest.raises(EvaluationInputError, match="appears twice"):
        evaluate([_toy([]), _toy([])], [])
