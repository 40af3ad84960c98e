#!/usr/bin/env python3
"""Baseline for tests/bench/bench_router.cpp: keel's router method written in pure Python
(standard library only), as a Python service would route without numpy or a model.

- Build: the CLINC150 train utterances embedded with the hashing embedder of
  embedder_baseline.py (4,096 buckets, as the router's default), route centroids.
- Condition tier: the same 150 rules as the benchmark (the intent name as a keyword phrase on
  normalised words, an `re` pattern for every third route, a metadata rule for every tenth).
- Semantic tier: embed, centroid similarity, a linear layer of the same shape (route x feature
  weights) with softmax, the nearest utterance of the 4 leading routes, and the calibrated
  confidence of the top route.

Prints "python, build: S s", "python, condition tier: p50 U us", "python, semantic tier: p50 U us".
The IDF values do not change the cost, so they are left at 1.
"""

import json
import math
import os
import re
import sys
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import embedder_baseline as hashing  # noqa: E402

hashing.DIMENSION = 4096


def sparse(vector):
    return [(k, x) for k, x in enumerate(vector) if x != 0.0]


def normalise_words(text):
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.findall(r"\w+", text)


class ConditionTier:
    def __init__(self, names):
        self.rules = []
        for c, name in enumerate(names):
            phrase = tuple(name.split("_"))
            pattern = re.compile(r"(?i)\b" + " ".join(phrase) + r"s? (please|now)\b") if c % 3 == 0 else None
            meta = name if c % 10 == 0 else None
            self.rules.append((name, phrase, pattern, meta))

    def route(self, text, metadata):
        words = normalise_words(text)
        grams = set()
        for n in (1, 2, 3, 4, 5):
            for i in range(len(words) - n + 1):
                grams.add(tuple(words[i:i + n]))
        best, confidence = None, 0.0
        for name, phrase, pattern, meta in self.rules:
            c = 0.0
            if phrase in grams:
                c = 0.9
            if pattern is not None and pattern.search(text):
                c = max(c, 0.95)
            if meta is not None and metadata.get("intent") == meta:
                c = 1.0
            if c > confidence:
                best, confidence = name, c
        return best, confidence


class SemanticTier:
    def __init__(self, routes, idf):
        self.idf = idf
        self.names = [name for name, _ in routes]
        self.utterances = []  # per route: sparse vectors as lists of (feature, value)
        self.centroids = {}  # feature -> [R floats]
        R = len(routes)
        for r, (_, texts) in enumerate(routes):
            vectors = [sparse(hashing.embed(text, idf)) for text in texts]
            centroid = {}
            for v in vectors:
                for k, x in v:
                    centroid[k] = centroid.get(k, 0.0) + x
            norm = math.sqrt(sum(x * x for x in centroid.values())) or 1.0
            for k, x in centroid.items():
                self.centroids.setdefault(k, [0.0] * R)[r] = x / norm
            self.utterances.append(vectors)
        # A layer of the same shape as the router's (the centroids stand in for its weights).
        self.layer = self.centroids

    def route(self, text):
        q = sparse(hashing.embed(text, self.idf))
        dense = dict(q)
        R = len(self.names)
        centroid = [0.0] * R
        logits = [0.0] * R
        for k, x in q:
            row = self.centroids.get(k)
            if row is not None:
                layer_row = self.layer[k]
                for r in range(R):
                    centroid[r] += x * row[r]
                    logits[r] += x * layer_row[r]
        top = max(logits)
        exp = [math.exp(z - top) for z in logits]
        total = sum(exp)
        p = [e / total for e in exp]
        # The nearest utterance of the 4 leading routes, the centroid for the rest.
        order = sorted(range(R), key=lambda r: p[r], reverse=True)
        nearest = list(centroid)
        for r in order[:4]:
            nearest[r] = max(sum(dense.get(k, 0.0) * x for k, x in v) for v in self.utterances[r])
        score = [0.5 * nearest[r] + 0.5 * centroid[r] for r in range(R)]
        b, s = order[0], order[1]
        z = -2.0 + 4.0 * p[b] + 3.0 * (p[b] - p[s]) + 2.0 * score[b] + 2.0 * (score[b] - score[s])
        return self.names[b], 1.0 / (1.0 + math.exp(-z))


def p50(samples):
    samples.sort()
    return samples[len(samples) // 2]


def main():
    data_dir = sys.argv[1]
    with open(os.path.join(data_dir, "clinc150_data_full.json")) as f:
        data = json.load(f)
    routes = {}
    for text, intent in data["train"]:
        routes.setdefault(intent, []).append(text)
    names = list(routes)
    idf = [1.0] * hashing.DIMENSION

    start = time.perf_counter()
    semantic = SemanticTier(list(routes.items()), idf)
    print(f"python, build: {time.perf_counter() - start:.3f} s", flush=True)

    conditions = ConditionTier(names)
    queries = ["could you help me with " + name.replace("_", " ") + " please" for name in names]
    samples = []
    for i in range(3000):
        q = queries[i % len(queries)]
        t = time.perf_counter_ns()
        route, _ = conditions.route(q, {})
        samples.append((time.perf_counter_ns() - t) / 1000.0)
        assert route is not None
    print(f"python, condition tier: p50 {p50(samples):.1f} us", flush=True)

    tests = [text for text, _ in data["test"]]
    samples = []
    for i in range(300):
        q = tests[i % len(tests)]
        t = time.perf_counter_ns()
        semantic.route(q)
        samples.append((time.perf_counter_ns() - t) / 1000.0)
    print(f"python, semantic tier: p50 {p50(samples):.1f} us", flush=True)


if __name__ == "__main__":
    main()
