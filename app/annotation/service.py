"""Annotators per project, starting annotation of a batch, and what a document's annotations look like."""

import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.annotation.builtin import BUILTIN_PROVIDERS
from app.annotation.model_annotator import MODEL_PROVIDER, model_for
from app.annotation.prompts import AUGMENT_TEMPLATE_VERSION, RECHECK_TEMPLATE_VERSION
from app.annotation.schemas import AnnotationQueued, AnnotatorCreate, AnnotatorParameters, AnnotatorProgress
from app.config import get_settings
from app.crawl_batch.pipeline import ANNOTATION_REQUESTED
from app.db import require_id
from app.errors import Conflict, FieldError, InvalidInput, NotFound
from app.jobs import enqueue
from app.models import (
    Annotator,
    AnnotatorKind,
    AnnotatorRun,
    CrawlBatch,
    Document,
    Entity,
    LlmCall,
    Project,
    Relation,
    RunStatus,
)
from app.models.types import utcnow

LLM_PROVIDERS = ("openai", "gemini")
PROVIDERS = (*LLM_PROVIDERS, *BUILTIN_PROVIDERS, MODEL_PROVIDER)
# "sample" replays the answers recorded for the demo's sample batch (app/annotation/sample.py): accepted, not offered.
SAMPLE_PROVIDER = "sample"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")


def create_annotator(session: Session, *, project: Project, data: dict[str, Any]) -> Annotator:
    """A new annotator for the project, validated; secrets are refused as parameters."""
    try:
        body = AnnotatorCreate.model_validate(data)
        params = AnnotatorParameters.model_validate(body.parameters)
    except ValidationError as exc:
        # Parameters are validated on their own: name their fields under "parameters".
        prefix: tuple[str, ...] = ("parameters",) if exc.title == AnnotatorParameters.__name__ else ()
        errors = [FieldError((*prefix, *e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidInput(f"Invalid annotator: {errors[0].field}: {errors[0].message}", errors=errors) from None
    if not _NAME.match(body.name):
        raise InvalidInput.for_field("name", "Use letters, digits and _ . : - (at most 100), starting alphanumeric.")
    if body.provider not in PROVIDERS and body.provider != SAMPLE_PROVIDER:
        raise InvalidInput.for_field("provider", f"Unknown provider; use one of {', '.join(PROVIDERS)}.")
    if body.provider in LLM_PROVIDERS and not body.model:
        raise InvalidInput.for_field("model", "Name the model (e.g. gpt-4o-mini, deepseek-chat, gemini-2.5-flash).")
    if params.json_mode and body.provider != "openai":
        raise InvalidInput.for_field("parameters", "json_mode applies to the openai provider only.")
    assert project.id is not None
    label = model_for(session, project_id=project.id, provider=body.provider, training_run=params.training_run)
    kinds = {MODEL_PROVIDER: AnnotatorKind.model} | dict.fromkeys(BUILTIN_PROVIDERS, AnnotatorKind.builtin)
    if session.exec(select(Annotator).where(Annotator.project_id == project.id, Annotator.name == body.name)).first():
        raise InvalidInput.for_field("name", f"This project already has an annotator named {body.name!r}.")
    if params.role:
        taken = [a for a in list_annotators(session, project_id=project.id) if a.parameters.get("role") == params.role]
        if taken:
            raise InvalidInput.for_field("parameters", f"Annotator {taken[0].name!r} already has role {params.role}.")
    annotator = Annotator(
        project_id=project.id,
        name=body.name,
        provider=body.provider,
        model=label or body.model,
        kind=kinds.get(body.provider, AnnotatorKind.llm),
        parameters=params.model_dump(exclude_defaults=True),
        price_input_per_m=0 if label else body.price_input_per_m,  # a trained model never pays
        price_output_per_m=0 if label else body.price_output_per_m,
    )
    session.add(annotator)
    session.flush()
    return annotator


def annotator_key_status(annotator: Annotator) -> str:
    """Which environment variable supplies the annotator's key, or which one is missing; never the key."""
    # Here: providers loads the OpenAI and Gemini clients, which the pages listing annotators never call.
    from app.annotation.providers import resolve_credentials

    if annotator.provider not in LLM_PROVIDERS:
        return "no key needed"
    credentials = resolve_credentials(annotator.provider, settings=get_settings(), annotator_env_prefix=annotator.name)
    return f"key from {credentials.source}" if credentials.present else f"missing: set {credentials.hint}"


def list_annotators(session: Session, *, project_id: int) -> list[Annotator]:
    return list(session.exec(select(Annotator).where(Annotator.project_id == project_id).order_by(col(Annotator.id))))


def get_annotator(session: Session, annotator_id: int) -> Annotator:
    annotator = session.get(Annotator, annotator_id)
    if annotator is None:
        raise NotFound(f"Annotator {annotator_id} does not exist.")
    return annotator


def pair_of(session: Session, *, project_id: int) -> tuple[Annotator | None, Annotator | None]:
    """Annotators A and B: by role, else the first two the project has (imports included)."""
    annotators = list_annotators(session, project_id=project_id)
    a = next((x for x in annotators if x.parameters.get("role") == "A"), None)
    b = next((x for x in annotators if x.parameters.get("role") == "B"), None)
    rest = [x for x in annotators if x not in (a, b) and not x.parameters.get("role")]
    if a is None and rest:
        a = rest.pop(0)
    if b is None and rest:
        b = rest.pop(0)
    return a, b


def voter_of(session: Session, *, project_id: int) -> Annotator | None:
    """The third voter (role C): annotates beside the pair; never one of it."""
    return next((x for x in list_annotators(session, project_id=project_id) if x.parameters.get("role") == "C"), None)


def open_run(session: Session, *, document_id: int, annotator: Annotator, version: str) -> AnnotatorRun:
    """The annotator's run on the document under this prompt version, created if new, marked running."""
    run = session.exec(
        select(AnnotatorRun).where(
            AnnotatorRun.document_id == document_id,
            AnnotatorRun.annotator_id == annotator.id,
            AnnotatorRun.prompt_version == version,
        )
    ).first() or AnnotatorRun(document_id=document_id, annotator_id=require_id(annotator), prompt_version=version)
    run.status, run.error = RunStatus.running, None
    session.add(run)
    session.flush()
    return run


def start_annotation(
    session: Session, *, project: Project, batch_id: int, annotator_ids: list[int] | None = None
) -> AnnotationQueued:
    """Queue one job per (document, annotator) of the batch; imported annotators already have their runs."""
    batch = session.get(CrawlBatch, batch_id)
    if batch is None or batch.project_id != project.id:
        raise InvalidInput.for_field("batch_id", f"Batch {batch_id} is not a batch of this project.")
    if annotator_ids:
        chosen = [get_annotator(session, i) for i in annotator_ids]
        if any(a.project_id != project.id for a in chosen):
            raise InvalidInput.for_field("annotators", "Every annotator must belong to this project.")
    else:
        roles = (*pair_of(session, project_id=require_id(project)), voter_of(session, project_id=require_id(project)))
        chosen = [a for a in roles if a is not None]
    runnable = [a for a in chosen if a.kind != AnnotatorKind.imported]
    if not chosen:
        raise Conflict("This project has no annotators yet: add two (or one and an imported dataset) first.")
    # The batch page shows the batch annotating from now on, before a worker has taken the first job.
    batch.options = {**batch.options, ANNOTATION_REQUESTED: utcnow().isoformat()}
    session.add(batch)
    doc_ids = list(session.exec(select(Document.id).where(Document.batch_id == batch_id).order_by(col(Document.id))))
    for doc_id in doc_ids:
        assert doc_id is not None
        for annotator in runnable:
            enqueue(session, "annotation.run", document_id=doc_id, annotator_id=require_id(annotator))
        if not runnable:
            enqueue(session, "annotation.crossvalidate", document_id=doc_id)
    return AnnotationQueued(documents=len(doc_ids), jobs=len(doc_ids) * max(len(runnable), 1))


def batch_annotation_report(session: Session, *, batch_id: int) -> list[AnnotatorProgress]:
    """Per annotator: document runs by status, second-look runs (augmentation, blind second opinion) apart; tokens,
    cost and latency of all calls."""
    docs = select(Document.id).where(Document.batch_id == batch_id)
    version = col(AnnotatorRun.prompt_version)
    augmenting = version.startswith(AUGMENT_TEMPLATE_VERSION) | version.startswith(RECHECK_TEMPLATE_VERSION)
    rows = session.execute(
        sa_select(
            col(Annotator.id),
            col(Annotator.name),
            col(Annotator.provider),
            col(AnnotatorRun.status),
            augmenting,
            func.count(),
            func.sum(col(AnnotatorRun.input_tokens)),
            func.sum(col(AnnotatorRun.output_tokens)),
            func.sum(col(AnnotatorRun.cost)),
            func.avg(col(AnnotatorRun.latency_ms)),
        )
        .join(Annotator, col(Annotator.id) == AnnotatorRun.annotator_id)
        .where(col(AnnotatorRun.document_id).in_(docs))
        .group_by(col(Annotator.id), col(Annotator.name), col(Annotator.provider), col(AnnotatorRun.status), augmenting)
    ).all()
    report: dict[int, AnnotatorProgress] = {}
    for aid, name, provider, status, is_augmentation, n, tin, tout, cost, latency in rows:
        entry = report.get(aid) or AnnotatorProgress(aid, name, provider, {}, {}, 0, 0, 0.0, 0)
        (entry.augmentation_runs if is_augmentation else entry.runs)[status] = n
        report[aid] = replace(
            entry,
            input_tokens=entry.input_tokens + int(tin or 0),
            output_tokens=entry.output_tokens + int(tout or 0),
            cost=entry.cost + float(cost or 0),
            avg_latency_ms=max(entry.avg_latency_ms, int(latency or 0)),
        )
    return list(report.values())


def agreement_counts(session: Session, *, batch_id: int) -> dict[str, dict[str, int]]:
    """How many entities and relations of the batch fall in each agreement class."""
    docs = select(Document.id).where(Document.batch_id == batch_id)
    out: dict[str, dict[str, int]] = {"entities": {}, "relations": {}}
    for label, model in (("entities", Entity), ("relations", Relation)):
        for agreement, n in session.exec(
            select(model.agreement, func.count()).where(col(model.document_id).in_(docs)).group_by(model.agreement)
        ):
            out[label][agreement] = n
    return out


@dataclass(frozen=True)
class SecondLookSummary:
    """How the second look (augmentation and the blind second opinion) went over a batch's documents."""

    done: int
    failed: int
    not_yet: int
    # The most frequent reasons it failed ("<annotator>: <error>"), with how many documents each.
    reasons: tuple[tuple[str, int], ...]


def second_look_summary(session: Session, *, batch_id: int, top: int = 3) -> SecondLookSummary:
    """Documents of the batch by the second look's outcome, read from the document meta `second_look`."""
    outcome = col(Document.meta)["second_look"].as_string()
    counts = {"done": 0, "not_yet": 0}
    failures: Counter[str] = Counter()
    for value, n in session.execute(
        sa_select(outcome, func.count()).where(col(Document.batch_id) == batch_id).group_by(outcome)
    ):
        if not value:
            counts["not_yet"] += int(n)
        elif value.startswith("done"):  # "done", or "done; 2 answer(s) ignored ..."
            counts["done"] += int(n)
        else:
            failures[value] += int(n)
    return SecondLookSummary(
        counts["done"], sum(failures.values()), counts["not_yet"], tuple(failures.most_common(top))
    )


def project_spent(session: Session, *, project_id: int) -> float:
    query = (
        select(func.coalesce(func.sum(LlmCall.cost), 0))
        .join(Annotator, col(Annotator.id) == LlmCall.annotator_id)
        .where(Annotator.project_id == project_id)
    )
    return float(session.exec(query).one())
