"""effmnist_utils: data, models, training loop and plots shared by the EfficientMnist notebooks."""
from .data import (DataError, DeviceLoader, MnistData, ReferenceLoader, default_data_dir,
                   ensure_mnist, load_mnist, make_data, seed_augment)
from .models import (FRONTIER_SPECS, ITER_SPECS, MODELS, IterNet, IterSpec, LayerNet, build_model,
                     count_params, layer_table, receptive_field, spec_diff)
from .plots import (confusion_matrix, plot_confusion, plot_curves, plot_misclassified,
                    plot_params_vs_accuracy, show_images)
from .train import (RECIPES, HParams, TrainingError, describe_run, evaluate, fit, load_record,
                    pick_device, predict, train_run)

__version__ = "0.1.0"
