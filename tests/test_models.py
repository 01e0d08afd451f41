"""The original study's iterations: sizes, receptive fields, output contract and the registry."""
import pytest
import torch

from effmnist_utils.core.models import (ITER_SPECS, ITERATIONS, MODELS, ORIGINAL_ACC, IterNet, IterSpec,
                                   build_model, count_params, receptive_field, spec_diff)

# The original study's table of parameter counts (hard-coded on purpose: a change to a spec must
# show up here, not silently change the numbers the notebooks quote).
EXPECTED_PARAMS = {
    "iter1": 24_498,
    "iter2": 15_658,
    "iter3": 15_658,
    "iter4": 15_794,
    "iter5": 9_074,
    "iter6": 13_562,
}


@pytest.mark.parametrize("name, expected", EXPECTED_PARAMS.items())
def test_param_counts_match_the_original_table(name, expected):
    """Each iteration has exactly the parameter count of the original study's table."""
    assert count_params(build_model(name)) == expected


def test_registry_holds_the_six_iterations_then_the_frontier():
    """The registry is the original study's six iterations, in order, then the frontier's
    models; the original's reported accuracies are for exactly those six."""
    from effmnist_utils.core.models import FRONTIER_SPECS

    assert list(MODELS) == list(EXPECTED_PARAMS) + list(FRONTIER_SPECS)
    assert ITERATIONS == tuple(EXPECTED_PARAMS)  # what `reproduce` trains by default
    assert list(ORIGINAL_ACC) == list(ITERATIONS)


# The original study's reported test accuracies (its README: one run each, epoch 20), hard-coded
# like EXPECTED_PARAMS so that a change to the quoted numbers shows up here.
ORIGINAL_REPORTED = {"iter1": 99.39, "iter2": 99.29, "iter3": 99.44, "iter4": 99.59,
                     "iter5": 99.41, "iter6": 99.52}


def test_summaries_quote_the_original_accuracy_beside_the_iterations_only():
    """The per-model summary of the committed runs puts the original study's reported accuracy
    beside each of its iterations, and none beside the frontier's models."""
    from effmnist_utils.core.config import RUNS_DIR
    from effmnist_utils.core.record import load_runs
    from effmnist_utils.studies.results_tables import summarise_runs

    quoted = {row["model"]: row["original_acc"] for row in summarise_runs(load_runs(RUNS_DIR))}
    assert {m: quoted.get(m) for m in ORIGINAL_REPORTED} == ORIGINAL_REPORTED
    others = {m: acc for m, acc in quoted.items() if m not in ORIGINAL_REPORTED}
    assert others and all(acc is None for acc in others.values()), others


@pytest.mark.parametrize("name", ["iter3", "iter4", "iter5", "iter6"])
def test_receptive_field_is_20(name):
    """Iterations 3-6 see 20x20 input pixels per unit of the last conv layer."""
    assert receptive_field(build_model(name)) == 20


@pytest.mark.parametrize("name", list(EXPECTED_PARAMS))
def test_forward_gives_log_probabilities(name):
    """Every model maps a (2,1,28,28) batch to (2,10) log-probabilities."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    assert torch.all(out <= 0)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(2))


def test_unknown_model_names_the_known_ones():
    """build_model with an unknown name raises ValueError listing every known model."""
    with pytest.raises(ValueError, match="nope") as info:
        build_model("nope")
    for name in EXPECTED_PARAMS:
        assert name in str(info.value)


def test_spec_diff_iter2_to_iter3_is_the_pool_move():
    """Iteration 3 differs from 2 only by moving the max-pool after the 1x1 conv."""
    assert spec_diff(ITER_SPECS["iter2"], ITER_SPECS["iter3"]) == {"pool_after": (3, 4)}


def test_an_unknown_head_is_refused():
    """IterNet's head is 'flatten' or 'gap'; anything else is refused by name."""
    spec = IterSpec((8, 10, 16, 8, 10, 16, 28), pool_after=4, batchnorm=True, head="max")
    with pytest.raises(ValueError, match="head must be 'flatten' or 'gap', not 'max'"):
        IterNet(spec)
