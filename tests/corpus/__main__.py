"""``python -m tests.corpus [NAME ...]``: measure the corpus through the CLI and print the table."""

import contextlib
import io
import sys
import tempfile

from . import CORPUS
from .measure import measure, table


def run_cli_plain(args):
    """tests.helpers.run_cli without pytest's capsys."""
    from tests.helpers import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            code = e.code or 0
    return code, out.getvalue(), err.getvalue()


def main(names):
    chosen = [e for e in CORPUS if not names or e.name in names]
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for e in chosen:
            o = measure(e, tmp, run_cli_plain)
            print(f"{e.name}: {o.result()}  {o.error_lines()}", file=sys.stderr)
            for d, v in o.verify.items():
                if v.get("json"):
                    ref = [r for r in v["json"]["participants"] if r["name"] == "reference"]
                    print(f"   {d}: reference spikes {ref[0]['spikes_per_node'] if ref else None}", file=sys.stderr)
            for d, v in o.verify.items():
                if v["code"] != 0:
                    print(f"   {d}: {v['err'][-400:]}", file=sys.stderr)
            outcomes.append(o)
    n = sum(o.identical() for o in outcomes)
    print(table(outcomes))
    print(f"\n{n} of {len(outcomes)} identical in float64 and float32; "
          f"{sum(o.result() == 'refused' for o in outcomes)} refused in one line.")


if __name__ == "__main__":
    main(sys.argv[1:])
