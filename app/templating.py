"""Jinja2 environment (autoescape on for every template) and render() for pages and htmx fragments."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from app import agreement_classes
from app.auth.csrf import CSRF_FIELD, csrf_token
from app.errors import AppError, error_text
from app.notices import clear_notice, pending_notice
from app.status_names import status_badge, status_label, status_tip

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"

# autoescape=True for every name: Starlette's default escapes only .html/.htm/.xml.
env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=StrictUndefined, auto_reload=False)


_TIME_STYLES = {"date": "%Y-%m-%d", "time": "%H:%M", "minute": "%Y-%m-%d %H:%M", "seconds": "%Y-%m-%d %H:%M:%S"}


def local_time(moment: datetime | None, style: str = "minute", *, none: str = "never") -> Markup:
    """A <time> in UTC text that static/js/local-time.js turns into the viewer's local time (UTC on hover)."""
    if moment is None:
        return Markup("{}").format(none)
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return Markup('<time datetime="{}" data-style="{}">{} UTC</time>').format(
        utc.isoformat().replace("+00:00", "Z"), style, utc.strftime(_TIME_STYLES[style])
    )


def agreement_name(code: str) -> Markup:
    """An agreement class by its name, what it means as the tooltip; the code stays in the class attribute."""
    c = agreement_classes.describe(code)
    return Markup('<span class="ag-name ag-{}" title="{}">{}</span>').format(code, c.tip, c.label)


# Agreement classes by their human names, on every page that shows them (the codes stay in the API and exports).
# Functions rather than a macro: a block rendered alone for htmx does not see the page's imports.
env.globals.update(
    agreement_name=agreement_name,
    local_time=local_time,
    agreement_label=agreement_classes.label,
    agreement_tip=agreement_classes.tip,
    machine_classes=agreement_classes.MACHINE,
    reviewable_classes=agreement_classes.REVIEWABLE,
    # Statuses by their human names with a tooltip (status_names); the codes stay in the API and exports.
    status_badge=status_badge,
    status_label=status_label,
    status_tip=status_tip,
    # Errors shown once and in words (errors.error_text), by the error page and every form.
    error_text=error_text,
)


def render(
    request: Request,
    template: str,
    ctx: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A whole page, or one named block of it when htmx asks for a fragment."""
    context: dict[str, Any] = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "csrf_token": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "flash": None,
        **(ctx or {}),
    }
    # A notice left by the last form's redirect shows once, on the next whole page.
    notice = pending_notice(request) if block is None and request.headers.get("hx-request") != "true" else None
    if notice and not context["flash"]:
        context["flash"] = notice
    tmpl = env.get_template(template)
    html = tmpl.render(context) if block is None else "".join(tmpl.blocks[block](tmpl.new_context(context)))
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if notice:
        clear_notice(request, response)
    response.headers["Vary"] = "HX-Request"
    return response


def render_form(
    request: Request, template: str, ctx: dict[str, Any] | None = None, *, error: AppError | None = None
) -> HTMLResponse:
    """A form page, again with what was typed, and the error (if any) shown once: each field's problem beside
    the field (`field_errors`), the rest above the form (`error`, through the error_list macro)."""
    field_errors = {e.field: e.message for e in error.errors} if error else {}
    return render(
        request,
        template,
        {**(ctx or {}), "error": error, "field_errors": field_errors},
        status_code=error.status_code if error else 200,
        headers=error.headers if error else None,
    )
