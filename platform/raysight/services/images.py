"""Moved to raysight.imaging (pure image helpers that serving's replicas use too, issue 12).

Kept only for the imgseg modules that still import it from here; new code imports raysight.imaging.
The integrator repoints services/imgseg/{ingest,sources}.py and removes this module.
"""

from __future__ import annotations

from raysight.imaging import decode_image, probe

__all__ = ["decode_image", "probe"]
