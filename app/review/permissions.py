"""Who may act on a document under review: one place, so every route and service asks the same question.

A role denial is a 403 (Forbidden); a document in the wrong state for anyone is a 409 (Conflict, in queue.py).
"""

from app.errors import Forbidden
from app.models import Document, DocumentStatus, User


def may_adjudicate(user: User) -> bool:
    """Only an admin settles what double reviewers disagree on."""
    return user.is_admin


def check_may_adjudicate(user: User, document: Document) -> None:
    if not may_adjudicate(user):
        raise Forbidden(f"Document {document.id} awaits an admin's adjudication of its reviews.")


def may_act(user: User, document: Document, *, reviewable: bool, holder: User | None) -> bool:
    """The workbench offers actions when the document takes them from this user and no one else holds it."""
    open_to_user = reviewable or (document.status == DocumentStatus.adjudication and may_adjudicate(user))
    return open_to_user and (holder is None or holder.id == user.id)


def check_may_release(user: User, document: Document, holder: User) -> None:
    """The holder may give the lock up; an admin may release anyone's."""
    if holder.id != user.id and not user.is_admin:
        raise Forbidden(f"Only {holder.username} or an admin can release the lock on document {document.id}.")


def check_may_reopen(user: User) -> None:
    if not user.is_admin:
        raise Forbidden("Only an admin can reopen a curated document.")


def sees_adjudication_queue(user: User) -> bool:
    """Documents awaiting adjudication are listed for the ones who may adjudicate them."""
    return may_adjudicate(user)
