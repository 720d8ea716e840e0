"""Imports run one way: project < crawl_batch < document < annotation < review < dataset < training, over shared layers.

docs/architecture.md states the rule; this test holds the code to it. It reads the source (ast), so an import
inside a function counts as much as one at the top of a module.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

import app

APP = Path(app.__file__).parent
# The domain packages, in import order: each may import the ones before it, never the ones after.
LAYERS = ("project", "crawl_batch", "document", "annotation", "review", "dataset", "training")
# Below every domain package, importable by all of them; they import no domain package themselves.
SHARED = frozenset(
    {
        # configuration, database, queue and broker
        "config",
        "data_dir",
        "db",
        "migrations",
        "models",
        "jobs",
        "embedded_broker",
        "redis_client",
        # web plumbing
        "errors",
        "error_handlers",
        "templating",
        "status_names",
        "notices",
        "request_limits",
        "api_types",
        "health",
        "gc_tuning",
        "process_family",
        # accounts, and the agreement classes' names that every page shows
        "auth",
        "agreement_classes",
        # pure cores, with no database (tests/webtext, tests/evaluation and tests/modelling check that)
        "webtext",
        "evaluation",
        "modelling",
    }
)
# Above everything: they assemble the app and may import any package.
ENTRY = frozenset({"main", "cli", "serve", "demo"})

# Imports that still run backwards, each with the reason and the way out. Delete an entry when its import goes;
# the test fails while an entry names an import that is no longer there.
BACKWARDS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    path: str
    line: int
    target: str  # the first name under app: a package or a top-level module
    in_function: bool


def _part(path: Path) -> str:
    """The package or top-level module a file of app/ belongs to."""
    first = path.relative_to(APP).parts[0]
    return first.removesuffix(".py")


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif node.level or node.module is None:
        return []
    elif node.module == "app":
        names = [f"app.{alias.name}" for alias in node.names]
    else:
        names = [node.module]
    return [name.split(".")[1] for name in names if name.startswith("app.")]


def imports_of(source: str, path: str) -> list[Import]:
    """Every import of an app module, with whether it sits inside a function."""
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.extend(Import(path, child.lineno, t, in_function) for t in _targets(child))
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, inner)

    visit(ast.parse(source), False)
    return found


def wrong_way(path: str, imp: Import) -> str | None:
    """Why this import breaks the rule, or None when it keeps it."""
    here = path.split("/")[1].removesuffix(".py")
    if imp.target == here or imp.target in SHARED:
        if here in SHARED and imp.target in LAYERS:
            return f"shared {here} imports the domain package {imp.target}"
        return None
    if here in ENTRY:
        return None
    if imp.target in ENTRY:
        return f"{here} imports {imp.target}, which assembles the app"
    if imp.target not in LAYERS:
        return f"{imp.target} is not placed in a layer: add it to LAYERS, SHARED or ENTRY (and docs/architecture.md)"
    if here in SHARED:
        return f"shared {here} imports the domain package {imp.target}"
    if LAYERS.index(imp.target) > LAYERS.index(here):
        return f"{here} imports {imp.target}, which comes after it"
    return None


def _sources() -> list[tuple[str, str]]:
    return [(f"app/{p.relative_to(APP).as_posix()}", p.read_text(encoding="utf-8")) for p in sorted(APP.rglob("*.py"))]


def _violations() -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for path, source in _sources():
        for imp in imports_of(source, path):
            if wrong_way(path, imp) is not None:
                out.setdefault((path, imp.target), []).append(imp.line)
    return out


def test_every_part_of_app_is_placed_in_a_layer() -> None:
    parts = {_part(p) for p in APP.rglob("*.py")} - {"__init__"}
    assert parts - set(LAYERS) - SHARED - ENTRY == set()


def test_no_package_imports_a_later_one() -> None:
    found = _violations()
    unexpected = {k: v for k, v in found.items() if k not in BACKWARDS}
    assert unexpected == {}, [f"{p}:{lines}: {wrong_way(p, Import(p, 0, t, False))}" for (p, t), lines in found.items()]


def test_every_listed_exception_is_still_needed() -> None:
    assert set(BACKWARDS) - set(_violations()) == set(), "an import went: delete its entry from BACKWARDS"


def test_the_check_sees_a_backward_import_even_inside_a_function() -> None:
    source = "from app.db import SessionDep\n\ndef view():\n    from app.review.service import claim  # why\n"
    imports = imports_of(source, "app/crawl_batch/pages.py")
    assert [(i.target, i.in_function) for i in imports] == [("db", False), ("review", True)]
    assert [wrong_way("app/crawl_batch/pages.py", i) is None for i in imports] == [True, False]
    assert wrong_way("app/review/pages.py", Import("app/review/pages.py", 1, "crawl_batch", False)) is None
    assert wrong_way("app/templating.py", Import("app/templating.py", 1, "annotation", False)) is not None
    assert wrong_way("app/errors.py", Import("app/errors.py", 1, "newthing", False)) is not None
    assert wrong_way("app/main.py", Import("app/main.py", 1, "dataset", False)) is None


def _explained(lines: list[str], line: int) -> bool:
    """A comment on the import's line, or on the line above it or above the run of imports it belongs to."""
    i = line - 1
    if "#" in lines[i]:
        return True
    while i > 0 and lines[i - 1].strip().startswith(("from ", "import ")):
        i -= 1
    return lines[i - 1].strip().startswith("#")


def unexplained_function_imports(source: str, path: str) -> list[int]:
    """Lines of imports inside functions that carry no comment saying why (a module may explain all of its own
    with one `# Imports inside functions: ...` comment at the top level)."""
    if any(line.startswith("# Imports inside functions:") for line in source.splitlines()):
        return []
    lines = source.splitlines()
    return [i.line for i in imports_of(source, path) if i.in_function and not _explained(lines, i.line)]


def test_every_import_inside_a_function_says_why() -> None:
    found = {path: lines for path, source in _sources() if (lines := unexplained_function_imports(source, path))}
    assert found == {}


def test_the_comment_check_reads_the_line_above_a_run_of_imports() -> None:
    explained = "def f():\n    # here: heavy\n    from app.db import a\n    from app.db import b\n"
    bare = "def f():\n    x = 1\n    from app.db import a\n"
    assert unexplained_function_imports(explained, "app/x.py") == []
    assert unexplained_function_imports(bare, "app/x.py") == [3]


def _module_graph() -> dict[str, set[str]]:
    """Module -> the app modules it imports (anywhere in it), by dotted name."""
    modules = {}
    for p in APP.rglob("*.py"):
        parts = ("app", *p.relative_to(APP).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
                found = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            graph[name].update(m for m in found if m in modules and m != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = stack[stack.index(node) :]
                del stack[stack.index(node) :]
                if len(group) > 1:
                    out.append(sorted(group))
    return out


def test_no_import_cycle_spans_two_parts_of_the_app() -> None:
    """A cycle inside one package (a type both modules name) is its own business; across parts it is a knot, as
    errors -> templating -> auth.csrf -> errors was."""
    across = [c for c in cycles(_module_graph()) if len({m.split(".")[1] for m in c}) > 1]
    assert across == []


def test_the_cycle_check_finds_a_three_module_knot() -> None:
    graph = {"app.errors": {"app.templating"}, "app.templating": {"app.auth.csrf"}, "app.auth.csrf": {"app.errors"}}
    assert cycles({**graph, "app.db": set()}) == [["app.auth.csrf", "app.errors", "app.templating"]]


# Where a transaction may end (docs/architecture.md, "Services never commit"): the request boundary (db.py), job
# bodies and the steps named for their job, the paid-call cache, the upload flow's one commit before the file
# streams in, the health check's worker probe, and the CLI and the demo.
COMMITS_ALLOWED = {
    "app/db.py",
    "app/annotation/jobs.py",
    "app/annotation/second_look_job.py",
    "app/crawl_batch/jobs.py",
    "app/dataset/jobs.py",
    "app/training/jobs.py",
    "app/annotation/runner.py",
    "app/crawl_batch/service.py",
    "app/health.py",
    "app/training/cli.py",
    "app/demo/__init__.py",
}


def commits_in(source: str) -> list[int]:
    """Lines that name `.commit` (called, or passed on as a callable)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr == "commit" and isinstance(node.ctx, ast.Load)
    ]


def test_commits_happen_only_where_the_rules_say() -> None:
    found = {
        str(path.relative_to(APP.parent)): lines
        for path in sorted(APP.rglob("*.py"))
        if (lines := commits_in(path.read_text(encoding="utf-8")))
    }
    assert {path: lines for path, lines in found.items() if path not in COMMITS_ALLOWED} == {}
    assert set(COMMITS_ALLOWED) - set(found) == set(), "a module no longer commits: delete it from COMMITS_ALLOWED"


def test_the_commit_check_sees_a_commit_passed_as_a_callable() -> None:
    source = "async def f(session):\n    session.add(x)\n    await run_in_threadpool(session.commit)\n"
    assert commits_in(source) == [3]
    assert commits_in("def f(session):\n    session.flush()\n") == []
