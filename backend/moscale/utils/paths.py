"""Where a source checkout keeps what the backend reads besides code (the bundled model, rig maps)."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]  # backend/moscale/utils/paths.py -> the checkout
ASSETS = REPO_ROOT / "assets"
