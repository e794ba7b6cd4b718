"""The networks of the deep prior; what each must declare: contract.Network."""

from dip_lightning.nets.contract import Network

__all__ = ["Network"]
