"""Make the labelled corpus (`mapping_corpus.py`, shared with bench/mapping) importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
