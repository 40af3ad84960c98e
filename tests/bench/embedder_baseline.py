#!/usr/bin/env python3
"""Baseline for tests/bench/bench_embedder.cpp: keel's hashing embedder method written in pure
Python (standard library only), as a Python service would embed without numpy or a model.

Same tokens (NFKD + case folding, accents stripped, runs of letters and digits), same features
(word 1..2-grams, character 3..5-grams of "<token>"), same FNV-1a 64 + fmix64 hashing, same
weighting (mean IDF, char_weight * IDF / sqrt(n-grams of the token), 1 + ln tf) and L2
normalisation. Prints the p50 embedding time of the benchmark's two texts and the vector of the
10-word utterance, which the benchmark compares with keel's.
"""

import math
import time
import unicodedata

DIMENSION = 1024
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (3, 5)
CHAR_WEIGHT = 2.0
MAX_TOKEN_BYTES = 128

MASK = (1 << 64) - 1
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv(h, data):
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & MASK
    return h


WORD_SEED = fnv(FNV_OFFSET, b"w")
CHAR_SEED = fnv(FNV_OFFSET, b"c")


def finalise(k):
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & MASK
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & MASK
    k ^= k >> 33
    return k or 1


ACCENTS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF),
           (0xFE20, 0xFE2F), (0x0591, 0x05C7), (0x064B, 0x065F), (0x0670, 0x0670))


def is_accent(ch):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in ACCENTS)


def tokens(text):
    out, current, size = [], [], 0
    for ch in unicodedata.normalize("NFKD", text.casefold()):
        category = unicodedata.category(ch)
        if category[0] in "LN" or (category[0] == "M" and not is_accent(ch)):
            n = len(ch.encode())
            if size + n > MAX_TOKEN_BYTES:
                out.append("".join(current))
                current, size = [], 0
            current.append(ch)
            size += n
        elif category[0] == "M" or category == "Cf":
            continue
        elif current:
            out.append("".join(current))
            current, size = [], 0
    if current:
        out.append("".join(current))
    return out


def embed(text, idf):
    features = {}

    def add(key, weight):
        entry = features.get(key)
        if entry is None:
            features[key] = [weight, 1]
        else:
            entry[0] += weight
            entry[1] += 1

    def bucket(key):
        return ((key >> 32) * DIMENSION) >> 32

    toks = tokens(text)
    encoded = [t.encode() for t in toks]
    weights = [idf[bucket(finalise(fnv(WORD_SEED, b)))] for b in encoded]
    lo, hi = WORD_NGRAMS
    for i in range(len(toks)):
        h, total = WORD_SEED, 0.0
        for n in range(1, hi + 1):
            if i + n > len(toks):
                break
            if n > 1:
                h = fnv(h, b" ")
            h = fnv(h, encoded[i + n - 1])
            total += weights[i + n - 1]
            if n >= lo:
                add(finalise(h), total / n)
    lo, hi = CHAR_NGRAMS
    for token, weight in zip(toks, weights):
        padded = [b"<"] + [ch.encode() for ch in token] + [b">"]
        p = len(padded)
        count = sum(p - n + 1 for n in range(lo, min(hi, p) + 1))
        if count == 0:
            continue
        w = CHAR_WEIGHT * weight / math.sqrt(count)
        for first in range(p):
            h = CHAR_SEED
            for q in range(first, min(p, first + hi)):
                h = fnv(h, padded[q])
                if q - first + 1 >= lo:
                    add(finalise(h), w)
    vector = [0.0] * DIMENSION
    for key, (total, tf) in features.items():
        value = total / tf * (1 + math.log(tf)) if tf > 1 else total
        vector[bucket(key)] += -value if key & 1 else value
    norm = math.sqrt(sum(x * x for x in vector))
    if norm > 0:
        vector = [x / norm for x in vector]
    return vector


UTTERANCE_10 = "can you tell me the balance of my checking account"
TEXT_100 = (
    "Hello, I moved to a new apartment last month and I still have not received the "
    "replacement debit card that was supposed to arrive within five business days. I "
    "updated my address in the app before the card was shipped, but the tracking page "
    "still shows the old street name. Could you check whether the card was sent to the "
    "wrong place, cancel it if so, and order a new one to my current address? I also "
    "noticed two pending charges from a grocery store I have never visited, so please "
    "tell me how to dispute them and whether I should freeze my account until the new "
    "card arrives. Thanks for your help.")


def p50_us(text, runs, idf):
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        embed(text, idf)
        samples.append((time.perf_counter_ns() - start) / 1000.0)
    samples.sort()
    return samples[len(samples) // 2]


def main():
    idf = [1.0] * DIMENSION
    for _ in range(20):
        embed(UTTERANCE_10, idf)
    print(f"python, 10-word utterance: p50 {p50_us(UTTERANCE_10, 2000, idf):.1f} us", flush=True)
    print(f"python, 100-word text: p50 {p50_us(TEXT_100, 200, idf):.1f} us", flush=True)
    vector = embed(UTTERANCE_10, idf)
    print("vector: " + " ".join(f"{b}:{x:.9g}" for b, x in enumerate(vector) if x != 0))


if __name__ == "__main__":
    main()
