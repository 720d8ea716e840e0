"""The datasheet of a snapshot, tallied one exported document at a time (a pure core: no session)."""

from collections import Counter
from typing import Any

from app.dataset.exporters.seq2seq import relations_outside_windows
from app.dataset.metrics import is_intra_sentence
from app.dataset.records import ExportDocument


class DatasheetTally:
    """Counts per split, entity and relation type, agreement class; annotators, reviewers and cost."""

    def __init__(self) -> None:
        self.documents: Counter[str] = Counter()
        self.languages: Counter[str] = Counter()
        self.entity_types: Counter[str] = Counter()
        self.relation_types: Counter[str] = Counter()
        self.entity_agreement: Counter[str] = Counter()
        self.relation_agreement: Counter[str] = Counter()
        self.mentions = 0
        self.cross_sentence = 0
        self.outside_seq2seq_windows = 0
        self.annotators: dict[str, set[str]] = {}
        self.reviewers: set[str] = set()
        self.cost = 0.0
        self.characters = 0

    def add(self, doc: ExportDocument, split: str) -> None:
        self.documents["all"] += 1
        self.documents[split] += 1
        self.languages[doc.language or "unknown"] += 1
        self.characters += len(doc.text)
        self.reviewers.update(doc.provenance.reviewers)
        self.outside_seq2seq_windows += relations_outside_windows(doc)
        self.cost += float(doc.provenance.notes.get("cost_usd", "0") or 0)
        exported = {e.index for e in doc.entities if e.mentions}
        for e in doc.entities:
            if e.index not in exported:
                continue
            self.entity_types[e.type] += 1
            self.mentions += len(e.mentions)
            self.entity_agreement[e.provenance.agreement or "unknown"] += 1
            self._provenance(e.provenance.proposals, e.provenance.decisions)
        for r in doc.relations:
            if r.head not in exported or r.tail not in exported:
                continue
            self.relation_types[r.type] += 1
            self.relation_agreement[r.provenance.agreement or "unknown"] += 1
            self.cross_sentence += not is_intra_sentence(doc, r.head, r.tail)
            self._provenance(r.provenance.proposals, r.provenance.decisions)

    def _provenance(self, proposals: Any, decisions: Any) -> None:
        for p in proposals:
            self.annotators.setdefault(p.annotator, set()).add(p.prompt_version)
        self.reviewers.update(d.reviewer for d in decisions if d.reviewer)

    def result(self) -> dict[str, Any]:
        relations = sum(self.relation_types.values())
        documents = self.documents["all"]
        return {
            "documents": {k: self.documents[k] for k in ("all", "train", "dev", "test")},
            "characters": self.characters,
            "languages": dict(sorted(self.languages.items())),
            "entities": {"total": sum(self.entity_types.values()), "by_type": dict(sorted(self.entity_types.items()))},
            "mentions": self.mentions,
            "relations": {
                "total": relations,
                "by_type": dict(sorted(self.relation_types.items())),
                "cross_sentence": self.cross_sentence,
                "cross_sentence_share": self.cross_sentence / relations if relations else None,
                # In no seq2seq example: head and tail far apart in a long document (docs/api.md, seq2seq).
                "outside_seq2seq_windows": self.outside_seq2seq_windows,
            },
            "agreement_classes": {
                "entities": dict(sorted(self.entity_agreement.items())),
                "relations": dict(sorted(self.relation_agreement.items())),
            },
            "annotators": [
                {"name": name, "prompt_versions": sorted(versions)}
                for name, versions in sorted(self.annotators.items())
            ],
            "reviewers": sorted(self.reviewers),
            "cost": {
                "total_usd": round(self.cost, 6),
                "per_document_usd": round(self.cost / documents, 6) if documents else None,
            },
        }
