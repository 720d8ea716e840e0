"""The datasheet of a snapshot, tallied one exported document at a time (a pure core: no session), and the
whole datasheet as the typed value datasheet.json is written from."""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from app.dataset.exporters.seq2seq import relations_outside_windows
from app.dataset.figures import DatasheetAgreement
from app.dataset.routing_figures import DatasheetRouting
from app.evaluation.metrics import is_intra_sentence
from app.evaluation.records import DecisionRecord, ExportDocument, ProposalRecord
from app.review.blind import RecallSummary


@dataclass(frozen=True, slots=True)
class TypeCounts:
    total: int
    by_type: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class RelationCounts:
    total: int
    by_type: Mapping[str, int]
    cross_sentence: int
    cross_sentence_share: float | None
    # In no seq2seq example: head and tail far apart in a long document (docs/api.md, seq2seq).
    outside_seq2seq_windows: int


@dataclass(frozen=True, slots=True)
class AgreementClassCounts:
    entities: Mapping[str, int]
    relations: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class AnnotatorVersions:
    name: str
    prompt_versions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DatasheetCost:
    total_usd: float
    per_document_usd: float | None


@dataclass(frozen=True, slots=True)
class DatasheetCounts:
    """The datasheet's counts; field order is the order of datasheet.json."""

    documents: Mapping[str, int]  # all, train, dev, test
    characters: int
    languages: Mapping[str, int]
    entities: TypeCounts
    mentions: int
    relations: RelationCounts
    agreement_classes: AgreementClassCounts
    annotators: tuple[AnnotatorVersions, ...]
    reviewers: tuple[str, ...]
    cost: DatasheetCost


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

    def _provenance(self, proposals: Iterable[ProposalRecord], decisions: Iterable[DecisionRecord]) -> None:
        for p in proposals:
            self.annotators.setdefault(p.annotator, set()).add(p.prompt_version)
        self.reviewers.update(d.reviewer for d in decisions if d.reviewer)

    def result(self) -> DatasheetCounts:
        relations = sum(self.relation_types.values())
        documents = self.documents["all"]
        return DatasheetCounts(
            documents={k: self.documents[k] for k in ("all", "train", "dev", "test")},
            characters=self.characters,
            languages=dict(sorted(self.languages.items())),
            entities=TypeCounts(sum(self.entity_types.values()), dict(sorted(self.entity_types.items()))),
            mentions=self.mentions,
            relations=RelationCounts(
                total=relations,
                by_type=dict(sorted(self.relation_types.items())),
                cross_sentence=self.cross_sentence,
                cross_sentence_share=self.cross_sentence / relations if relations else None,
                outside_seq2seq_windows=self.outside_seq2seq_windows,
            ),
            agreement_classes=AgreementClassCounts(
                entities=dict(sorted(self.entity_agreement.items())),
                relations=dict(sorted(self.relation_agreement.items())),
            ),
            annotators=tuple(
                AnnotatorVersions(name, tuple(sorted(versions))) for name, versions in sorted(self.annotators.items())
            ),
            reviewers=tuple(sorted(self.reviewers)),
            cost=DatasheetCost(
                total_usd=round(self.cost, 6),
                per_document_usd=round(self.cost / documents, 6) if documents else None,
            ),
        )


@dataclass(frozen=True, slots=True)
class Seq2seqFormat:
    linearisation: str
    window_tokens: int


@dataclass(frozen=True, slots=True)
class ChatFormat:
    contract: str
    prompt_version: str
    window_tokens: int


@dataclass(frozen=True, slots=True)
class GenerativeFormats:
    """What a trainer needs to know of the seq2seq and chat files (the datasheet's `formats`)."""

    seq2seq: Seq2seqFormat
    chat: ChatFormat


@dataclass(frozen=True, slots=True)
class ProjectRef:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class SnapshotSelection:
    status: str | None
    batch_id: int | None
    seed: int
    split: Mapping[str, float]
    split_rule: str


@dataclass(frozen=True, slots=True)
class Datasheet:
    """A snapshot's datasheet; as_json() is datasheet.json (and the snapshot's `datasheet` column), in this order."""

    name: str
    version: str
    project: ProjectRef
    built_at: str
    selection: SnapshotSelection
    counts: DatasheetCounts  # spread at the top level of the JSON
    # The dashboard's item figures (pair, model_vs_model, against_gold, audit, augmentation, hallucination).
    agreement: DatasheetAgreement
    routing: DatasheetRouting
    recall_audit: RecallSummary | None
    formats: GenerativeFormats

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "project": asdict(self.project),
            "built_at": self.built_at,
            "selection": asdict(self.selection),
            **asdict(self.counts),
            "agreement": self.agreement.as_json(),
            "routing": asdict(self.routing),
            "recall_audit": asdict(self.recall_audit) if self.recall_audit is not None else None,
            "formats": asdict(self.formats),
        }
