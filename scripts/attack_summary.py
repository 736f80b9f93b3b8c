"""Run the whole attack campaign (tests/test_attack_campaign.py) and print the counts.

    .venv/bin/python scripts/attack_summary.py [--no-signals] [--rss] [--only CATEGORY]

Prints: cases tried, handled cleanly, per category, then every case that is not clean and why.
``--rss`` adds the peak RSS (VmHWM of the child) of the largest bombs under ``--max-memory 512M``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import test_attack_campaign as campaign  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-signals", action="store_true", help="skip the SIGTERM subprocess cases")
    ap.add_argument("--rss", action="store_true", help="also measure peak RSS of the largest bombs")
    ap.add_argument("--only", help="run one category")
    opts = ap.parse_args()
    if opts.only:
        campaign.ATTACKS[:] = [a for a in campaign.ATTACKS if a.category == opts.only]
    with tempfile.TemporaryDirectory(prefix="attack-") as tmp:
        results = campaign.run_campaign(Path(tmp), with_signals=not opts.no_signals and opts.only in (None, "signals"))
        tried, clean = Counter(), Counter()
        for r in results:
            tried[r.category] += 1
            clean[r.category] += r.problem is None
        total, ok = sum(tried.values()), sum(clean.values())
        print(f"attack campaign: {total} cases tried, {ok} handled cleanly, {total - ok} not")
        for cat in tried:
            print(f"  {cat:24s} {clean[cat]:4d} / {tried[cat]:4d}")
        bad = [r for r in results if r.problem]
        if bad:
            print("\nnot clean:")
            for r in bad:
                known = campaign.KNOWN.get(r.case_id)
                print(f"  {r.case_id}: {r.problem}" + (f"  [known: {known}]" if known else ""))
        if opts.rss:
            print("\npeak RSS (VmHWM of the child), largest bombs; verify under --max-memory 512M:")
            ws = campaign.Workspace(Path(tmp) / "rss")
            for cmd, name, code, kib, err in campaign.rss_table(ws):
                mib = f"{kib / 1024:8.1f} MiB" if kib else "     n/a"
                print(f"  {cmd:12s} {name:28s} exit {code}  peak {mib}  {err.splitlines()[-1][:140] if err else ''}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
