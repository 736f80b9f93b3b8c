"""``snnexport models`` and ``snnexport train``: the model zoo of ../shared/seeds (models/)."""

from __future__ import annotations

import json

import click

from .errors import SnnexportError


def _zoo():
    try:
        from models.registry import load_zoo
    except ModuleNotFoundError:
        raise SnnexportError("the model zoo (models/) is not importable; run from the snnexport checkout") from None
    return load_zoo()


@click.command("models")
@click.option("--json", "as_json", is_flag=True)
def models_command(as_json):
    """List the model zoo: size, source framework, recorded metric."""
    from rich.console import Console
    from rich.table import Table

    from .checkpoint import load

    rows = []
    for name, e in sorted(_zoo().items()):
        path = e.checkpoint_path
        row = {"name": name, "seed": e.seed, "framework": e.framework, "description": e.description,
               "checkpoint": str(path), "size_kb": round(path.stat().st_size / 1024, 1) if path.exists() else None}
        if path.exists():
            lm = load(path)
            row["parameters"] = sum(p.numel() for p in lm.model.parameters())
            row["metrics"] = lm.info.get("metrics", {})
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return
    t = Table(title="snnexport model zoo")
    for col in ("name", "seed", "framework", "parameters", "size (KB)", "metrics", "description"):
        t.add_column(col, overflow="fold")
    for r in rows:
        metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in (r.get("metrics") or {}).items()
                            if not isinstance(v, (dict, list)))
        t.add_row(r["name"], r["seed"], r["framework"], str(r.get("parameters", "-")), str(r["size_kb"] or "missing"),
                  metrics or "-", r["description"])
    Console(width=180).print(t)


@click.command("train")
@click.argument("name")
@click.option("--epochs", type=int, help="Epochs (default: the model's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(), help="Checkpoint path (default: models/checkpoints/<name>.pt).")
def train_command(name, epochs, seed, output):
    """Train a zoo model reproducibly (progress bar, metric per epoch)."""
    zoo = _zoo()
    if name not in zoo:
        raise SnnexportError(f"unknown model {name!r}; available: {', '.join(sorted(zoo))}")
    e = zoo[name]
    out = output or str(e.checkpoint_path)
    metrics = e.train(epochs=epochs or e.default_epochs, seed=seed, out_path=out, progress=True)
    click.echo(json.dumps({"checkpoint": out, "metrics": metrics}, indent=2, sort_keys=True, default=str))
