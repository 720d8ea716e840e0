"""Which new passwords are acceptable: explicit checks for the obvious kinds, then zxcvbn's guess estimate."""

from zxcvbn import zxcvbn

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
# zxcvbn's score: 0-1 fall to an online attack, 2 resists a throttled online attack, 3+ an offline one.
MIN_SCORE = 3
# zxcvbn's matching is super-linear in the length; a long password's first 64 characters decide its score.
_ESTIMATED_PREFIX = 64
_ADVICE = "Use several unrelated words or a longer mix of characters."


def _is_repeated(password: str) -> bool:
    """One short unit over and over: '1111111111', 'abababab', 'abcabcabc'."""
    for size in range(1, 4):
        unit = password[:size]
        if len(password) > size and (unit * (len(password) // size + 1))[: len(password)] == password:
            return True
    return False


def _is_sequential(password: str) -> bool:
    """Characters that step by one code point each time: 'abcdefghij', '1234567890', 'zyxwvuts' (also 0 after 9)."""
    steps = {
        1 if (ord(b) - ord(a) == 1 or (a, b) == ("9", "0")) else -1 if ord(a) - ord(b) == 1 else 0
        for a, b in zip(password.lower(), password.lower()[1:], strict=False)
    }
    return len(steps) == 1 and 0 not in steps


def password_problem(password: str, *, username: str = "") -> str | None:
    """Why this password is refused, in one sentence for the person choosing it; None when it is acceptable."""
    if not password.strip():
        return "The password cannot be only spaces."
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    core = password.strip()
    if _is_repeated(core):
        return f"The password repeats the same characters. {_ADVICE}"
    if _is_sequential(core):
        return f"The password is a sequence (like abcdef or 123456). {_ADVICE}"
    result = zxcvbn(password[:_ESTIMATED_PREFIX], user_inputs=[username] if username else [])
    if result["score"] >= MIN_SCORE:
        return None
    kinds = {match.get("pattern") for match in result["sequence"]}
    if any(match.get("dictionary_name") == "passwords" for match in result["sequence"]):
        return f"This is a common password, easy to guess. {_ADVICE}"
    if username and any(match.get("dictionary_name") == "user_inputs" for match in result["sequence"]):
        return f"The password contains the username. {_ADVICE}"
    if "repeat" in kinds:
        return f"The password repeats the same characters. {_ADVICE}"
    if "sequence" in kinds:
        return f"The password is a sequence (like abcdef or 123456). {_ADVICE}"
    warning = str(result["feedback"].get("warning") or "").rstrip(".")
    return f"This password is too easy to guess{': ' + warning.lower() if warning else ''}. {_ADVICE}"
