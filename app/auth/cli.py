"""`concord create-user` and `concord user ...`: accounts from the command line, on the same services as the
users page."""

import argparse
import sys

from sqlmodel import Session

from app.db import session_scope
from app.errors import AppError
from app.models import Role, User


def out(message: str) -> None:
    print(message, flush=True)


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 1


class NoPassword(Exception):
    """Nothing on stdin, and no terminal to show a generated password on."""


def _read_password() -> tuple[str, bool]:
    """From stdin when it is not a terminal; otherwise generated (and shown once)."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line.strip("\r\n"):
            raise NoPassword
        return line.rstrip("\r\n"), False
    from app.auth import service  # here: every concord command loads this module, few need the services

    return service.generate_password(), True


def _no_password(command: str) -> int:
    return fail(
        f'no password on stdin and no terminal: pipe one in (echo "$PW" | concord {command} …), '
        "or run it on a terminal to have a one-time password generated"
    )


def cmd_create_user(args: argparse.Namespace) -> int:
    from app.auth import service  # here: every concord command loads this module, few need the services

    try:
        password, generated = _read_password()
    except NoPassword:
        return _no_password("create-user")
    try:
        with session_scope() as session:
            service.create_user(
                session,
                username=args.username,
                role=Role(args.role),
                password=password,
                must_change_password=generated,
            )
    except AppError as exc:
        return fail(exc.message)
    out(f"created {args.role} '{service.normalize_username(args.username)}'")
    if generated:
        out(f"one-time password (shown only now): {password}")
    return 0


def user_by_name(session: Session, username: str) -> User:
    from app.auth import service  # here: every concord command loads this module, few need the services

    user = service.find_user(session, username)
    if user is None:
        raise AppError(f"no user named {service.normalize_username(username)!r}")
    return user


def cmd_user_list(_args: argparse.Namespace) -> int:
    from app.auth import users  # here: every concord command loads this module, few need the services

    with session_scope() as session:
        for row in users.list_users(session):
            last = f"{row.last_login_at:%Y-%m-%d %H:%M}" if row.last_login_at else "never"
            out(f"{row.username:<20} {row.role:<9} {row.status:<21} last sign-in {last:<16} tokens {row.active_tokens}")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    from app.auth import users  # here: every concord command loads this module, few need the services

    try:
        with session_scope() as session:
            user = users.disable_user(session, user=user_by_name(session, args.username))
            name = user.username
    except AppError as exc:
        return fail(exc.message)
    out(f"disabled '{name}': signed out everywhere, API tokens revoked")
    return 0


def cmd_user_enable(args: argparse.Namespace) -> int:
    from app.auth import users  # here: every concord command loads this module, few need the services

    try:
        with session_scope() as session:
            name = users.enable_user(session, user=user_by_name(session, args.username)).username
    except AppError as exc:
        return fail(exc.message)
    out(f"enabled '{name}' (tokens revoked when it was disabled stay revoked)")
    return 0


def cmd_user_set_password(args: argparse.Namespace) -> int:
    from app.auth import users  # here: every concord command loads this module, few need the services

    try:
        password, generated = _read_password()
    except NoPassword:
        return _no_password("user set-password")
    try:
        with session_scope() as session:
            user = user_by_name(session, args.username)
            # Like create-user: a generated password is one-time; a piped one is the operator's choice.
            users.reset_password(session, user=user, password=password, temporary=generated or args.temporary)
            name = user.username
    except AppError as exc:
        return fail(exc.message)
    out(f"password of '{name}' set; their sessions ended")
    if generated:
        out(f"one-time password (shown only now): {password}")
    return 0


def cmd_user_end_sessions(args: argparse.Namespace) -> int:
    from app.auth import service  # here: every concord command loads this module, few need the services

    try:
        with session_scope() as session:
            user = user_by_name(session, args.username)
            service.end_all_sessions(session, user=user)
            name = user.username
    except AppError as exc:
        return fail(exc.message)
    out(f"every session of '{name}' ended")
    return 0


def add_user_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("create-user", help="add a user (password from stdin, or generated on a terminal)")
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.set_defaults(func=cmd_create_user)

    user = sub.add_parser("user", help="user administration").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("list", help="users with role, status, last sign-in and live tokens")
    p.set_defaults(func=cmd_user_list)
    p = user.add_parser("disable", help="sign the user out everywhere, revoke their tokens, refuse sign-in")
    p.add_argument("username")
    p.set_defaults(func=cmd_user_disable)
    p = user.add_parser("enable", help="allow a disabled user to sign in again")
    p.add_argument("username")
    p.set_defaults(func=cmd_user_enable)
    p = user.add_parser("set-password", help="new password from stdin, or generated on a terminal; ends sessions")
    p.add_argument("username")
    p.add_argument("--temporary", action="store_true", help="the user must replace it at the next sign-in")
    p.set_defaults(func=cmd_user_set_password)
    p = user.add_parser("end-sessions", help="sign the user out of every browser")
    p.add_argument("username")
    p.set_defaults(func=cmd_user_end_sessions)
