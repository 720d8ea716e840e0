"""Predictions against gold: strict NER and relation scores, the official DocRED scores, intra/inter-sentence.

DocRED F1, Ign F1 and evidence F1 follow thunlp/DocRED code/evaluation.py: a fact is (title, r, head index,
tail index), the indices being positions in the document's entity list (the vertexSet), so a prediction must
use the gold's entities, as DocRED results files and predictions over an exported DocRED file do. The strict
relation score instead matches head and tail by type and exact mention spans, for end-to-end predictions.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from app.evaluation.metrics import Score, mention_keys, position_of, prf, relation_keys
from app.evaluation.records import ExportDocument, ExportEntity

NO_TRAIN = "no training set given: ign_f1 equals f1"
TRAIN = "facts whose head and tail mention names and relation occur in the training set are ignored"


class EvaluationInputError(ValueError):
    """A prediction (or gold) file that cannot be scored; the message names the first bad record."""


def by_title(gold: Sequence[ExportDocument]) -> dict[str, ExportDocument]:
    out: dict[str, ExportDocument] = {}
    for i, doc in enumerate(gold):
        if doc.title in out:
            raise EvaluationInputError(f"gold document {i}: title {doc.title!r} appears twice; titles must be unique")
        out[doc.title] = doc
    return out


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


def evaluate(
    gold: Sequence[ExportDocument],
    predicted: Sequence[ExportDocument],
    *,
    train: Sequence[ExportDocument] | None = None,
) -> EvaluationReport:
    """Score predictions against gold, documents matched by title; a gold document without one has none."""
    gold_by_title = by_title(gold)
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
        entities_from_gold=bool(predicted) and all(d.meta.entities_from == "gold" for d in predicted),
    )


def _gold_facts(gold: Sequence[ExportDocument]) -> tuple[dict[Fact, set[int]], int, dict[Fact, bool]]:
    """Gold facts with their evidence (a repeated fact: the last wins), the evidence count summed over every gold
    label, and whether each fact is intra-sentence."""
    std: dict[Fact, set[int]] = {}
    tot_evidences = 0
    intra: dict[Fact, bool] = {}
    for doc in gold:
        for fact, gold_evi in _facts(doc):
            std[fact] = set(gold_evi)
            tot_evidences += len(gold_evi)
            intra[fact] = _intra(doc, fact[2], fact[3])
    return std, tot_evidences, intra


def _answer_facts(
    predicted: Sequence[ExportDocument], gold_by_title: dict[str, ExportDocument]
) -> tuple[dict[Fact, set[int]], dict[Fact, bool]]:
    """Predicted facts with their evidence (a repeated fact: the first wins), and whether each is intra-sentence,
    judged on the gold's entities where the indices exist there."""
    answers: dict[Fact, set[int]] = {}
    intra: dict[Fact, bool] = {}
    for doc in predicted:
        ref = gold_by_title[doc.title]
        for fact, evi in _facts(doc):
            if fact not in answers:
                answers[fact] = set(evi)
                h, t = fact[2], fact[3]
                in_gold = h < len(ref.entities) and t < len(ref.entities)
                intra[fact] = _intra(ref, h, t) if in_gold else _intra(doc, h, t)
    return answers, intra


def _docred_scores(
    gold: Sequence[ExportDocument], predicted: Sequence[ExportDocument], train: Sequence[ExportDocument] | None
) -> tuple[DocredScore, Score, Score]:
    # The official script, counted the same way: gold facts deduplicated (last evidence wins), evidence summed
    # over every gold label, predictions deduplicated (first wins), Ign F1 with the unchanged recall.
    gold_by_title = {d.title: d for d in gold}
    std, tot_evidences, gold_intra = _gold_facts(gold)
    answers, answer_intra = _answer_facts(predicted, gold_by_title)
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
