"""app.webtext is the pure web-text pipeline: no database, no session, no other package of the app."""

import ast
from pathlib import Path

import pytest

import app.webtext

PACKAGE = Path(app.webtext.__file__).parent
# Any import of these, at module level or inside a function, would tie the pipeline to the database.
FORBIDDEN = ("sqlmodel", "sqlalchemy", "app.models", "app.db", "app.jobs", "celery", "fastapi")


def imported_modules(source: str) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            names.extend([node.module] + [f"{node.module}.{alias.name}" for alias in node.names])
    return names


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def offending_imports(source: str) -> list[str]:
    """Imports of the database layers or of any app package other than app.webtext itself."""
    return [
        name
        for name in imported_modules(source)
        if any(_under(name, banned) for banned in FORBIDDEN)
        or (_under(name, "app") and not _under(name, "app.webtext"))
    ]


def test_the_check_sees_imports_anywhere_in_a_module() -> None:
    source = (
        "import sqlalchemy.orm\nfrom app.webtext.formats import RawRecord\n"
        "def f():\n    from app.models import Document\n    from app import db\n"
    )
    assert offending_imports(source) == ["sqlalchemy.orm", "app.models", "app.models.Document", "app", "app.db"]


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_webtext_imports_no_database_and_no_other_app_package(path: Path) -> None:
    assert offending_imports(path.read_text(encoding="utf-8")) == []


def test_the_package_holds_the_pipeline() -> None:
    # The parametrised test above must not pass vacuously on an empty folder.
    names = {path.stem for path in PACKAGE.glob("*.py")}
    assert {"readers", "web_archives", "formats", "extraction", "pipeline", "dedup", "near_duplicates"} <= names
