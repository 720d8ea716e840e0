"""Predictions scored against gold with app.evaluation's scorer (what `concord evaluate` runs), so a
model's learnability figures and any other predictions' scores are comparable. Pure.

Entities and relations: app.evaluation.scores.evaluate (mentions by exact span and type; relations strictly,
head and tail by type and exact mention spans). Intra- vs inter-sentence: the strict split of
app.evaluation.metrics.GoldTally (the dashboard's model-against-gold code), because evaluate's own split counts
DocRED facts by entity position, which holds only for predictions over the gold's entity list. Per type: the same
evaluate on the documents restricted to one entity or relation type.
"""

from collections.abc import Sequence
from dataclasses import replace

from app.evaluation.metrics import GoldTally
from app.evaluation.records import ExportDocument, ExportEntity, ExportMention, ExportRelation
from app.evaluation.scores import evaluate
from app.modelling.data import Doc
from app.modelling.report import ScoresJson, score_json


def export_document(doc: Doc, title: str) -> ExportDocument:
    """A Doc as the scorer's document: sentences joined, mentions as text offsets."""
    starts, text = [], ""
    for sentence in doc.sentences:
        starts.append(len(text))
        text += sentence
    entities = [
        ExportEntity(
            i,
            e.type,
            doc.mention_text(e.mentions[0]) if e.mentions else "",
            [
                ExportMention(starts[m.sentence] + m.start, starts[m.sentence] + m.end, doc.mention_text(m), m.sentence)
                for m in e.mentions
            ],
        )
        for i, e in enumerate(doc.entities)
    ]
    relations = [ExportRelation(r.head, r.tail, r.type, list(r.evidence)) for r in doc.relations]
    sentences = [(s, s + len(sentence)) for s, sentence in zip(starts, doc.sentences, strict=True)]
    return ExportDocument(str(title), title, text, sentences, entities, relations)


def _only_relation(doc: ExportDocument, relation_type: str) -> ExportDocument:
    return replace(doc, relations=[r for r in doc.relations if r.type == relation_type])


def _only_entity(doc: ExportDocument, entity_type: str) -> ExportDocument:
    return replace(doc, entities=[e for e in doc.entities if e.type == entity_type], relations=[])


def score_predictions(gold: Sequence[Doc], predicted: Sequence[Doc]) -> ScoresJson:
    """Entity and relation P/R/F1, intra- and inter-sentence relations, and each per type; documents are
    matched by position (titles need not be unique)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} documents")
    g = [export_document(d, str(i)) for i, d in enumerate(gold)]
    p = [export_document(d, str(i)) for i, d in enumerate(predicted)]
    report = evaluate(g, p)
    tally = GoldTally()
    for mine, ref in zip(p, g, strict=True):
        tally.add(mine, ref)
    split = tally.figures()
    entity_types = sorted({e.type for d in (*g, *p) for e in d.entities})
    relation_types = sorted({r.type for d in (*g, *p) for r in d.relations})
    return {
        "documents": len(gold),
        "entities": score_json(report.ner),
        "relations": score_json(report.relations),
        "intra_sentence": score_json(split.intra),
        "inter_sentence": score_json(split.cross),
        "per_entity_type": {
            t: score_json(evaluate([_only_entity(d, t) for d in g], [_only_entity(d, t) for d in p]).ner)
            for t in entity_types
        },
        "per_relation_type": {
            r: score_json(evaluate([_only_relation(d, r) for d in g], [_only_relation(d, r) for d in p]).relations)
            for r in relation_types
        },
    }
