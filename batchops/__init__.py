"""batchops: the operations control plane for automated batch pipelines on GitHub Actions."""

__version__ = "1.0.0"
