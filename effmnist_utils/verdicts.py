"""Sentences that compare (beats, below, within noise), generated from the same rows as the table
printed beside them, so that a new run changes both or neither."""
from __future__ import annotations

from datetime import datetime, timedelta


def levers(rows: list[dict]) -> str:
    """What the lever table (`frontier.lever_rows`) says, by its own test: a Δ counts only beyond
    twice its standard error."""
    def names(rs):
        return ", ".join(f"{r['lever']} on {r['before'].split('-')[0]} ({r['delta']:+.2f})" for r in rs)

    judged = [r for r in rows if r["se"] is not None]
    up = [r for r in judged if r["delta"] > 2 * r["se"]]
    down = [r for r in judged if r["delta"] < -2 * r["se"]]
    noise = [r for r in judged if abs(r["delta"]) <= 2 * r["se"]]
    parts = [f"Beyond noise, {len(up)} of the {len(rows)} levers raised validation accuracy"
             + (f" ({names(up)})" if up else "") + f" and {len(down)} lowered it" + (f" ({names(down)})" if down else "")]
    if noise:
        parts.append(f"{len(noise)} are within noise ({', '.join(r['lever'] + ' on ' + r['before'].split('-')[0] for r in noise)})")
    unknown = len(rows) - len(judged)
    if unknown:
        parts.append(f"{unknown} ran one seed and cannot be judged")
    return "; ".join(parts) + "."


def original_gaps(rows: list[dict]) -> str:
    """The results table's rows (`summarise_runs`) whose original single run sits more than one
    standard deviation of our seeds above or below our mean."""
    judged = [r for r in rows if r.get("original_acc") is not None and r["n"] > 1]
    above = [r["model"] for r in judged if r["original_acc"] > r["final_mean"] + r["final_std"]]
    below = [r["model"] for r in judged if r["original_acc"] < r["final_mean"] - r["final_std"]]
    text = (f"Of the {len(judged)} rows with the original's single run, it sits more than one standard deviation of "
            f"our seeds above our mean for {', '.join(above) or 'none'}")
    return text + (f" and below it for {', '.join(below)}." if below else ", below it for none.")


def bench(benches: list[dict], goal: float = 2.0) -> str:
    """Whether each benchmark (`bench.load_benches`) reaches `goal`× the original pipeline in fp32
    and with bf16 arithmetic, and whether keeping freed memory moves it by more than the spread
    of one variant's rounds (the fastest round against the slowest, over the median)."""
    out = []
    for b in benches:
        ratio, rounds = b["ratio_vs_reference"], b.get("train_img_per_s_all", {})
        fp32 = max((v for v in ratio if "bf16" not in v), key=ratio.get)
        reached = [v for v in ratio if ratio[v] >= goal - 1e-9]
        spread = max(((max(r) - min(r)) / sorted(r)[len(r) // 2], v) for v, r in rounds.items()) if rounds else None
        text = (f"On {b.get('cpu') or b['device']} the most in fp32 is {ratio[fp32]:.2f}× ({fp32}): the goal of "
                f"{goal:g}× is " + (f"reached only by {', '.join(reached)}" if reached else "not reached") + ".")
        if "fast+keep" in ratio and spread:
            gain = ratio["fast+keep"] / ratio["fast"] - 1
            text += (f" Keeping freed memory moves the fast loader by {100 * gain:+.0f} %, "
                     + ("within" if abs(gain) <= spread[0] else "beyond")
                     + f" the spread of one variant's {len(rounds[spread[1]])} rounds (up to {100 * spread[0]:.1f} %, {spread[1]}).")
        out.append(text)
    return "\n\n".join(out)


def workers(rows: list[dict]) -> str:
    """Calls of one search on one machine and day that differ in workers × threads, compared."""
    out = []
    for a in rows:
        for b in rows:
            same = (a["search"], a["machine"], a["date"][:10]) == (b["search"], b["machine"], b["date"][:10])
            if same and a.get("recorded", True) and b.get("recorded", True) and a["workers"] > b["workers"] \
                    and a["workers"] * a["threads_per_worker"] == b["workers"] * b["threads_per_worker"]:
                out.append(f"On {a['machine']} ({a['date'][:10]}), {a['search']} trained {a['per_hour']:.0f} epochs an "
                           f"hour with {a['workers']} workers of {a['threads_per_worker']} thread"
                           f"{'s' * (a['threads_per_worker'] > 1)} against {b['per_hour']:.0f} with {b['workers']} of "
                           f"{b['threads_per_worker']}, {a['per_hour'] / b['per_hour']:.2f}× (one pair of calls, "
                           "each with its own trials).")
    return "\n\n" + " ".join(out) if out else ""


def together(rows: list[dict]) -> str:
    """The calls rebuilt from journals (`search.results.unrecorded_calls`) of several searches
    whose spans overlap: they ran at the same time, on the machines their rows name."""
    rebuilt = [c for c in rows if not c.get("recorded", True)]
    spans = sorted(((a := datetime.strptime(c["date"], "%Y-%m-%d %H:%M"), a + timedelta(seconds=c["seconds"]), c)
                    for c in rebuilt), key=lambda s: s[0])
    groups: list[list] = []  # calls that ran at once: each starts before the group's last one ends
    for span in spans:
        if groups and span[0] < max(b for _, b, _ in groups[-1]):
            groups[-1].append(span)
        else:
            groups.append([span])
    out = []
    for g in (g for g in groups if len(g) > 1):
        names = [c["search"] for _, _, c in g]
        out.append(f"The calls not recorded, of {', '.join(names[:-1])} and {names[-1]}, overlap in time (from "
                   f"{g[0][0]:%Y-%m-%d %H:%M}, their journals' start times): they ran at once.")
    return "\n\n" + " ".join(out) if out else ""
