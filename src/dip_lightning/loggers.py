"""Experiment loggers: W&B runs offline unless the user has an API key, and never prompts."""

import os
from pathlib import Path

from omegaconf import OmegaConf


def wandb_mode() -> str:
    """WANDB_MODE when set; otherwise 'online' if an API key is available (WANDB_API_KEY or a netrc
    entry for api.wandb.ai, as `wandb login` writes), else 'offline' (sync later with `wandb sync`)."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path(os.environ.get("NETRC", "~/.netrc")).expanduser()
    if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return "online"
    return "offline"


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("wandb_mode"):
        OmegaConf.register_new_resolver("wandb_mode", wandb_mode)
