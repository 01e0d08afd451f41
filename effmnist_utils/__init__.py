"""effmnist_utils: data, models, training loop and plots shared by the EfficientMnist notebooks.

Three layers, as folders: `core` (what the notebooks import: data, loaders, models, settings,
runtime, the loop, recorded runs, plots), `studies` (plans of many runs, their tables and
figures, the benchmark, the corruption suite) and `use` (your own digits, ONNX export, the
draw-a-digit page). `import effmnist_utils` loads the core only; the command line
(`__main__`, `cli`), `report` and `lessons` (loaded on first use of its names) sit
on top.
"""
from .core.config import (RECIPES, RESULTS_DIR, RUNS_DIR, SCRATCH_DIR, TARGET_ACC, VAL_SIZE, Augment, HParams, Optim,
                     auto_tag, notebook_hparams, notebook_images, notebook_steps)
from .core.data import DataError, default_data_dir, ensure_mnist, load_mnist
from .core.loaders import DeviceLoader, MnistData, ReferenceLoader, make_data, normalise
from .core.loop import TrainingError, evaluate, fit, predict, predict_probs
from .core.place import RunPlace
from .core.models import (FRONTIER_SPECS, ITER_SPECS, ITERATIONS, MODELS, ORIGINAL_ACC, IterNet, IterSpec,
                          LayerNet, build_model, count_params, layer_receptive_fields, receptive_field,
                          spec_diff)
from .core.activations import layer_drift, plot_activation_spread, plot_layer_drift, relu_inputs
from .core.diagrams import (layer_boxes, param_shares, plot_architecture, plot_histories,
                              plot_param_shares, plot_recap, recap, render_param_shares, render_recap)
from .core.inside import (plot_confident_mistakes, plot_feature_maps, plot_filters, plot_gap, plot_pool_orders,
                               plot_receptive_field, pool_and_transition)
from .core.plots import (confusion_matrix, conv_widths, plot_augmented, plot_confusion, plot_curves,
                         plot_lr_schedules, plot_misclassified, plot_seed_means, plot_widths, show_images)
from .core.population_runs import train_population
from .core.record import Record, find_run, load_run, load_runs
from .core.runs import compare_with_recorded, describe_run, recorded_times, run_all_times, train_run
from .core.runtime import pick_device, use_allocator
from .core.cost import (compare_recipes, count_macs, plot_macs, plot_step_profile, profile_step,
                        total_macs)

__version__ = "0.1.0"

# The studies' recorded results as notebooks 07 and 11 read them (`lessons`), loaded on first use
LESSONS = ("GOAL_MODELS", "frontier_runs", "plot_frontier", "budgets_table", "goals_table", "crossed_seeds",
           "recipe_steps", "plot_recipe_steps", "live_search", "run_live_search", "plot_live_search",
           "frontier_searches", "search_counts", "search_front", "plot_search_front", "winners_curse")


def __getattr__(name: str):
    if name in LESSONS:
        # heavy/optional: lessons loads the studies and report; `import effmnist_utils` loads the core only
        from . import lessons

        return getattr(lessons, name)
    raise AttributeError(f"module 'effmnist_utils' has no attribute {name!r}")
