"""Who is calling: typed dependencies for pages (session cookie) and the API (bearer token)."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import service
from app.db import SessionDep
from app.errors import Forbidden, LoginRequired, PasswordChangeRequired, Unauthorized
from app.models import Role, User


@dataclass(frozen=True)
class Viewer:
    """Who the page is for, as plain values: error pages render after the session is rolled back and closed."""

    id: int
    username: str
    role: str
    must_change_password: bool

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

    @property
    def is_consumer(self) -> bool:
        return self.role == Role.consumer

    @classmethod
    def of(cls, user: User) -> "Viewer":
        assert user.id is not None
        return cls(user.id, user.username, user.role, user.must_change_password)


def optional_user(request: Request, session: SessionDep) -> User | None:
    """The signed-in browser user, or None."""
    lookup = service.user_from_session_cookie(session, request.cookies.get(service.SESSION_COOKIE))
    request.state.user = Viewer.of(lookup.user) if lookup.user else None
    request.state.session_expired = lookup.expired
    return lookup.user


OptionalUser = Annotated[User | None, Depends(optional_user)]


def signed_in_user(request: Request, user: OptionalUser) -> User:
    """Any signed-in user, consumers included: only for pages a consumer may see (see the role guards below)."""
    if user is None:
        raise LoginRequired("Please sign in.")
    if user.must_change_password and request.url.path not in ("/account/password", "/logout"):
        raise PasswordChangeRequired("Choose a new password first.")
    return user


SignedInUser = Annotated[User, Depends(signed_in_user)]

# Consumers read only what is theirs: every page guarded by CurrentUser or AdminUser refuses them, so a new page
# is closed to them unless it says otherwise (SignedInUser, DatasetReader).


def current_user(user: SignedInUser) -> User:
    """A signed-in admin or reviewer."""
    if user.is_consumer:
        raise Forbidden("Your account can read projects and download datasets only.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("This page is for admins.")
    return user


AdminUser = Annotated[User, Depends(admin_user)]


def dataset_reader(user: SignedInUser) -> User:
    """Snapshots, exports and datasheets: admins and consumers."""
    if not (user.is_admin or user.is_consumer):
        raise Forbidden("Datasets are for admins and dataset consumers.")
    return user


DatasetReader = Annotated[User, Depends(dataset_reader)]


# The API's one security scheme: OpenAPI lists it on every route that takes a token, so Swagger at /api/docs
# offers Authorize. Missing or malformed credentials are answered below, in our words.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="An API token: `concord token create --username U`.",
    auto_error=False,
)


def api_reader(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> User:
    """The user behind `Authorization: Bearer <token>`, consumers included (see api_client).

    A token works whether or not its user still has to replace a one-time password: an admin made the token
    for a script, which cannot choose a password."""
    if credentials is None:
        raise Unauthorized(
            "Send an API token as 'Authorization: Bearer <token>' (create one with `concord token create`).",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = service.user_from_api_token(session, credentials.credentials)
    request.state.user = Viewer.of(user)
    return user


ApiReader = Annotated[User, Depends(api_reader)]


def api_client(user: ApiReader) -> User:
    """An admin's or reviewer's token."""
    if user.is_consumer:
        raise Forbidden("This token can read projects and download datasets only.")
    return user


ApiClient = Annotated[User, Depends(api_client)]


def api_dataset_reader(user: ApiReader) -> User:
    if not (user.is_admin or user.is_consumer):
        raise Forbidden("Datasets are for admins and dataset consumers.")
    return user


ApiDatasetReader = Annotated[User, Depends(api_dataset_reader)]


def api_admin(user: ApiClient) -> User:
    if not user.is_admin:
        raise Forbidden("This API route is for admins.")
    return user


ApiAdmin = Annotated[User, Depends(api_admin)]
