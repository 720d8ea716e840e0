"""A reviewer's result in double review: the accepted items as span keys, comparable across reviewers.

Stored as JSON on the reviewer's assignment (ReviewAssignment.result) and read back by adjudication, the workbench
(which reviewer kept which item) and the dashboard (agreement between reviewers). These are its shapes."""

from typing import TypedDict


class ResultEntity(TypedDict):
    key: str  # type|start-end,start-end (entity_key)
    type: str
    name: str
    spans: list[list[int]]


class ResultRelation(TypedDict):
    key: str  # head key >type> tail key (relation_key)
    head: str
    tail: str
    type: str
    evidence: list[int]


class ReviewResult(TypedDict):
    entities: list[ResultEntity]
    relations: list[ResultRelation]


EMPTY: ReviewResult = {"entities": [], "relations": []}


def stored_result(value: object) -> ReviewResult:
    """An assignment's stored result; none (not submitted, or a reviewer who released) reads as empty."""
    if not isinstance(value, dict):
        return EMPTY
    return {"entities": list(value.get("entities") or []), "relations": list(value.get("relations") or [])}
