"""Save, convert and verify one corpus model through the CLI, as a new user would."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from . import SIMS, Entry

Runner = Callable[[List[str]], Tuple[int, str, str]]  # args -> (exit code, stdout, stderr)
PARTICIPANTS = set(SIMS.split(","))


@dataclass
class Outcome:
    entry: Entry
    convert_code: int = -1
    convert_err: str = ""
    verify: Dict[str, dict] = field(default_factory=dict)  # dtype -> {"code", "json" or "err"}

    def error_lines(self) -> List[str]:
        """What convert said that is not a note for plain-NIR consumers or a warning."""
        return [ln for ln in self.convert_err.splitlines() if ln.strip() and not ln.startswith(("note", "warning", "W1"))]

    @property
    def refusal_line(self) -> Optional[str]:
        lines = self.error_lines()
        return lines[0] if self.convert_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") else None

    def identical(self) -> bool:
        """Converted, and in float64 and float32 every participant ran and matched, with real spikes."""
        if self.convert_code != 0 or set(self.verify) != {"float64", "float32"}:
            return False
        for v in self.verify.values():
            rep = v.get("json")
            if v["code"] != 0 or not rep or not rep.get("identical"):
                return False
            rows = {r["name"]: r for r in rep["participants"]}
            if not PARTICIPANTS <= set(rows) or any(rows[n].get("error") or rows[n]["mismatches"] for n in PARTICIPANTS):
                return False
            if not rows["reference"]["spikes_per_node"] or not all(rows["reference"]["spikes_per_node"].values()):
                return False  # a silent neuron layer proves nothing
        return True

    def result(self) -> str:
        if self.identical():
            return "identical"
        if self.convert_code == 2:
            return "refused"
        if self.convert_code != 0:
            return f"convert exit {self.convert_code}"
        bad = {d: v for d, v in self.verify.items() if v["code"] != 0 or not (v.get("json") or {}).get("identical")}
        if bad:
            return "; ".join(f"verify {d} exit {v['code']}" for d, v in bad.items())
        return "silent layer"


def measure(entry: Entry, folder: Path, run: Runner) -> Outcome:
    import snnexport

    from . import load_all

    load_all()
    module = __import__(f"tests.corpus.{entry.module}", fromlist=[entry.name])
    ckpt = Path(folder) / f"{entry.name}.pt"
    snnexport.save(getattr(module, entry.name)(), ckpt, arch=entry.arch, **entry.info)
    out = Outcome(entry)
    out.convert_code, _, out.convert_err = run(["convert", str(ckpt), "-o", str(ckpt.with_suffix(".nir"))])
    if out.convert_code != 0:
        return out
    for dtype in ("float64", "float32"):
        code, stdout, err = run(["verify", str(ckpt), "--dtype", dtype, "--sims", SIMS, "--no-upstream",
                                 "--batch", "4", "--rate", "0.3", "--json"])
        try:
            rep = json.loads(stdout)
        except ValueError:
            rep = None
        out.verify[dtype] = {"code": code, "json": rep, "err": err.strip()}
    return out


def table(outcomes: List[Outcome]) -> str:
    rows = ["| # | model | framework | idiom | result | refusal line |", "|---|---|---|---|---|---|"]
    for i, o in enumerate(outcomes, 1):
        line = " / ".join(o.error_lines()) if o.convert_code else ""
        line = line.replace("|", "\\|")
        rows.append(f"| {i} | `{o.entry.name}` | {o.entry.framework} | {o.entry.idiom} | {o.result()} | "
                    f"{('`' + line + '`') if line else ''} |")
    return "\n".join(rows)
