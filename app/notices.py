"""One-time notices after a form is saved ("Project created."): the redirect sets a short cookie with the notice's
code, and the next full page shows its text once and clears the cookie.

Only codes travel (a cookie cannot inject text into the page); an unknown code shows nothing.
"""

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from app.config import get_settings

COOKIE = "concord_notice"
# Long enough for the redirect to be followed on a slow link; short enough not to surprise anyone later.
MAX_AGE_SECONDS = 60
NOTICES = {
    "password_saved": "Password saved.",
    "project_created": "Project created.",
    "project_saved": "Project saved.",
}


def redirect_with_notice(url: str, code: str) -> RedirectResponse:
    """A 303 to `url` whose page will show the notice `code` once."""
    assert code in NOTICES, code
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        COOKIE, code, max_age=MAX_AGE_SECONDS, httponly=True, samesite="lax", secure=get_settings().secure_cookies
    )
    return response


def pending_notice(request: Request) -> str | None:
    """The text of the notice waiting for this request's page, if any."""
    return NOTICES.get(request.cookies.get(COOKIE, ""))


def clear_notice(request: Request, response: Response) -> None:
    """Shown: the cookie goes, so a reload or the next page does not show it again."""
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=get_settings().secure_cookies)
