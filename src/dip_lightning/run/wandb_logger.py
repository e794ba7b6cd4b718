"""Experiment loggers: W&B runs offline unless the user has an API key and the server answers, and
never prompts or hangs."""

import logging
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from pytorch_lightning.loggers import WandbLogger

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 3.0  # seconds to wait for the W&B server before running offline


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", "~/.netrc")).expanduser()
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def _server_answers() -> bool:
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=CONNECT_TIMEOUT):
            return True
    except OSError:
        return False


def wandb_mode() -> str:
    """WANDB_MODE when set; otherwise 'online' if an API key is available (WANDB_API_KEY or a netrc
    entry for api.wandb.ai, as `wandb login` writes) and the server answers within a few seconds, else
    'offline' (sync later with `make wandb-sync` or `wandb sync`)."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if not _has_api_key():
        return "offline"
    if not _server_answers():
        log.warning("W&B: an API key is set but the server does not answer: logging offline (sync later)")
        return "offline"
    return "online"


class QuietWandbLogger(WandbLogger):
    """Lightning's W&B logger without the `anonymous` argument it always passes, which W&B 0.31 no
    longer knows and warns about at every run."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._wandb_init.pop("anonymous", None)
