"""The core the notebooks import: data, loaders and augmentation, the models, the settings of a
run, the runtime, the training loop, recording and reading a run, and the lessons' plots.
It imports nothing from the other layers."""
