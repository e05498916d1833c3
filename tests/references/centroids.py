"""The centroid analysis the paper's way (Dankers & Titov 2024, section 5): per ordered class pair, per
layer, one example at a time with numpy. The fast path (``memlocbench_analyses.centroids``) takes all
layers, examples and projections of a pair in one tensor expression."""

from __future__ import annotations

import numpy as np

#: the analysis' default parameters (``memlocbench_analyses.centroids.DEFAULTS``) that this reference reads
DEFAULTS = {"threshold": 0.5, "percentiles": [87.5, 12.5]}


def reference_centroids(reps: list[list[list[float]]], noisy_labels, original_labels, noisy: set[int],
                        num_labels: int, p: dict = DEFAULTS) -> list[dict]:
    """The paper's way, one example at a time: ``reps[l][i]`` is example i's vector at layer l+1.
    Returns, per ordered pair, the mean-t curves and the two events (same keys as the fast path)."""
    hi, lo = p["percentiles"]
    out = []
    for c1 in range(num_labels):
        for c2 in range(num_labels):
            if c1 == c2:
                continue
            a_clean = [i for i in range(len(noisy_labels)) if noisy_labels[i] == c1 and i not in noisy]
            a_noisy = [i for i in range(len(noisy_labels)) if noisy_labels[i] == c1 and i in noisy
                       and original_labels[i] == c2]
            b_clean = [i for i in range(len(noisy_labels)) if noisy_labels[i] == c2 and i not in noisy]
            if not a_clean or not b_clean:
                continue
            curves = {"a": [], "n": [], "b": []}
            upper, lower = [], []
            for layer in reps:
                mu1 = np.mean([layer[i] for i in a_clean], axis=0)
                mu2 = np.mean([layer[i] for i in b_clean], axis=0)
                length2 = float(np.dot(mu2 - mu1, mu2 - mu1))
                t = {i: float(np.dot(np.array(layer[i]) - mu1, mu2 - mu1)) / length2
                     for i in a_clean + a_noisy + b_clean}
                curves["a"].append(np.mean([t[i] for i in a_clean]))
                curves["b"].append(np.mean([t[i] for i in b_clean]))
                curves["n"].append(np.mean([t[i] for i in a_noisy]) if a_noisy else None)
                upper.append(np.percentile([t[i] for i in a_clean], hi))
                lower.append(np.percentile([t[i] for i in b_clean], lo))
            crossing, prev = None, 100.0
            if a_noisy:
                for l, d in enumerate(curves["n"]):
                    if prev > p["threshold"] and d < p["threshold"]:
                        crossing = l + 1
                    prev = d
            initiation = None
            for l in range(len(reps)):
                if initiation is None and upper[l] < lower[l]:
                    initiation = l + 1
                if upper[l] >= lower[l]:
                    initiation = None
            out.append({"pair": [c1, c2], "mean_t_clean_a": curves["a"], "mean_t_clean_b": curves["b"],
                        "mean_t_noisy_a": curves["n"] if a_noisy else None, "crossing": crossing,
                        "initiation": initiation})
    return out
