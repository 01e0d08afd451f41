"""The sentences that compare are computed from the rows of the table beside them."""
from effmnist_utils import verdicts


def _lever(name, delta, se):
    return {"lever": name, "before": "f8a-v10k", "after": "x", "delta": delta, "se": se}


def test_a_lever_counts_only_beyond_twice_its_standard_error():
    text = verdicts.levers([_lever("up", 0.30, 0.1), _lever("flat", 0.15, 0.1), _lever("down", -0.25, 0.1),
                            _lever("one seed", 0.5, None)])
    assert text.startswith("Beyond noise, 1 of the 4 levers raised validation accuracy (up on f8a (+0.30)) "
                           "and 1 lowered it (down on f8a (-0.25))")
    assert "1 are within noise (flat on f8a)" in text and "1 ran one seed and cannot be judged" in text


def test_the_original_is_compared_with_our_spread():
    row = lambda m, orig, mean: {"model": m, "original_acc": orig, "final_mean": mean, "final_std": 0.05, "n": 3}  # noqa: E731
    text = verdicts.original_gaps([row("a", 99.60, 99.50), row("b", 99.52, 99.50), row("c", 99.30, 99.40),
                                   {**row("f", None, 99.0)}])
    assert text == ("Of the 3 rows with the original's single run, it sits more than one standard deviation of our "
                    "seeds above our mean for a and below it for c.")


def test_the_bench_verdict_reads_the_ratios_and_the_rounds():
    bench = {"device": "cpu", "cpu": "X", "ratio_vs_reference": {"reference": 1.0, "fast": 1.4, "fast+keep": 1.7,
                                                                "fast+keep+bf16": 2.2},
             "train_img_per_s_all": {"fast": [100, 102, 104], "fast+keep": [120, 121, 122]}}
    text = verdicts.bench([bench])
    assert "the most in fp32 is 1.70× (fast+keep): the goal of 2× is reached only by fast+keep+bf16" in text
    assert "moves the fast loader by +21 %, beyond the spread of one variant's 3 rounds (up to 3.9 %, fast)" in text


def test_rebuilt_calls_are_said_to_run_at_once_only_when_they_overlap():
    call = lambda s, d, secs: {"search": s, "date": d, "seconds": secs, "recorded": False}  # noqa: E731
    assert "they ran at once" in verdicts.together([call("a", "2026-12-04 17:42", 400), call("b", "2026-12-04 17:45", 60)])
    assert verdicts.together([call("a", "2026-12-04 17:42", 60), call("b", "2026-12-04 17:45", 60)]) == ""
    recorded = dict(call("c", "2026-12-04 17:42", 400), recorded=True)
    assert verdicts.together([call("a", "2026-12-04 17:42", 400), recorded]) == ""


def test_workers_are_compared_only_between_calls_of_one_search_machine_and_day():
    call = lambda s, w, t, per_hour, day="2026-12-04": {"search": s, "machine": "X", "date": f"{day} 10:00",  # noqa: E731
                                                        "workers": w, "threads_per_worker": t, "per_hour": per_hour}
    text = verdicts.workers([call("a", 2, 1, 600), call("a", 1, 2, 400)])
    assert "a trained 600 epochs an hour with 2 workers of 1 thread against 400 with 1 of 2, 1.50×" in text
    assert verdicts.workers([call("a", 2, 1, 600), call("b", 1, 2, 400)]) == ""
    assert verdicts.workers([call("a", 2, 1, 600), call("a", 1, 2, 400, "2026-12-05")]) == ""
