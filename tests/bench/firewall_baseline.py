"""Baseline for bench_firewall: the firewall's own pattern catalogue run with Python's `re`, the
way Python firewalls' regex scanners work (normalise, then try every pattern in turn).

    python3 tests/bench/firewall_baseline.py lib/firewall/rules
"""

import json
import re
import statistics
import sys
import time
import unicodedata
from pathlib import Path

LEET = str.maketrans("013457@$", "oieastas")
INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\U000e0000-\U000e007f]")


def views(text):
    folded = unicodedata.normalize("NFKC", text).casefold()
    stripped = "".join(c for c in unicodedata.normalize("NFD", folded) if unicodedata.category(c) != "Mn")
    stripped = INVISIBLE.sub("", unicodedata.normalize("NFC", stripped))
    collapsed = re.sub(r"\s*\n\s*", "\n", stripped)
    collapsed = re.sub(r"[ \t\f\v]+", " ", collapsed)
    return {"raw": text, "text": collapsed, "keyword": collapsed.translate(LEET)}


def main():
    rules_dir = Path(sys.argv[1])
    rules = []
    for name in ("threats.json", "pii.json", "secrets.json"):
        for rule in json.loads((rules_dir / name).read_text())["rules"]:
            # re.ASCII: RE2's \b and \w are ASCII-only; this keeps the two engines' matches identical.
            rules.append((rule["view"], re.compile(rule["pattern"], re.ASCII)))
    prompt = (
        "Hi! I'm preparing the quarterly business review for our support organisation and I need "
        "help structuring it. We handled about 48,000 tickets this quarter, median first response "
        "was 2.4 hours, and customer satisfaction moved from 86% to 89%. The biggest drivers of "
        "volume were password resets, billing questions about the new annual plan, and shipping "
        "delays in the EU warehouse during October. Could you propose an outline with five "
        "sections, suggest two charts per section, and write a short executive summary that "
        "highlights what improved, what got worse, and what we plan to change next quarter? "
        "Please keep the tone factual and avoid jargon, since the audience includes finance and "
        "operations leaders who don't work with support tooling every day. Also list three risks "
        "we should call out, for example the hiring freeze, the migration to the new help-desk "
        "platform, and the seasonal peak in December. Thanks a lot for your help with this!"
    )
    while len(prompt) < 1024:
        prompt += " Thanks again."
    prompt = prompt[:1024]

    def scan(text):
        v = views(text)
        found = []
        for view, pattern in rules:
            for m in pattern.finditer(v[view]):
                found.append(m.span())
        return found

    for _ in range(50):
        scan(prompt)
    samples = []
    for _ in range(500):
        start = time.perf_counter()
        scan(prompt)
        samples.append((time.perf_counter() - start) * 1e6)
    print(f"python re, {len(rules)} patterns")
    print(f"python re, 1 KiB benign prompt: p50 {statistics.median(samples):.1f} us")
    doc = ("The committee reviewed the proposal in detail. Revenue grew 12% year over year. "
           "Contact finance-team@example.com or +1 415 555 0132 for the workbook.\n") * 7000
    doc = doc[: 1 << 20]
    start = time.perf_counter()
    scan(doc)
    seconds = time.perf_counter() - start
    print(f"python re, 1 MiB document: {seconds * 1000:.0f} ms ({len(doc) / seconds / 1e6:.1f} MB/s)")


if __name__ == "__main__":
    main()
