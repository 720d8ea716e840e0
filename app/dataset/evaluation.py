"""Predictions against gold: strict NER and relation scores, the official DocRED scores, intra/inter-sentence.

DocRED F1, Ign F1 and evidence F1 follow thunlp/DocRED code/evaluation.py: a fact is (title, r, head index,
tail index), the indices being positions in the document's entity list (the vertexSet), so a prediction must
use the gold's entities, as DocRED results files and predictions over an exported DocRED file do. The strict
relation score instead matches head and tail by type and exact mention spans, for end-to-end predictions.
"""

import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.dataset.exporters import docred_record
from app.dataset.metrics import Score, mention_keys, position_of, prf, relation_keys
from app.dataset.records import ExportDocument, ExportEntity, ExportMention, ExportRelation, from_docred
from app.webtext.docred import DocredError, parse_docred

NO_TRAIN = "no training set given: ign_f1 equals f1"
TRAIN = "facts whose head and tail mention names and relation occur in the training set are ignored"


class EvaluationInputError(ValueError):
    """A prediction (or gold) file that cannot be scored; the message names the first bad record."""


@dataclass(frozen=True, slots=True)
class DocredScore:
    precision: float
    recall: float
    f1: float
    ign_precision: float
    ign_f1: float
    ign_basis: str
    evidence_precision: float
    evidence_recall: float
    evidence_f1: float
    correct: int
    predicted: int
    gold: int
    correct_in_train: int


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    documents: int
    ner: Score
    relations: Score
    docred: DocredScore
    intra_sentence: Score
    inter_sentence: Score
    # True when every prediction reused the gold entities (a DocRED results file): ner is then not measured.
    entities_from_gold: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Fact = tuple[str, str, int, int]  # title, relation, head position, tail position


def _facts(doc: ExportDocument) -> list[tuple[Fact, list[int]]]:
    position = position_of(doc)
    return [
        ((doc.title, r.type, position[r.head], position[r.tail]), sorted(set(r.evidence)))
        for r in doc.relations
        if r.head in position and r.tail in position
    ]


def _names(entity: ExportEntity, text: str) -> list[str]:
    return [text[m.start : m.end].strip() for m in entity.mentions]


def _train_facts(train: Sequence[ExportDocument]) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for doc in train:
        for (_, r, h, t), _ in _facts(doc):
            out.update(
                (n1, n2, r) for n1 in _names(doc.entities[h], doc.text) for n2 in _names(doc.entities[t], doc.text)
            )
    return out


def _intra(doc: ExportDocument, h: int, t: int) -> bool:
    return bool({m.sentence_id for m in doc.entities[h].mentions} & {m.sentence_id for m in doc.entities[t].mentions})


def _by_title(gold: Sequence[ExportDocument]) -> dict[str, ExportDocument]:
    out: dict[str, ExportDocument] = {}
    for i, doc in enumerate(gold):
        if doc.title in out:
            raise EvaluationInputError(f"gold document {i}: title {doc.title!r} appears twice; titles must be unique")
        out[doc.title] = doc
    return out


def evaluate(
    gold: Sequence[ExportDocument],
    predicted: Sequence[ExportDocument],
    *,
    train: Sequence[ExportDocument] | None = None,
) -> EvaluationReport:
    """Score predictions against gold, documents matched by title; a gold document without one has none."""
    gold_by_title = _by_title(gold)
    seen: set[str] = set()
    for i, doc in enumerate(predicted):
        if doc.title not in gold_by_title:
            raise EvaluationInputError(f"prediction {i}: title {doc.title!r} is not in the gold")
        if doc.title in seen:
            raise EvaluationInputError(f"prediction {i}: title {doc.title!r} appears twice")
        seen.add(doc.title)
    ner = [0, 0, 0]
    strict = [0, 0, 0]
    for doc in predicted:
        ref = gold_by_title[doc.title]
        p, g = mention_keys(doc), mention_keys(ref)
        ner = [ner[0] + len(p & g), ner[1] + len(p), ner[2] + len(g)]
        pr, gr = relation_keys(doc), relation_keys(ref)
        strict = [strict[0] + len(pr & gr), strict[1] + len(pr), strict[2] + len(gr)]
    for doc in gold:
        if doc.title not in seen:
            ner[2] += len(mention_keys(doc))
            strict[2] += len(relation_keys(doc))
    docred, intra, inter = _docred_scores(gold, predicted, train)
    return EvaluationReport(
        documents=len(gold),
        ner=prf(*ner),
        relations=prf(*strict),
        docred=docred,
        intra_sentence=intra,
        inter_sentence=inter,
        entities_from_gold=bool(predicted) and all(d.meta.get("entities_from") == "gold" for d in predicted),
    )


def _docred_scores(
    gold: Sequence[ExportDocument], predicted: Sequence[ExportDocument], train: Sequence[ExportDocument] | None
) -> tuple[DocredScore, Score, Score]:
    # The official script, counted the same way: gold facts deduplicated (last evidence wins), evidence summed
    # over every gold label, predictions deduplicated (first wins), Ign F1 with the unchanged recall.
    gold_by_title = {d.title: d for d in gold}
    std: dict[Fact, set[int]] = {}
    tot_evidences = 0
    gold_intra: dict[Fact, bool] = {}
    for doc in gold:
        for fact, gold_evi in _facts(doc):
            std[fact] = set(gold_evi)
            tot_evidences += len(gold_evi)
            gold_intra[fact] = _intra(doc, fact[2], fact[3])
    answers: dict[Fact, set[int]] = {}
    answer_intra: dict[Fact, bool] = {}
    for doc in predicted:
        ref = gold_by_title[doc.title]
        for fact, evi in _facts(doc):
            if fact not in answers:
                answers[fact] = set(evi)
                h, t = fact[2], fact[3]
                in_gold = h < len(ref.entities) and t < len(ref.entities)
                answer_intra[fact] = _intra(ref, h, t) if in_gold else _intra(doc, h, t)
    train_facts = _train_facts(train) if train is not None else set()
    correct = correct_evidence = correct_in_train = 0
    pred_evi = sum(len(e) for e in answers.values())
    for fact, evi_set in answers.items():
        if fact in std:
            correct += 1
            correct_evidence += len(std[fact] & evi_set)
            ref = gold_by_title[fact[0]]
            heads, tails = _names(ref.entities[fact[2]], ref.text), _names(ref.entities[fact[3]], ref.text)
            if any((n1, n2, fact[1]) in train_facts for n1 in heads for n2 in tails):
                correct_in_train += 1
    overall = prf(correct, len(answers), len(std))
    evidence = prf(correct_evidence, pred_evi, tot_evidences)
    ign_predicted = len(answers) - correct_in_train
    ign_p = (correct - correct_in_train) / ign_predicted if ign_predicted else 0.0
    ign_f1 = 2 * ign_p * overall.recall / (ign_p + overall.recall) if ign_p + overall.recall else 0.0
    docred = DocredScore(
        precision=overall.precision,
        recall=overall.recall,
        f1=overall.f1,
        ign_precision=ign_p,
        ign_f1=ign_f1,
        ign_basis=TRAIN if train is not None else NO_TRAIN,
        evidence_precision=evidence.precision,
        evidence_recall=evidence.recall,
        evidence_f1=evidence.f1,
        correct=correct,
        predicted=len(answers),
        gold=len(std),
        correct_in_train=correct_in_train,
    )

    def group(intra: bool) -> Score:
        mine = {f for f, v in answer_intra.items() if v is intra}
        theirs = {f for f, v in gold_intra.items() if v is intra}
        return prf(len(mine & theirs), len(mine), len(theirs))

    return docred, group(True), group(False)


# Loading predictions


def load_predictions(source: bytes | str | Path, gold: Sequence[ExportDocument] | None = None) -> list[ExportDocument]:
    """Predictions from our JSONL or a DocRED JSON array (documents, or official results records).

    With gold, titles must be gold titles, a DocRED document without `sents` is read over the gold's tokens,
    results records ({title, h_idx, t_idx, r, evidence}) take the gold's entities, and mention offsets are
    carried onto the gold text when the prediction's text differs from it only in whitespace.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvaluationInputError(f"not UTF-8 at byte {exc.start}") from None
    gold_by_title = _by_title(gold) if gold is not None else None
    if text.lstrip().startswith("["):
        return _load_docred(text, gold_by_title)
    return _load_jsonl(text, gold_by_title)


class _Bad(Exception):
    """A problem in one record, before it is given its place in the file."""


def _load_jsonl(text: str, gold: dict[str, ExportDocument] | None) -> list[ExportDocument]:
    out: list[ExportDocument] = []
    titles: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvaluationInputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        title = raw.get("title") if isinstance(raw, dict) else None
        if isinstance(title, str):
            where += f" (title {title!r})"
        try:
            doc = _jsonl_document(raw)
            out.append(_place(doc, gold, titles))
        except (_Bad, DocredError) as exc:
            raise EvaluationInputError(f"{where}: {exc}") from None
    return out


def _load_docred(text: str, gold: dict[str, ExportDocument] | None) -> list[ExportDocument]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvaluationInputError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    results: dict[str, list[ExportRelation]] = {}
    out: list[ExportDocument] = []
    titles: set[str] = set()
    for i, item in enumerate(items):
        title = item.get("title") if isinstance(item, dict) else None
        where = f"item {i}" + (f" (title {title!r})" if isinstance(title, str) else "")
        try:
            if not isinstance(item, dict) or not isinstance(title, str):
                raise _Bad("needs an object with a string 'title'")
            if "h_idx" in item or "t_idx" in item:
                results.setdefault(title, []).append(_result_relation(item, gold))
            else:
                out.append(_place(_docred_document(item, gold), gold, titles))
        except (_Bad, DocredError) as exc:
            raise EvaluationInputError(f"{where}: {exc}") from None
    if results and out:
        raise EvaluationInputError("mixes DocRED documents and results records; give one or the other")
    if results and gold is not None:
        out = [_with_relations(gold[title], relations) for title, relations in results.items()]
    return out


def _require(raw: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = raw.get(key)
    if key not in raw:
        raise _Bad(f"{what} is missing {key!r}")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Bad(f"{what}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _jsonl_document(raw: Any) -> ExportDocument:
    if not isinstance(raw, dict):
        raise _Bad("needs a JSON object")
    title = _require(raw, "title", str, "the document")
    raw_text = raw.get("text")
    text = raw_text if isinstance(raw_text, str) else ""
    entities: list[ExportEntity] = []
    for i, e in enumerate(_list(raw, "entities")):
        what = f"entities[{i}]"
        if not isinstance(e, dict):
            raise _Bad(f"{what} must be an object")
        mentions = []
        for j, m in enumerate(_require(e, "mentions", list, what)):
            if not isinstance(m, dict):
                raise _Bad(f"{what}.mentions[{j}] must be an object")
            start = _require(m, "start", int, f"{what}.mentions[{j}]")
            end = _require(m, "end", int, f"{what}.mentions[{j}]")
            if not 0 <= start < end or (text and end > len(text)):
                raise _Bad(f"{what}.mentions[{j}]: [{start}, {end}] is not a span of the text")
            sentence_id = m.get("sentence_id")
            mentions.append(
                ExportMention(start, end, text[start:end], sentence_id if isinstance(sentence_id, int) else -1)
            )
        index = e.get("index", i)
        entity_type = _require(e, "type", str, what)
        entities.append(
            ExportEntity(index if isinstance(index, int) else i, entity_type, str(e.get("name") or ""), mentions)
        )
    indices = {e.index for e in entities}
    relations = []
    for i, r in enumerate(_list(raw, "relations")):
        what = f"relations[{i}]"
        if not isinstance(r, dict):
            raise _Bad(f"{what} must be an object")
        head, tail = _require(r, "head", int, what), _require(r, "tail", int, what)
        for end_index in (head, tail):
            if end_index not in indices:
                raise _Bad(f"{what} refers to entity {end_index}, but there are {len(entities)} entities")
        evidence = r.get("evidence") or []
        if not isinstance(evidence, list) or not all(isinstance(x, int) for x in evidence):
            raise _Bad(f"{what}: 'evidence' must be a list of sentence indices")
        relations.append(ExportRelation(head, tail, _require(r, "type", str, what), evidence))
    raw_sentences = raw.get("sentences")
    sentences = raw_sentences if isinstance(raw_sentences, list) else []
    return ExportDocument(
        id=str(raw.get("id") or ""),
        title=title,
        text=text,
        sentences=[(int(s[0]), int(s[1])) for s in sentences if isinstance(s, list) and len(s) == 2],
        entities=entities,
        relations=relations,
        meta={"has_text": "text" in raw},
    )


def _list(raw: dict[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise _Bad(f"{key!r} must be a list")
    return value


def _docred_document(item: dict[str, Any], gold: dict[str, ExportDocument] | None) -> ExportDocument:
    for key in ("vertexSet", "labels"):
        _require(item, key, list, "the document")
    if "sents" not in item:
        if gold is None or item["title"] not in gold:
            raise _Bad("the document is missing 'sents' (needed unless it is read over a gold document's tokens)")
        item = {**item, "sents": docred_record(gold[item["title"]])["sents"]}
    doc = from_docred(parse_docred(item))
    return ExportDocument(
        id="",
        title=doc.title,
        text=doc.text,
        sentences=doc.sentences,
        entities=doc.entities,
        relations=doc.relations,
        meta={"has_text": True},
    )


def _result_relation(item: dict[str, Any], gold: dict[str, ExportDocument] | None) -> ExportRelation:
    if gold is None:
        raise _Bad("DocRED results records ('h_idx', 't_idx') can only be read against the gold documents")
    ref = gold.get(item["title"])
    if ref is None:
        raise _Bad("this title is not in the gold")
    h, t = _require(item, "h_idx", int, "the record"), _require(item, "t_idx", int, "the record")
    relation = _require(item, "r", str, "the record")
    for index in (h, t):
        if not 0 <= index < len(ref.entities):
            raise _Bad(f"refers to entity {index}, but the gold vertexSet has {len(ref.entities)}")
    evidence = item.get("evidence") or []
    if not isinstance(evidence, list) or not all(isinstance(x, int) for x in evidence):
        raise _Bad("'evidence' must be a list of sentence indices")
    return ExportRelation(ref.entities[h].index, ref.entities[t].index, relation, evidence)


def _with_relations(ref: ExportDocument, relations: list[ExportRelation]) -> ExportDocument:
    return ExportDocument(
        id=ref.id,
        title=ref.title,
        text=ref.text,
        sentences=ref.sentences,
        entities=ref.entities,
        relations=relations,
        meta={"entities_from": "gold"},
    )


def _place(doc: ExportDocument, gold: dict[str, ExportDocument] | None, titles: set[str]) -> ExportDocument:
    """Check the title, and put the mentions on the gold text (offsets, sentences) when there is one."""
    if doc.title in titles:
        raise _Bad("this title appears twice in the predictions")
    titles.add(doc.title)
    if gold is None:
        return doc
    ref = gold.get(doc.title)
    if ref is None:
        raise _Bad("this title is not in the gold")
    move = _aligner(doc.text, ref.text) if doc.meta.get("has_text") and doc.text != ref.text else None
    starts = [s for s, _ in ref.sentences]
    entities = []
    for e in doc.entities:
        mentions = []
        for m in e.mentions:
            start, end = move(m.start, m.end) if move else (m.start, m.end)
            if end > len(ref.text):
                raise _Bad(f"mention [{m.start}, {m.end}] is outside the gold text ({len(ref.text)})")
            sid = max(bisect_right(starts, start) - 1, 0)
            mentions.append(ExportMention(start, end, ref.text[start:end], sid))
        entities.append(ExportEntity(e.index, e.type, e.name, mentions))
    return ExportDocument(
        id=ref.id,
        title=doc.title,
        text=ref.text,
        sentences=ref.sentences,
        entities=entities,
        relations=doc.relations,
    )


def _aligner(source: str, target: str) -> Callable[[int, int], tuple[int, int]]:
    """Offsets in source → offsets in target, two texts equal once whitespace is removed."""
    src = [i for i, ch in enumerate(source) if not ch.isspace()]
    dst = [i for i, ch in enumerate(target) if not ch.isspace()]
    if len(src) != len(dst) or any(source[i] != target[j] for i, j in zip(src, dst, strict=True)):
        raise _Bad("its text differs from the gold text (beyond whitespace), so mentions cannot be aligned")

    def move(start: int, end: int) -> tuple[int, int]:
        first = bisect_right(src, start - 1)  # first non-blank at or after start
        last = bisect_right(src, end - 1) - 1  # last non-blank before end
        if last < first:
            raise _Bad(f"mention [{start}, {end}] covers only whitespace")
        return dst[first], dst[last] + 1

    return move
