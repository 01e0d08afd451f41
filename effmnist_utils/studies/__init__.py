"""The studies: plans of many runs and the runner, tables and figures of many runs, the loader
benchmark, the corruption suite and each run's scores on it. Imports the core only."""
