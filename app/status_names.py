"""How each status is named and explained to people; the codes stay as they are in the API and exports.

Pages show `status_badge(kind, code)`: the label, what it means as the tooltip, and the code in the class
attribute (for styles and tests). An unknown code reads as itself with spaces, never as an error.
"""

from dataclasses import dataclass

from markupsafe import Markup


@dataclass(frozen=True)
class StatusName:
    label: str
    tip: str


_RUN = {
    "queued": StatusName("Queued", "Waiting for a worker."),
    "running": StatusName("Running", "A worker is on it now."),
    "done": StatusName("Done", "Finished."),
    "failed": StatusName("Failed", "Stopped with an error; the message says why."),
}

NAMES: dict[str, dict[str, StatusName]] = {
    "batch": {
        **_RUN,
        "done": StatusName("Done", "Every record was read."),
        "done_with_errors": StatusName(
            "Done, with errors", "Every record was read; some could not be used (listed under Record errors)."
        ),
        "failed": StatusName("Failed", "The file could not be read to the end; the message says why."),
    },
    "document": {
        "new": StatusName("New", "Imported; no annotator has run on it yet."),
        "annotating": StatusName("Annotating", "The project's annotators are working on it."),
        "annotated": StatusName("Ready for review", "Annotated by machine; no reviewer has opened it yet."),
        "in_review": StatusName("In review", "A reviewer is working on it (or has started and not submitted)."),
        "adjudication": StatusName("Adjudication", "Every reviewer has submitted; an admin settles where they differ."),
        "curated": StatusName("Curated", "Reviewed and final: it goes into snapshots."),
    },
    "run": {
        **_RUN,
        "budget": StatusName("Budget reached", "Stopped by the project's budget cap; annotating again resumes it."),
    },
    "item": {
        "proposed": StatusName("Proposed", "Proposed by an annotator; no reviewer has decided yet."),
        "accepted": StatusName("Accepted", "A reviewer (or trusted routing) accepted it."),
        "rejected": StatusName("Rejected", "A reviewer (or routing) rejected it: it stays out of exports."),
    },
    "snapshot": {
        **_RUN,
        "done": StatusName("Ready", "Built: the files can be downloaded."),
        "failed": StatusName("Failed", "The build stopped with an error; the message says why."),
    },
    # Why ingestion left a record out (the batch page's "Filtered out" table).
    "filter": {
        "empty": StatusName("No text", "No main text was left after removing navigation and boilerplate."),
        "http_status": StatusName("HTTP error", "The crawler got an error status, not the page itself."),
        "invalid_docred": StatusName("Invalid DocRED record", "A record of the DocRED file does not have its shape."),
        "language": StatusName("Other language", "Not in the project's languages to keep (project Edit)."),
        "not_html": StatusName("Not a web page", "The record is not HTML or text (an image, a PDF, ...)."),
        "too_little_cjk": StatusName(
            "Too little Chinese", "Chinese characters are below the project's minimum share of the text."
        ),
        "too_long": StatusName("Too long", "Longer than the project's maximum document length."),
        "too_short": StatusName("Too short", "Shorter than the project's minimum document length."),
    },
    "user": {
        "active": StatusName("Active", "Can sign in."),
        "disabled": StatusName("Disabled", "Cannot sign in; their API tokens were revoked."),
        "must change password": StatusName(
            "Must change password", "Signs in with a temporary password and must choose their own first."
        ),
    },
    "token": {
        "active": StatusName("Active", "Accepted by the API."),
        "revoked": StatusName("Revoked", "No longer accepted by the API."),
        "expired": StatusName("Expired", "Past its expiry date: no longer accepted by the API."),
    },
}


def describe(kind: str, code: str) -> StatusName:
    """The label and explanation of a status of this kind (batch, document, run, item, snapshot, filter, token)."""
    known = NAMES.get(kind, {}).get(str(code))
    if known is None:
        text = str(code).replace("_", " ")
        return StatusName(text[:1].upper() + text[1:], f"Status {code!s}.")
    return known


def status_label(kind: str, code: str) -> str:
    return describe(kind, code).label


def status_tip(kind: str, code: str) -> str:
    return describe(kind, code).tip


def status_badge(kind: str, code: str, *, element_id: str = "") -> Markup:
    """A status pill: the human label, its meaning on hover, the code as a class (status-<code>)."""
    name = describe(kind, code)
    id_attr = Markup(' id="{}"').format(element_id) if element_id else ""
    return Markup('<span class="status status-{}"{} title="{}">{}</span>').format(
        str(code), id_attr, name.tip, name.label
    )
