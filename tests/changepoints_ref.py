"""The reference implementations of E-divisive means, for tests/changepoints.rs.

Reads {"series": [[float, ...], ...], "pvalue": float, "permutations": int, "seed": int} on
stdin and prints one JSON line: for each series, what the reference found.

    python changepoints_ref.py spa     # MongoDB's signal-processing-algorithms
    python changepoints_ref.py otava   # Apache Otava

Run with the interpreters scripts/install-changepoint-refs.sh installs (one venv each: the
two need different numpy versions).
"""

import json
import sys


def spa(request):
    from signal_processing_algorithms.determinism import deterministic_numpy_random
    from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive

    out = []
    for series in request["series"]:
        with deterministic_numpy_random(request["seed"]):
            found = e_divisive(series, pvalue=request["pvalue"], permutations=request["permutations"])
        out.append({"e_divisive": sorted(int(i) for i in found)})
    return out


def otava(request):
    import numpy as np

    from otava.analysis import compute_change_points, compute_change_points_orig
    from otava.change_point_divisive.calculator import PairDistanceCalculator

    out = []
    for series in request["series"]:
        # Matteson & James with a permutation test (Otava's fixed 100 permutations).
        orig, _ = compute_change_points_orig(list(series), max_pvalue=request["pvalue"], seed=request["seed"])
        # Otava's default: t-tests in sliding windows, then the merge step (its defaults).
        default, _ = compute_change_points(list(series))
        # The best split of the whole series and its q-hat: the statistic itself.
        best = PairDistanceCalculator(np.array(series, dtype=np.float64)).get_candidate_change_point(
            slice(0, len(series))
        )
        out.append(
            {
                "orig": sorted(int(c.index) for c in orig),
                "ttest": sorted(int(c.index) for c in default),
                "best_split": [int(best.index), float(best.qhat)],
            }
        )
    return out


def main():
    request = json.load(sys.stdin)
    which = sys.argv[1]
    result = {"spa": spa, "otava": otava}[which](request)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
