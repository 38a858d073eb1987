"""Where Isnad's files live: data shipped inside the package, and the checkout's own folders."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent  # name lists, units, titles, the confidence model, model hashes
PROJECT_ROOT = DATA_DIR.parents[1]  # a checkout's root: prompts/ and seeds/ live there
