"""trainer.precision=auto: the decision is a pure function of the hardware facts, driven here with fake ones."""

import logging

import pytest
import torch

from dip_lightning.errors import InputError
from dip_lightning.hardware import precision
from dip_lightning.hardware.device import check_accelerator
from dip_lightning.hardware.precision import HardwareFacts, choose_precision, compute_dtype, hardware_facts

ZEN4 = HardwareFacts("AMD EPYC", "AVX512", cpu_bf16_instructions=True, mkldnn_bf16=True)
SAPPHIRE_RAPIDS = HardwareFacts("Xeon", "AVX512", cpu_bf16_instructions=True, cpu_amx=True, mkldnn_bf16=True)
SKYLAKE = HardwareFacts("Xeon", "AVX512", cpu_bf16_instructions=False, mkldnn_bf16=True)  # oneDNN emulates bf16
ZEN2 = HardwareFacts("AMD EPYC", "AVX2", cpu_bf16_instructions=False, mkldnn_bf16=False)
OLD_TORCH_AVX512 = HardwareFacts("CPU", "AVX512", cpu_bf16_instructions=None, mkldnn_bf16=True)
OLD_TORCH_AVX2 = HardwareFacts("CPU", "AVX2", cpu_bf16_instructions=None, mkldnn_bf16=False)
A100 = HardwareFacts("NVIDIA A100", cuda_bf16=True)
V100 = HardwareFacts("Tesla V100", cuda_bf16=False)


@pytest.mark.parametrize(
    "accelerator, facts, expected, words",
    [
        ("cpu", ZEN4, "bf16-mixed", "native bf16"),
        ("cpu", SAPPHIRE_RAPIDS, "bf16-mixed", "AMX"),
        ("cpu", SKYLAKE, "32-true", "no native bf16"),
        ("cpu", ZEN2, "32-true", "no native bf16"),
        ("cpu", OLD_TORCH_AVX512, "bf16-mixed", "native bf16"),
        ("cpu", OLD_TORCH_AVX2, "32-true", "no native bf16"),
        ("cuda", A100, "bf16-mixed", "A100 has native bf16"),
        ("cuda", V100, "32-true", "V100 has no native bf16"),
        ("mps", HardwareFacts("Apple M2"), "32-true", "mps"),
    ],
)
def test_auto_picks_bf16_only_where_it_is_native(accelerator, facts, expected, words):
    choice = choose_precision("auto", accelerator, facts)
    assert choice.precision == expected
    assert choice.reason.startswith(f"trainer.precision=auto chose {expected}") and words in choice.reason
    assert not choice.slow and "\n" not in choice.reason


@pytest.mark.parametrize("requested", ["32-true", 32, "16-mixed", "bf16-mixed", "bf16-true"])
def test_an_explicit_precision_passes_through_unchanged(requested):
    assert choose_precision(requested, "cpu", ZEN4) == (
        requested,
        f"trainer.precision={requested} as configured",
        False,
    )


@pytest.mark.parametrize("requested", ["bf16-mixed", "bf16-true"])
@pytest.mark.parametrize("accelerator, facts", [("cpu", ZEN2), ("cpu", SKYLAKE), ("cuda", V100)])
def test_explicit_bf16_without_native_bf16_is_kept_but_flagged_slow(requested, accelerator, facts):
    choice = choose_precision(requested, accelerator, facts)
    assert choice.precision == requested and choice.slow
    assert "32-true is faster" in choice.reason


def test_resolve_precision_logs_a_warning_for_slow_bf16(monkeypatch, caplog):
    monkeypatch.setattr(precision, "hardware_facts", lambda accelerator: ZEN2)
    with caplog.at_level(logging.INFO, logger="dip_lightning.hardware.precision"):
        assert precision.resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"
        assert precision.resolve_precision("auto", "cpu") == "32-true"
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "AVX2" in caplog.records[0].getMessage()


def test_auto_and_gpu_accelerators_resolve_to_the_device_lightning_uses(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert precision.resolve_accelerator("auto") == "cpu"
    assert precision.resolve_accelerator("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert precision.resolve_accelerator("auto") == precision.resolve_accelerator("gpu") == "cuda"


def test_the_facts_of_this_cpu_are_torchs():
    facts = hardware_facts("cpu")
    assert facts.cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert facts.mkldnn_bf16 == torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert not facts.cuda_bf16


@pytest.mark.parametrize(
    "setting, dtype",
    [
        ("bf16-mixed", torch.bfloat16),
        ("bf16-true", torch.bfloat16),
        ("16-mixed", torch.float16),
        ("32-true", torch.float32),
        (32, torch.float32),
    ],
)
def test_compute_dtype(setting, dtype):
    assert compute_dtype(setting) == dtype


# ----- trainer.accelerator: a device the machine does not have ------------------------------------------
@pytest.fixture
def no_gpu(monkeypatch):
    """A machine with neither CUDA nor MPS, whatever this one has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.mark.parametrize("accelerator", ["auto", "cpu"])
def test_auto_and_cpu_run_on_any_machine(no_gpu, accelerator):
    check_accelerator(accelerator)


@pytest.mark.parametrize("accelerator", ["gpu", "cuda"])
def test_a_cuda_gpu_on_a_cpu_build_of_torch_is_one_line_that_says_so(no_gpu, monkeypatch, accelerator):
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None)
    with pytest.raises(InputError) as refused:
        check_accelerator(accelerator)
    message = str(refused.value)
    assert message.startswith(f"trainer.accelerator={accelerator} asks for a CUDA GPU, but torch sees none")
    assert f"torch {torch.__version__} is a CPU build" in message
    assert message.endswith("use trainer.accelerator=auto or cpu") and "\n" not in message


def test_a_cuda_build_without_a_visible_device_says_so(no_gpu, monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(
        InputError, match=r"is built for CUDA 12\.4; no CUDA device is visible with CUDA_VISIBLE_DEVICES=''"
    ):
        check_accelerator("gpu")


def test_mps_without_an_apple_gpu_is_one_line(no_gpu):
    with pytest.raises(
        InputError, match="trainer.accelerator=mps .* this machine has no Apple MPS device.*: use trainer"
    ):
        check_accelerator("mps")


def test_gpu_is_served_by_cuda_or_by_apples_mps(no_gpu, monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    check_accelerator("gpu")
    check_accelerator("mps")
    with pytest.raises(InputError, match="asks for a CUDA GPU"):
        check_accelerator("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_accelerator("cuda")


def test_other_accelerators_are_asked_of_lightning():
    from pytorch_lightning.accelerators import XLAAccelerator

    if not XLAAccelerator.is_available():
        with pytest.raises(InputError, match="trainer.accelerator=tpu asks for a TPU device, but Lightning's XLA"):
            check_accelerator("tpu")
    with pytest.raises(InputError, match="trainer.accelerator=abacus is not an accelerator Lightning knows: one of "):
        check_accelerator("abacus")


def test_no_cuda_device_reads_as_a_sentence(no_gpu):
    choice = choose_precision("auto", "cuda", hardware_facts("cuda"))
    assert (
        choice.reason == "trainer.precision=auto chose 32-true: no CUDA device is visible to torch, so no native bf16"
    )
