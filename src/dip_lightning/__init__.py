"""dip-lightning: Deep Image Prior restoration as PyTorch Lightning experiments.

`from dip_lightning import restore` (dip_lightning/api.py) fits one picture from Python; the package
itself imports nothing heavy until then."""

__version__ = "0.1.0"
__all__ = ["Restoration", "__version__", "restore"]


def __getattr__(name: str):
    if name in ("restore", "Restoration"):
        from dip_lightning import api

        return getattr(api, name)
    raise AttributeError(f"module 'dip_lightning' has no attribute {name!r}")
