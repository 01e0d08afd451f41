"""Run every notebook in its smoke mode under pytest (nbval): 1 epoch on 2,000 images."""
import os

os.environ.setdefault("EFFMNIST_FAST", "1")
