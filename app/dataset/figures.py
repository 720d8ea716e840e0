"""The project dashboard's figures as frozen values: what dashboard.py computes and the page, its charts and a
snapshot's datasheet (`agreement`) read."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from app.evaluation.metrics import GoldScores, PairAgreement, Score
from app.review.blind import RecallSummary


@dataclass(frozen=True, slots=True)
class Pair:
    """The annotator pair's names (None when the project has no such annotator)."""

    a: str | None
    b: str | None


@dataclass(frozen=True, slots=True)
class Decided:
    """Items by review outcome, and the share of the decided ones accepted."""

    accepted: int
    rejected: int
    pending: int
    precision: float | None


@dataclass(frozen=True, slots=True)
class Augmentation:
    accepted: int
    rejected: int
    pending: int
    precision: float | None
    yield_: float | None  # "yield" in datasheet.json (a Python keyword here)


@dataclass(frozen=True, slots=True)
class Hallucination:
    entities: int
    ungrounded: int
    rate: float | None


@dataclass(frozen=True, slots=True)
class CuratedRelations:
    total: int
    cross_sentence: int
    cross_sentence_share: float | None


@dataclass(frozen=True, slots=True)
class Cost:
    total_usd: float
    per_curated_document_usd: float | None


@dataclass(frozen=True, slots=True)
class DatasheetAgreement:
    """The item figures a snapshot's datasheet keeps under `agreement`; field order is datasheet.json's."""

    pair: Pair
    model_vs_model: PairAgreement
    against_gold: Mapping[str, GoldScores]
    audit: Decided
    augmentation: Augmentation
    hallucination: Hallucination

    def as_json(self) -> dict[str, object]:
        augmentation = {("yield" if k == "yield_" else k): v for k, v in asdict(self.augmentation).items()}
        return {
            "pair": asdict(self.pair),
            "model_vs_model": asdict(self.model_vs_model),
            "against_gold": {name: asdict(g) for name, g in self.against_gold.items()},
            "audit": asdict(self.audit),
            "augmentation": augmentation,
            "hallucination": asdict(self.hallucination),
        }


@dataclass(frozen=True, slots=True)
class ItemFigures:
    """Model vs model, each annotator against the curated gold, and the item counts (dashboard.item_figures)."""

    pair: Pair
    model_vs_model: PairAgreement
    against_gold: Mapping[str, GoldScores]  # by annotator name, sorted
    documents: int
    curated_documents: int
    audit: Decided
    augmentation: Augmentation
    hallucination: Hallucination
    curated_entity_types: Mapping[str, int]  # most common first
    curated_relations: CuratedRelations
    cost: Cost

    def datasheet_agreement(self) -> DatasheetAgreement:
        return DatasheetAgreement(
            self.pair, self.model_vs_model, self.against_gold, self.audit, self.augmentation, self.hallucination
        )


@dataclass(frozen=True, slots=True)
class Cumulative:
    """Running totals, one per day of StatusOverTime.days."""

    documents: tuple[int, ...]
    curated: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StatusOverTime:
    days: tuple[str, ...]  # ISO dates, ascending
    cumulative: Cumulative
    by_status: Mapping[str, int]  # every document status, in DocumentStatus order


@dataclass(frozen=True, slots=True)
class ReviewerThroughput:
    reviewer: str
    decisions: int
    documents: int
    active_hours: int
    decisions_per_hour: float | None
    documents_per_hour: float | None


@dataclass(frozen=True, slots=True)
class HumanAgreement:
    """Reviewers against each other on double-reviewed documents, micro-averaged."""

    documents: int
    entities: Score
    relations: Score


@dataclass(frozen=True, slots=True)
class ClassShare:
    count: int
    share: float


@dataclass(frozen=True, slots=True)
class ClassCounts:
    total: int
    classes: Mapping[str, ClassShare]  # by agreement class, sorted


@dataclass(frozen=True, slots=True)
class AgreementClasses:
    entities: ClassCounts
    relations: ClassCounts


@dataclass(frozen=True, slots=True)
class Dashboard(ItemFigures):
    """Every dashboard figure for a project (or a batch): the item figures and the sections around them."""

    status: StatusOverTime
    reviewers: tuple[ReviewerThroughput, ...]
    agreement_classes: AgreementClasses
    human_agreement: HumanAgreement
    recall_audit: RecallSummary
