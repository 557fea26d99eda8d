"""Judge methods of a `wavecross benchmark` report against the quality bar of issue 11.

Per set, for each judged method ("ours"): on the paper's eight metrics, a lead is a mean that is the best or within
2 % of the best learned peer's (every metric here is higher-is-better); RankAgree must beat every learned peer;
Nabf must not exceed the learned peers' median. Learned peers are the report's published methods (`--fused`) that
are not judged; on a set without any (LLVIP) the thermal order is held against the max fusion's instead.

    python bench/issue_bar.py report/results.json [--ours wavecross] [--ours v3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

PAPER_METRICS = ("EN", "SD", "SF", "AG", "SCD", "VIFF", "Qabf", "MS_SSIM")
LEAD_MARGIN = 0.02


def judge(means: dict[str, dict[str, float]], kinds: dict[str, str], ours: str, judged: list[str]) -> dict:
    """The bar for one judged method on one set's means; no judged method is a peer of another."""
    learned = [m for m, k in kinds.items() if k == "published" and m not in judged and m in means]
    mine = means[ours]
    if not learned:
        rank_ok = mine["RankAgree"] >= means["max"]["RankAgree"] if "max" in means else None
        return {"learned_peers": [], "RankAgree": mine["RankAgree"], "rank_at_least_max": rank_ok}
    best = {m: max(means[p][m] for p in learned) for m in PAPER_METRICS}
    leads = [m for m in PAPER_METRICS if mine[m] >= (1 - LEAD_MARGIN) * best[m]]
    best_rank = max(means[p]["RankAgree"] for p in learned)
    median_nabf = statistics.median(means[p]["Nabf"] for p in learned)
    return {
        "learned_peers": learned,
        "leads": leads,
        "shortfalls": {m: round(mine[m] / best[m] - 1, 4) for m in PAPER_METRICS if m not in leads},
        "RankAgree": mine["RankAgree"],
        "best_learned_RankAgree": best_rank,
        "rank_above_learned": mine["RankAgree"] > best_rank,
        "Nabf": mine["Nabf"],
        "median_learned_Nabf": median_nabf,
        "nabf_at_most_median": mine["Nabf"] <= median_nabf,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results.json of a benchmark report")
    parser.add_argument("--ours", action="append", default=None, help="method to judge (repeatable; default wavecross)")
    parser.add_argument("--json", type=Path, default=None, help="also write the verdicts here")
    args = parser.parse_args()
    summary = json.loads(args.results.read_text())
    judged = args.ours or ["wavecross"]
    verdicts: dict[str, dict] = {}
    for ours in judged:
        for set_name in summary["sets"]:
            v = judge(summary["per_set"][set_name]["means"], summary["kinds"], ours, judged)
            verdicts.setdefault(ours, {})[set_name] = v
            if v["learned_peers"]:
                print(
                    f"{ours} {set_name}: leads {len(v['leads'])}/8 {v['leads']}; RankAgree {v['RankAgree']:.3f} vs "
                    f"best learned {v['best_learned_RankAgree']:.3f}; Nabf {v['Nabf']:.4f} vs learned median "
                    f"{v['median_learned_Nabf']:.4f}; short: {v['shortfalls']}"
                )
            else:
                print(f"{ours} {set_name}: RankAgree {v['RankAgree']:.3f}, ≥ max's: {v['rank_at_least_max']}")
    if args.json:
        args.json.write_text(json.dumps(verdicts, indent=1) + "\n")


if __name__ == "__main__":
    main()
