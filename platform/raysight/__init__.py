"""raysight: a self-hosted vision model platform on Ray Train and Ray Serve."""

__version__ = "0.1.0"
