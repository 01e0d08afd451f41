"""effmnist_utils: data, models, training loop and plots shared by the EfficientMnist notebooks.

Modules, one concern each: `data` (find and verify MNIST), `loaders` (augmentation, the fast and
the original loaders), `models` / `layernet` (the networks and their registry), `config` (what
defines a run: HParams, recipes, the study's facts, paths), `runtime` (device, seeding,
precision), `loop` (the one training loop), `runs` (train and record one run, read records),
`runner` (execute planned runs, skipping recorded ones), `plans` (every study as data),
`sweeps` / `speedtables` (tables of many runs), `report` (the README's generated parts), `plots`,
`bench` (loader speed), `digits` / `deploy` / `deploy_bench` (using a model), `web` / `browser` /
`drawpad` (the draw-a-digit page, driving it in Chromium, the notebook's drawing pad), `corrupt` /
`robustness` (the corruption suite and each run's scores on it).
"""
from .config import (RECIPES, RESULTS_DIR, RUNS_DIR, SCRATCH_DIR, TARGET_ACC, Augment, HParams, Optim,
                     auto_tag)
from .data import DataError, default_data_dir, ensure_mnist, load_mnist
from .loaders import DeviceLoader, MnistData, ReferenceLoader, make_data
from .loop import TrainingError, evaluate, fit, predict, predict_probs
from .models import (FRONTIER_SPECS, ITER_SPECS, ITERATIONS, MODELS, IterNet, IterSpec, LayerNet,
                     build_model, count_params, layer_receptive_fields, layer_table, receptive_field,
                     spec_diff)
from .plots import (confusion_matrix, plot_augmented, plot_confident_mistakes, plot_confusion, plot_curves,
                    plot_feature_maps, plot_filters, plot_lever_times, plot_levers, plot_misclassified, plot_params_vs_accuracy,
                    plot_receptive_field, plot_speedrun, show_images)
from .runs import compare_with_recorded, describe_run, load_runs, recorded_times, train_run
from .runtime import pick_device

__version__ = "0.1.0"
