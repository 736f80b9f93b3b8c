"""The structure of the package: the CLI on top, no import circles, API names that stay functions."""

import ast
import importlib
import inspect
from pathlib import Path

import snnexport

PKG = Path(snnexport.__file__).parent


def _library_files():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "cli" or rel.name == "__main__.py":
            continue  # the command line and `python -m snnexport` sit on top
        yield path, rel


def _imports(path: Path, rel: Path):
    """Absolute module names ``path`` imports (relative imports resolved), lazy ones included."""
    package = ["snnexport", *rel.parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            yield mod
            for a in node.names:
                yield f"{mod}.{a.name}"


def test_no_library_module_imports_the_cli_or_click():
    offenders = []
    for path, rel in _library_files():
        for name in _imports(path, rel):
            if name == "click" or name.startswith("click.") or name == "snnexport.cli" or name.startswith("snnexport.cli."):
                offenders.append(f"{rel}: {name}")
    assert offenders == []


def test_the_checker_sees_an_import_of_the_cli(tmp_path):
    # the scan above must be able to fail: a relative import of the CLI is found
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from ..cli import options\n", encoding="utf8")
    assert "snnexport.cli" in set(_imports(f, Path("hardware") / "x.py"))


def test_verify_and_report_stay_api_functions_after_their_modules_are_imported():
    importlib.import_module("snnexport.verification")
    importlib.import_module("snnexport.reporting")
    for name in ("verify", "report", "simulate", "convert"):
        fn = getattr(snnexport, name)
        assert inspect.isfunction(fn) and fn.__module__ == "snnexport.api", name


def test_every_simulator_module_registers_its_participants():
    import pkgutil

    from snnexport import simulators
    from snnexport.simulators import PARTICIPANTS, load_all

    load_all()
    registering = {p.module.split(".")[2] for p in PARTICIPANTS.values() if p.module.startswith("snnexport.simulators.")}
    modules = {m.name for m in pkgutil.iter_modules(simulators.__path__)} - {"base"}
    assert modules - registering == set()  # a module that registers nothing is never run by verify


def test_default_participants_come_from_the_registry_in_row_order():
    from snnexport.simulators import PARTICIPANTS
    from snnexport.verification import default_sims

    with_source = default_sims(True)
    assert with_source[:2] == ["source", "reference"]
    assert default_sims(False) == [s for s in with_source if s != "source"]
    assert all(PARTICIPANTS[s].default for s in with_source)
    assert not any(p.default for p in PARTICIPANTS.values() if p.role == "chip")
    roles = [PARTICIPANTS[s].role for s in with_source]
    assert roles == sorted(roles, key=["source", "reference", "simulator", "upstream"].index)


def test_the_library_import_graph_has_no_circle():
    files = {}
    for path, rel in _library_files():
        parts = ["snnexport", *rel.parts[:-1]] + ([] if rel.name == "__init__.py" else [rel.stem])
        files[".".join(parts)] = (path, rel)
    graph = {mod: {name for name in _imports(path, rel) if name in files and name != mod}
             for mod, (path, rel) in files.items()}
    # a package's __init__ importing its own submodules is how packages re-export: not a circle
    graph = {m: {n for n in deps if not n.startswith(m + ".")} for m, deps in graph.items()}
    state, stack, circles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                circles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert circles == []


def test_lazy_commands_list_their_own_help():
    from snnexport import cli

    cli._register_optional_commands()
    listed = {n: cli.cli.commands[n].get_short_help_str(limit=60) for n in cli._LAZY_COMMANDS}
    for name in cli._LAZY_COMMANDS:
        cli._load_command(name)
        real = cli.cli.commands[name]
        assert not getattr(real, "_lazy", False)
        assert real.help.split("\n\n")[0] == cli._LAZY_COMMANDS[name][2], name
        assert real.get_short_help_str(limit=60) == listed[name], name


# every public name snnexport.reporting had when it held all of report's jobs in one file
REPORTING_NAMES = ("COUNTING_RULES", "DEFAULT_BASELINE", "LAYER_HEAD", "REPORT_FORMAT", "Report", "SYNAPTIC_TERM_LABELS",
                   "TARGET_HEAD", "TargetResult", "Term", "apply_convention", "build_report", "fit_check", "layer_rows",
                   "markdown", "plot", "print_report", "sig", "summary_lines", "target_energy", "target_rows")
REPORT_PARTS = ("energy", "target_fit", "report_document", "report_render")


def test_report_parts_do_not_import_the_pipeline_which_keeps_every_name():
    importers = sorted(str(rel) for path, rel in _library_files() if "snnexport.reporting" in set(_imports(path, rel)))
    assert importers == ["api.py"]  # the parts, and everything else in the library, import the part they need
    reporting = importlib.import_module("snnexport.reporting")
    assert [n for n in REPORTING_NAMES if not hasattr(reporting, n)] == []
    for part in REPORT_PARTS:
        mod = importlib.import_module(f"snnexport.{part}")
        own = [n for n, v in vars(mod).items() if not n.startswith("_") and getattr(v, "__module__", None) == mod.__name__]
        assert own, part
        assert all(getattr(reporting, n) is getattr(mod, n) for n in own if n in REPORTING_NAMES), part
