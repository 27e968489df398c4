"""How fast the secret masker scans job output, against a plain regex alternation of
the same forms (the obvious way to write it), in one run on one machine.

    .venv/bin/python bench/masking/run.py [--secrets 200] [--lines 20000] [--runs 5]

Every line a job prints passes through `SecretMasker.mask` before it is stored, so its
cost per line is paid by every chatty job. Prints medians of the runs and the ratio.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from console.assets.masking import SecretMasker, secret_forms

PEM_LINE = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"


def timed(mask: object, lines: list[str]) -> float:
    started = time.perf_counter()
    for line in lines:
        mask(line)  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secrets", type=int, default=200)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    secrets = [f"secret-number-{i:04d}-xyz" for i in range(args.secrets - 5)]
    secrets += [f"{PEM_LINE}{i}\n{PEM_LINE[::-1]}{i}" for i in range(5)]
    lines = [f"an ordinary line of output, number {i}, with some text" for i in range(args.lines)]
    masker = SecretMasker(lambda: secrets)
    forms = sorted({f for s in secrets for f in secret_forms(s)}, key=len, reverse=True)
    plain = re.compile("|".join(map(re.escape, forms)))
    trie, alternation = [], []
    for _ in range(args.runs):
        trie.append(timed(masker.mask, lines))
        alternation.append(timed(lambda text: plain.sub("***", text), lines))
    ours, peer = statistics.median(trie), statistics.median(alternation)
    per_line = ours / args.lines * 1e6
    print(f"{args.secrets} secrets ({len(forms)} forms), {args.lines} lines, runs: {args.runs}")
    print(f"  SecretMasker      {ours:7.3f} s   {per_line:5.1f} us/line")
    print(f"  plain alternation {peer:7.3f} s   {peer / args.lines * 1e6:5.1f} us/line")
    print(f"  alternation / masker: {peer / ours:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
