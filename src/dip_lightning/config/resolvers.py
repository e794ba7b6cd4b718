"""The OmegaConf resolvers the configs use: ${wandb_mode:}, ${run_stamp:}, ${job_dirname:...},
${run_group:...}, ${run_name:...}, ${image_name:...}, ${dataset_files:FOLDER}, and the folder sweep's
${sweep_mode:...}, ${folder_sweep:...} and the sweep's ${sweep_params:...} (a folder's photos, a photo's tiles)."""

from omegaconf import OmegaConf

from dip_lightning.data.folders import dataset_files, folder_sweep, sweep_mode, sweep_params
from dip_lightning.run.folder import image_name, job_dirname, run_group, run_name, run_stamp
from dip_lightning.run.wandb_logger import wandb_mode


def register_resolvers() -> None:
    resolvers = {
        "wandb_mode": wandb_mode,
        "run_stamp": run_stamp,
        "job_dirname": job_dirname,
        "run_group": run_group,
        "run_name": run_name,
        "image_name": image_name,
        "dataset_files": dataset_files,
        "folder_sweep": folder_sweep,
        "sweep_params": sweep_params,
        "sweep_mode": sweep_mode,
    }
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver, use_cache=True)
