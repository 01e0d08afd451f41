"""The search study, one module per concern: `spaces` defines the searches as data (each one's
space, budget and folder, and `get` by name); `engine` runs one on Optuna with worker processes
(`python -m effmnist_utils search NAME`); `storage` is where its trials live (Optuna's journal
or database, and stale trials failed and retried); `results` reads a recorded search back (its
front, importances, calls and the speedrun rule's candidates); `figures` draws them. Import the
module you need (`from effmnist_utils.studies.search import results`); this file imports nothing."""
