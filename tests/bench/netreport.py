#!/usr/bin/python3
"""The network benchmark's tables (tests/bench/net-run): from RESULTS/PATH.stream (one line per
run: bytes, seconds, MB/s) and RESULTS/PATH.rr (one round trip in ns per line, every run's
pooled), the median throughput and its range, the median and 99th percentile round trip, and
the ratios of the paths compared (the throughput ratio also per run, paired by round)."""

import os
import statistics
import sys

LABELS = {
    "policy": "policy: sandbox -> sandbox through moatd's rules",
    "baseline": "baseline: the same veth path, no rules",
    "sandboxed": "sandboxed: as policy, the server being the sandbox's payload",
    "wireguard": "wireguard: peer -> hub through wireguard-go",
    "plain": "plain: the same veth, no tunnel",
}
PAIRS = (("policy", "baseline"), ("sandboxed", "policy"), ("wireguard", "plain"))


def percentile(sorted_values, fraction):
    """Nearest rank."""
    index = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def load(results, path):
    with open(os.path.join(results, path + ".stream")) as f:
        rates = [float(line.split()[2]) for line in f if line.strip()]
    with open(os.path.join(results, path + ".rr")) as f:
        trips = sorted(int(line) / 1000 for line in f if line.strip())
    return {"rates": rates, "rate": statistics.median(rates), "min": min(rates), "max": max(rates),
            "median": percentile(trips, 0.5), "p99": percentile(trips, 0.99), "n": len(trips)}


def main():
    results, runs, seconds, round_trips, size = sys.argv[1:6]
    data = {path: load(results, path) for path in LABELS}
    print()
    print(f"TCP, one connection; throughput: {runs} runs of {seconds} s each, MB/s = 10^6 "
          f"bytes/s; round trips: {size}-byte messages, {round_trips} per run, pooled; "
          "the five paths interleaved")
    print()
    print("| path | throughput, median (min-max) | round trip, median | p99 |")
    print("|---|---:|---:|---:|")
    for path, label in LABELS.items():
        d = data[path]
        print(f"| {label} | {d['rate']:.0f} MB/s ({d['min']:.0f}-{d['max']:.0f}) "
              f"| {d['median']:.1f} µs | {d['p99']:.1f} µs |")
    print()
    print("| ratio | throughput (of the medians) | per run: median (min-max) "
          "| round trip, median | p99 |")
    print("|---|---:|---:|---:|---:|")
    for a, b in PAIRS:
        per_run = [x / y for x, y in zip(data[a]["rates"], data[b]["rates"])]
        print(f"| {a} / {b} | {data[a]['rate'] / data[b]['rate']:.2f}x "
              f"| {statistics.median(per_run):.2f}x ({min(per_run):.2f}-{max(per_run):.2f}) "
              f"| {data[a]['median'] / data[b]['median']:.2f}x "
              f"| {data[a]['p99'] / data[b]['p99']:.2f}x |")


if __name__ == "__main__":
    main()
