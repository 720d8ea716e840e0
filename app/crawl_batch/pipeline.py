"""Where a batch stands on its way to review: the stage names and the typed value the page and the API show.

The stages after ingestion are read from annotation's rows by `app.annotation.pipeline.batch_pipeline`, the one
function that computes this value; this module only names the stages and says which one ingestion alone decides.
"""

from dataclasses import dataclass
from enum import StrEnum

from app.models import BatchStatus, CrawlBatch
from app.project.label_schema import ProjectSettings


class BatchStage(StrEnum):
    ingesting = "ingesting"
    # Ingestion failed: nothing to annotate (the failure reason says why).
    failed = "failed"
    # Ingestion ended and kept no document (every record filtered, a duplicate or broken).
    nothing_kept = "nothing_kept"
    # Ingested; nobody has asked the annotators yet.
    not_annotated = "not_annotated"
    annotating = "annotating"
    cross_checking = "cross_checking"
    augmenting = "augmenting"
    ready = "ready"


# The steps the page lists, in order; the other stages end the way early.
STEPS: tuple[BatchStage, ...] = (
    BatchStage.ingesting,
    BatchStage.annotating,
    BatchStage.cross_checking,
    BatchStage.augmenting,
    BatchStage.ready,
)
LABELS: dict[BatchStage, str] = {
    BatchStage.ingesting: "ingesting",
    BatchStage.failed: "ingestion failed",
    BatchStage.nothing_kept: "nothing kept",
    BatchStage.not_annotated: "not annotated yet",
    BatchStage.annotating: "annotating",
    BatchStage.cross_checking: "cross-checking",
    BatchStage.augmenting: "augmenting",
    BatchStage.ready: "ready for review",
}
FINISHED = frozenset({BatchStatus.done, BatchStatus.done_with_errors, BatchStatus.failed})
# Stages a worker is still moving on: the page polls while the batch is in one of them.
ACTIVE = frozenset({BatchStage.ingesting, BatchStage.annotating, BatchStage.cross_checking, BatchStage.augmenting})


@dataclass(frozen=True)
class BatchPipeline:
    """A batch's stage, with the documents that have passed each step."""

    stage: BatchStage
    # Documents the batch kept.
    documents: int
    # Documents on which every annotator of the project's pair has finished (done, failed or out of budget).
    annotated: int
    cross_checked: int
    # Documents whose second look (augmentation, the blind second opinion) has ended; 0 when there is none to wait for.
    second_looked: int
    # Annotators in the project's pair: Annotate needs at least one.
    annotators: int
    # Cross-checking or the second look has not moved for a long while (a job failed): the page stops waiting.
    stalled: bool = False

    @property
    def label(self) -> str:
        return LABELS[self.stage]

    @property
    def polling(self) -> bool:
        """Whether the batch page keeps asking: until the last stage has ended, and not for a stalled one."""
        return self.stage in ACTIVE and not self.stalled

    def step_state(self, step: BatchStage) -> str:
        """ "done", "current" or "todo" for one of STEPS, as the page marks it."""
        # Nothing kept, not annotated: ingestion has ended and nothing after it has begun (failed: not even that).
        here = STEPS.index(self.stage) if self.stage in STEPS else 0 if self.stage == BatchStage.failed else 1
        position = STEPS.index(step)
        return "done" if position < here else "current" if position == here and self.stage in STEPS else "todo"


def ingestion_stage(batch: CrawlBatch) -> BatchStage | None:
    """The stage when ingestion decides it alone (still running, failed, nothing kept), else None."""
    if batch.status in (BatchStatus.queued, BatchStatus.running):
        return BatchStage.ingesting
    if batch.status == BatchStatus.failed:
        return BatchStage.failed
    if not batch.counts.get("kept", 0):
        return BatchStage.nothing_kept
    return None


# The batch option start_annotation sets: annotation was asked for, before any worker has taken a job.
ANNOTATION_REQUESTED = "annotation_requested_at"
# Counts key prefix of the languages detected in the records the language filter left out.
DETECTED_LANGUAGE = "detected_language:"
_REASONS = {
    "http_status": "the crawler got an error page (HTTP status other than 200)",
    "not_html": "not an HTML page",
    "empty": "no text once the page's boilerplate was removed",
    "invalid_docred": "not a valid DocRED document",
}


def _records(n: int) -> str:
    return f"{n:,} record{'s' if n != 1 else ''}"


def explain_nothing_kept(batch: CrawlBatch, settings: ProjectSettings) -> list[str]:
    """Why a finished batch kept no document, one sentence per cause, naming the project setting to change."""
    if batch.status == BatchStatus.failed or batch.status not in FINISHED or batch.counts.get("kept", 0):
        return []
    counts = batch.counts
    if not counts.get("records", 0):
        return ["The file held no records that could be read."]
    limits = {
        "too_short": f"shorter than this project's minimum of {settings.min_chars:,} characters",
        "too_long": f"longer than this project's maximum of {settings.max_chars:,} characters",
        "too_little_cjk": f"under {settings.min_cjk_ratio:.0%} Chinese characters, this project's minimum",
    }
    out = []
    for key, n in sorted(counts.items()):
        if not key.startswith("filtered:"):
            continue
        reason = key.removeprefix("filtered:")
        if reason == "language":
            detected = sorted(
                ((k.removeprefix(DETECTED_LANGUAGE), v) for k, v in counts.items() if k.startswith(DETECTED_LANGUAGE)),
                key=lambda kv: (-kv[1], kv[0]),
            )
            found = ", ".join(f"{code} ({m:,})" if len(detected) > 1 else code for code, m in detected)
            text = f"{_records(n)} filtered: detected language {found or 'another language'}"
            out.append(f"{text}; this project keeps {', '.join(settings.languages)}")
        else:
            why = limits.get(reason) or _REASONS.get(reason, reason.replace("_", " "))
            out.append(f"{_records(n)} filtered: {why}")
    duplicates = counts.get("duplicates_exact", 0) + counts.get("duplicates_near", 0)
    if duplicates:
        out.append(
            f"{_records(duplicates)} repeated documents already in this project (duplicates are never kept twice)"
        )
    if counts.get("errors", 0):
        out.append(f"{_records(counts['errors'])} could not be read (see the record errors)")
    return out
