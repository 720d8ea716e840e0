"""app.modelling is a pure package: no database, no web, no queue; torch only when a model is trained or used."""

import subprocess
import sys
from pathlib import Path

import pytest

import app.modelling
from tests.modelling.conftest import require_torch
from tests.webtext.test_package import FORBIDDEN, imported_modules

PACKAGE = Path(app.modelling.__file__).parent
# The scorer of `concord evaluate` is reused, not rewritten: app.evaluation is pure too.
ALLOWED = ("app.modelling", "app.webtext", "app.evaluation")


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def offending_imports(source: str) -> list[str]:
    allowed = ALLOWED
    return [
        name
        for name in imported_modules(source)
        if any(_under(name, banned) for banned in (*FORBIDDEN, "app.models"))
        or (_under(name, "app") and name != "app" and not any(_under(name, a) for a in allowed))
    ]


def test_the_check_refuses_the_database_and_other_packages() -> None:
    source = (
        "from app.evaluation.scores import evaluate\nfrom app.dataset import service\n"
        "def f():\n    from app.db import engine\n"
    )
    assert offending_imports(source) == ["app.dataset", "app.dataset.service", "app.db", "app.db.engine"]


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_modelling_imports_no_database_and_no_domain_package(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert offending_imports(source) == []


def test_the_package_holds_the_model() -> None:
    names = {path.stem for path in PACKAGE.glob("*.py")}
    assert {"data", "trainer", "predictor", "network", "scoring"} <= names


def test_importing_the_package_does_not_import_torch() -> None:
    # The base install (without the `train` extra) must import the app.
    code = "import sys, app.modelling; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_predictor_loads_nothing_of_the_web_or_the_database() -> None:
    require_torch()
    # The model annotator imports the predictor inside a worker: it must not drag in another layer of the app.
    code = (
        "import sys, app.modelling.predictor\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'sqlalchemy', 'sqlmodel', 'celery'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
