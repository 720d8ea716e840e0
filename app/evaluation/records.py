"""What one exported document holds: plain data, built by the loader from the database, read by every exporter.

Offsets are Python code points, end exclusive. Every provenance field has a fixed type (lists of objects with
fixed keys, free-form notes as string pairs) so a JSONL export keeps one type per key across lines.
"""

from dataclasses import dataclass, field

from app.webtext.docred import DocredDocument


@dataclass(frozen=True, slots=True)
class ProposalRecord:
    """One annotator run that proposed the item."""

    annotator: str
    prompt_version: str = ""
    # The type this annotator gave, which may differ from the final one (a type conflict).
    proposed_type: str = ""
    augmentation: bool = False


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One reviewer's decision on the item."""

    reviewer: str
    decision: str  # "accepted" | "rejected" | "edited" | ...
    at: str = ""  # ISO 8601, "" when unknown


@dataclass(frozen=True, slots=True)
class ItemProvenance:
    status: str = ""  # proposed / accepted / rejected
    # agreed / confirmed / type_conflict / a_only / b_only / disputed / augmented / imported / manual
    # (app/agreement_classes.py says what each means)
    agreement: str = ""
    proposals: list[ProposalRecord] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    # Anything else, as strings: exported as [{"key", "value"}] so every line has the same shape.
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DocumentProvenance:
    source: str = ""  # crawl batch name, "import:redocred", ...
    record_id: str = ""  # WARC record id or the source's own id
    crawl_date: str = ""  # ISO 8601, "" when unknown
    status: str = ""  # new / annotating / annotated / in_review / curated
    split: str = ""  # train / dev / test, "" when unsplit
    reviewers: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExportMention:
    start: int
    end: int
    text: str
    sentence_id: int


@dataclass(frozen=True, slots=True)
class ExportEntity:
    """A cluster of mentions. `index` is unique within the document; relations refer to it."""

    index: int
    type: str
    name: str
    mentions: list[ExportMention]
    provenance: ItemProvenance = field(default_factory=ItemProvenance)


@dataclass(frozen=True, slots=True)
class ExportRelation:
    head: int  # ExportEntity.index
    tail: int
    type: str
    evidence: list[int] = field(default_factory=list)  # sentence indices
    provenance: ItemProvenance = field(default_factory=ItemProvenance)


@dataclass(frozen=True, slots=True)
class DocumentMeta:
    """Internal carriers of a document, not exported as such."""

    # The original DocRED tokens per sentence, as stored (checked where read): the DocRED exporter reproduces
    # an imported document exactly with them.
    docred_sents: object = None
    # A prediction that brought its own text: its mentions move onto the gold text when the two differ in blanks.
    has_text: bool = False
    # "gold": a DocRED results file, its relations placed on the gold's entities.
    entities_from: str = ""


@dataclass(frozen=True, slots=True)
class ExportDocument:
    id: str
    title: str
    text: str
    sentences: list[tuple[int, int]]
    entities: list[ExportEntity] = field(default_factory=list)
    relations: list[ExportRelation] = field(default_factory=list)
    url: str = ""
    language: str = ""
    meta: DocumentMeta = field(default_factory=DocumentMeta)
    provenance: DocumentProvenance = field(default_factory=DocumentProvenance)


def from_docred(doc: DocredDocument, *, doc_id: str = "", language: str = "") -> ExportDocument:
    """An ExportDocument from a parsed DocRED document, keeping its tokens for an exact re-export."""
    entities = [
        ExportEntity(
            index=i,
            type=entity.type,
            name=entity.name,
            mentions=[ExportMention(m.start, m.end, m.name, m.sent_id) for m in entity.mentions],
        )
        for i, entity in enumerate(doc.entities)
    ]
    relations = [ExportRelation(r.head, r.tail, r.type, list(r.evidence)) for r in doc.relations]
    return ExportDocument(
        id=doc_id,
        title=doc.title,
        text=doc.text,
        sentences=[(s, e) for s, e in doc.sentences],
        entities=entities,
        relations=relations,
        language=language,
        meta=DocumentMeta(docred_sents=doc.tokens),
    )
