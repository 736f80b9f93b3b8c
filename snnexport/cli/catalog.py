"""``snnexport targets``, ``snnexport models`` and ``snnexport train``: what the tool knows about."""

from __future__ import annotations

import click

from .. import jsonout
from ..errors import SnnexportError, markup_safe, terminal_safe
from ..targets import Target, load_targets, select_targets, target_dirs
from ..zoo import zoo_entries


def _fmt_e(t: Target, key: str) -> str:
    v = t.energy.get(key)
    if v is None:
        return "-"
    s = f"{v:g}"
    g = t.grade_of(f"energy.{key}")
    return s + ("?" if g == "unconfirmed" else "*" if g == "estimate" and t.grade != "estimate" else "")


def _neuron_cell(t: Target) -> str:
    if "neuron_update_active_pj" in t.energy:
        return f"{_fmt_e(t, 'neuron_update_active_pj')} / {_fmt_e(t, 'neuron_update_idle_pj')}"
    return _fmt_e(t, "neuron_update_pj")


def _capacity(t: Target) -> str:
    c = t.constraints
    if "cores" in c and "neurons_per_core" in c:
        return f"{c['cores']} x {c['neurons_per_core']}"
    if "max_neurons" in c:
        return f"{c['max_neurons']}"
    return "-"


@click.command("targets")
@click.option("--json", "as_json", is_flag=True, help="Print every target as JSON.")
@click.option("--show", "show", metavar="NAME", help="Print every field, source and note of one target.")
@click.option("--targets-dir", "targets_dirs", multiple=True, type=click.Path(),
              help="Extra folder of target .toml files (repeatable; also $SNNEXPORT_TARGETS).")
def targets_command(as_json, show, targets_dirs):
    """List the hardware targets of `snnexport report` with their evidence grades."""
    targets = load_targets(targets_dirs)
    if show:
        t = select_targets(targets, show)[0]
        if as_json:
            click.echo(jsonout.dumps(t.to_json(), indent=2, sort_keys=True))
            return
        _print_one(t)
        return
    if as_json:
        click.echo(jsonout.dumps({n: t.to_json() for n, t in targets.items()}, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="snnexport hardware targets (energies in pJ; * = estimate inside a better-graded target; ? = source unconfirmed)")
    for col in ("name", "kind", "grade", "SOP", "MAC", "neuron upd.", "spike", "cores x neurons", "source"):
        table.add_column(col, overflow="fold")
    for t in targets.values():
        src = t.sources[0]
        cells = (t.name, t.kind, t.grade, _fmt_e(t, "synaptic_op_pj"), _fmt_e(t, "mac_pj"), _neuron_cell(t),
                 _fmt_e(t, "spike_pj"), _capacity(t), _short_cite(src.cite))
        table.add_row(*(markup_safe(c) for c in cells))  # text from target files: no markup, no escapes
    import sys

    (Console() if sys.stdout.isatty() else Console(width=170)).print(table)
    if not targets:
        click.echo(f"no targets found in {', '.join(map(str, target_dirs(targets_dirs)))}")


def _short_cite(cite: str) -> str:
    return cite if len(cite) <= 70 else cite[:67] + "..."


def _echo(text: str) -> None:
    click.echo(terminal_safe(text))  # fields come from target files


def _print_one(t: Target) -> None:
    _echo(f"{t.name}: {t.title}")
    _echo(f"  kind: {t.kind}   grade: {t.grade}" + (f"   process: {t.process}" if t.process else ""))
    if t.note:
        _echo(f"  note: {t.note}")
    for s in t.sources:
        _echo(f"  source: {s.cite} [{s.where}]" + (f" {s.url}" if s.url else ""))
    for section, values in (("energy", t.energy), ("constraints", t.constraints)):
        for k, v in values.items():
            key = f"{section}.{k}"
            extra = f"  [{t.grades[key]}]" if key in t.grades else ""
            note = f"  -- {t.notes[key]}" if key in t.notes else ""
            _echo(f"  {key} = {v}{extra}{note}")


@click.command("models")
@click.option("--json", "as_json", is_flag=True)
def models_command(as_json):
    """List the model zoo: size, source framework, recorded metric."""
    from rich.console import Console
    from rich.table import Table

    from ..zoo_index import catalog_rows

    rows = catalog_rows()  # from the zoo's static index while it is current: no torch, no framework
    if as_json:
        click.echo(jsonout.dumps(rows, indent=2, sort_keys=True, default=str))
        return
    t = Table(title="snnexport model zoo")
    for col in ("name", "seed", "framework", "parameters", "size (KB)", "metrics", "description"):
        t.add_column(col, overflow="fold")
    for r in rows:
        metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in (r.get("metrics") or {}).items()
                            if not isinstance(v, (dict, list)))
        t.add_row(*(markup_safe(v) for v in (r["name"], r["seed"], r["framework"], str(r.get("parameters", "-")),
                                              str(r["size_kb"] or "missing"), metrics or "-", r["description"])))
    Console(width=180).print(t)


@click.command("train")
@click.argument("name")
@click.option("--epochs", type=int, help="Epochs (default: the model's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(), help="Checkpoint path (default: models/checkpoints/<name>.pt).")
def train_command(name, epochs, seed, output):
    """Train a zoo model reproducibly (progress bar, metric per epoch)."""
    zoo = zoo_entries()
    if name not in zoo:
        raise SnnexportError(f"unknown model {name!r}; available: {', '.join(sorted(zoo))}")
    e = zoo[name]
    out = output or str(e.checkpoint_path)
    metrics = e.train(epochs=epochs or e.default_epochs, seed=seed, out_path=out, progress=True)
    click.echo(jsonout.dumps({"checkpoint": out, "metrics": metrics}, indent=2, sort_keys=True, default=str))
