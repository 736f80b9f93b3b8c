"""Training helpers shared by the zoo modules: seeding, batching, spike counting, the command line.

Every zoo trainer is reproducible for a seed: :func:`seed_all` seeds torch's global RNG (the
weight initialisation) and returns a torch generator for shuffling and input coding plus a
numpy generator; evaluation draws its input coding from a fixed ``eval_seed`` so that a
checkpoint's recorded accuracy can be recomputed exactly from the checkpoint.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

EVAL_SEED = 1234

# encode(x_batch, generator) -> time-major network input [T, B, ...]
Encoder = Callable[[torch.Tensor, Optional[torch.Generator]], torch.Tensor]


def zoo_threads() -> int:
    """Intra-op threads for zoo training: ``$SNNEXPORT_ZOO_THREADS``, default 1.

    Measured on the 2-core development machines while other jobs ran: one Adam step of the
    stereo codec took 0.043 s with 1 thread and 0.49 s with 2; an mnist-snntorch epoch 2.4 s
    versus 11-36 s. With 2 threads every small op waits for the second thread, which is
    often descheduled. Results are reproducible for a given seed *and* thread count.
    """
    return max(1, int(os.environ.get("SNNEXPORT_ZOO_THREADS", "1")))


def set_threads(n: Optional[int] = None) -> None:
    n = n or zoo_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def cpu_training(fn):
    """Decorator for a zoo ``train``: :func:`set_threads` while it runs, the previous thread
    count restored afterwards (it is process-wide, and tests share the process)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        prev = torch.get_num_threads()
        set_threads()
        try:
            return fn(*args, **kwargs)
        finally:
            if torch.get_num_threads() != prev:
                torch.set_num_threads(prev)

    return wrapper


def seed_all(seed: int) -> Tuple[torch.Generator, np.random.Generator]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    return gen, np.random.default_rng(seed)


def minibatches(n: int, batch_size: int, generator: Optional[torch.Generator] = None,
                shuffle: bool = True) -> List[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    return list(order.split(batch_size))


def progress_bar(iterable, desc: str, enabled: bool, total: Optional[int] = None):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


@contextmanager
def count_spikes(model: nn.Module, neuron_types: Tuple[type, ...]) -> Iterator[Dict[str, float]]:
    """Count the spikes every neuron module of ``neuron_types`` emits while the block runs.

    A neuron's output may be the spike tensor or a tuple whose first item is it (snnTorch's
    ``(spk, mem)``). Yields a dict whose ``"total"`` grows as the model runs.
    """
    counts: Dict[str, float] = {"total": 0.0}
    hooks = []

    def hook(_m, _inp, out):
        spk = out[0] if isinstance(out, (tuple, list)) else out
        counts["total"] += float(spk.detach().sum())

    for m in model.modules():
        if isinstance(m, neuron_types):
            hooks.append(m.register_forward_hook(hook))
    try:
        yield counts
    finally:
        for h in hooks:
            h.remove()


@torch.no_grad()
def spike_counts_by_module(model: nn.Module, x: torch.Tensor, neuron_types: Tuple[type, ...]) -> Dict[str, int]:
    """Spikes each neuron module (by dotted name) emits on input ``x``, in eval mode.

    Recorded in every zoo checkpoint for its shipped sample input (``info["sample_spikes"]``):
    rerunning the checkpoint on that sample must give exactly these counts.
    """
    counts: Dict[str, int] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, neuron_types):
            def hook(_m, _inp, out, name=name):
                spk = out[0] if isinstance(out, (tuple, list)) else out
                counts[name] = counts.get(name, 0) + int(spk.detach().sum().round())
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return counts


def spike_count_loss(out_spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the output spike counts over time (seeds 002/003/004): ``[T, B, K]`` -> scalar."""
    return F.cross_entropy(out_spikes.sum(0), labels)


@torch.no_grad()
def evaluate_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    encode: Encoder,
    neuron_types: Tuple[type, ...] = (),
    eval_seed: int = EVAL_SEED,
    batch_size: int = 256,
) -> Dict[str, float]:
    """Accuracy, loss and spikes per inference on ``(x, y)``, input coding drawn from ``eval_seed``."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(eval_seed)
    correct, loss_sum, in_spikes = 0, 0.0, 0.0
    with count_spikes(model, neuron_types) as counts:
        for idx in torch.arange(len(y)).split(batch_size):
            inp = encode(x[idx], gen)
            out = model(inp)
            loss_sum += float(spike_count_loss(out, y[idx])) * len(idx)
            correct += int((out.sum(0).argmax(1) == y[idx]).sum())
            in_spikes += float(inp.sum())
    model.train(was_training)
    n = len(y)
    return {
        "accuracy": correct / n,
        "loss": loss_sum / n,
        "spikes_per_inference": counts["total"] / n,
        "input_spikes_per_inference": in_spikes / n,
    }


def train_classifier(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    encode: Encoder,
    epochs: int,
    seed_gen: torch.Generator,
    lr: float = 1e-3,
    batch_size: int = 64,
    neuron_types: Tuple[type, ...] = (),
    progress: bool = True,
    desc: str = "train",
    log: Callable[[str], None] = print,
    lr_step: Optional[int] = None,
) -> List[Dict[str, float]]:
    """Adam on the spike-count cross-entropy; evaluates on the held-out set after every epoch."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=lr_step, gamma=0.5) if lr_step else None
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        t0 = time.time()
        batches = minibatches(len(y_train), batch_size, seed_gen)
        loss_sum, correct = 0.0, 0
        bar = progress_bar(batches, f"{desc} epoch {epoch}/{epochs}", progress)
        for idx in bar:
            inp = encode(x_train[idx], seed_gen)
            out = model(inp)
            loss = spike_count_loss(out, y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((out.detach().sum(0).argmax(1) == y_train[idx]).sum())
            if progress:
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        if sched:
            sched.step()
        ev = evaluate_classifier(model, x_test, y_test, encode, neuron_types)
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / len(y_train),
            "train_accuracy": correct / len(y_train),
            "test_loss": ev["loss"],
            "test_accuracy": ev["accuracy"],
            "spikes_per_inference": ev["spikes_per_inference"],
            "seconds": time.time() - t0,
        }
        history.append(row)
        log(f"[{desc}] epoch {epoch}/{epochs}: train loss {row['train_loss']:.4f} "
            f"acc {row['train_accuracy']:.4f} | test acc {row['test_accuracy']:.4f} "
            f"| spikes/inference {row['spikes_per_inference']:.0f} | {row['seconds']:.1f}s")
    return history


def sample_path(out_path: Path) -> Path:
    """``<dir>/<stem>_sample.npy`` beside a checkpoint (``_encoder`` dropped from the stem)."""
    stem = out_path.stem
    if stem.endswith("_encoder"):
        stem = stem[: -len("_encoder")]
    return out_path.with_name(f"{stem}_sample.npy")


def save_sample(out_path: Path, sample: torch.Tensor) -> Path:
    p = sample_path(Path(out_path))
    p.parent.mkdir(parents=True, exist_ok=True)
    np.save(p, sample.detach().cpu().numpy().astype(np.float32))
    return p


def run_cli(entry, module: str, argv: Optional[Sequence[str]] = None,
            options: Sequence[Tuple[str, Dict[str, Any]]] = ()) -> Dict[str, Any]:
    """``python -m models.<module> [--epochs N] [--seed S] [--out PATH] [--quiet] ...``.

    Trains, writes the checkpoint (default: the shipped one) and, for the shipped checkpoint,
    ``models/results/<module>.json`` with the metrics and the command that made it.
    """
    from ..registry import RESULTS

    ap = argparse.ArgumentParser(prog=f"python -m models.{module}", description=entry.description)
    ap.add_argument("--epochs", type=int, default=entry.default_epochs)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=entry.checkpoint_path)
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    for flag, kw in options:
        ap.add_argument(flag, **kw)
    args = ap.parse_args(argv)
    extra = {k: v for k, v in vars(args).items() if k not in ("epochs", "seed", "out", "quiet")}
    extra = {k: v for k, v in extra.items() if v is not None}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    metrics = entry.train(args.epochs, args.seed, args.out, progress=not args.quiet, **extra)
    if args.out.resolve() == entry.checkpoint_path.resolve():
        RESULTS.mkdir(parents=True, exist_ok=True)
        report = {
            "model": entry.name,
            "seed_document": entry.seed,
            "command": f"python -m models.{module} --epochs {args.epochs} --seed {args.seed}"
                       + "".join(f" --{k.replace('_', '-')} {v}" for k, v in extra.items()),
            "torch_threads": metrics.get("torch_threads"),
            "metrics": metrics,
            "checkpoint_bytes": {p.name: p.stat().st_size for p in sorted(args.out.parent.glob(f"{module}*"))},
        }
        (RESULTS / f"{module}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in metrics.items() if k != "history"}, indent=2))
    return metrics


def plain(obj: Any) -> Any:
    """``obj`` with numpy scalars turned into Python numbers (checkpoints load with ``weights_only``)."""
    return json.loads(json.dumps(obj, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def tensor_f32(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def tensor_i64(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.int64)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run python -m models.<module> instead")


def finish_classifier(model: nn.Module, *, out_path, arch: str, kwargs: Dict[str, Any], ev: Dict[str, Any],
                      history: List[Dict[str, Any]], t_start: float, epochs: int, seed: int, source: str,
                      n_train: int, n_test: int, eval_seed: int, sample: torch.Tensor,
                      neuron_types: Tuple[type, ...], **info: Any) -> Dict[str, Any]:
    """The common end of a zoo classifier's training: metrics, checkpoint (snnexport format,
    time-major spike input) and the shipped sample input. ``info`` holds model-specific facts."""
    from snnexport.checkpoint import save

    metrics = {
        "accuracy": ev["accuracy"],
        "test_loss": ev["loss"],
        "spikes_per_inference": ev["spikes_per_inference"],
        "input_spikes_per_inference": ev["input_spikes_per_inference"],
        "train_seconds": time.time() - t_start,
        "epochs": epochs,
        "seed": seed,
        "torch_threads": torch.get_num_threads(),
        "dataset": source,
        "n_train": n_train,
        "n_test": n_test,
        "eval_seed": eval_seed,
        "history": history,
    }
    out_path = Path(out_path)
    save(model, out_path, arch=arch, kwargs=kwargs, input_layout="TB", input_kind="spikes", dataset=source,
         metrics=plain({k: v for k, v in metrics.items() if k != "history"}),
         sample_spikes=spike_counts_by_module(model, sample, neuron_types), **info)
    save_sample(out_path, sample)
    return metrics
