"""calcscan: soft-tissue calcification on CT.

Detects and maps facial dermal calcified nodules (miliary osteoma cutis) on head and sinus CT,
runs cohort statistics, and ranks the differential diagnosis of soft-tissue calcification.
A research tool, never a diagnosis.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("calcscan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
