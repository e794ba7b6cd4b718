"""dip-lightning: Deep Image Prior restoration as PyTorch Lightning experiments."""

__version__ = "0.1.0"
