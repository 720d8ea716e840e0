"""app.evaluation is a pure package: the scorer that `concord evaluate`, the datasheet and a trained model's
learnability share, with no database, no web and no domain package, so the pure training core may use it."""

from pathlib import Path

import pytest

import app.evaluation
from tests.webtext.test_package import FORBIDDEN, imported_modules

PACKAGE = Path(app.evaluation.__file__).parent
ALLOWED = ("app.evaluation", "app.webtext")


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def offending_imports(source: str) -> list[str]:
    return [
        name
        for name in imported_modules(source)
        if any(_under(name, banned) for banned in FORBIDDEN)
        or (_under(name, "app") and name != "app" and not any(_under(name, a) for a in ALLOWED))
    ]


def test_the_check_refuses_the_database_and_domain_packages() -> None:
    source = "from app.webtext.docred import parse_docred\ndef f():\n    from app.dataset.exporters import docred\n"
    assert offending_imports(source) == ["app.dataset.exporters", "app.dataset.exporters.docred"]


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_evaluation_imports_no_database_and_no_domain_package(path: Path) -> None:
    assert offending_imports(path.read_text(encoding="utf-8")) == []


def test_the_package_holds_the_scorer() -> None:
    assert {path.stem for path in PACKAGE.glob("*.py")} >= {"records", "metrics", "scores"}
