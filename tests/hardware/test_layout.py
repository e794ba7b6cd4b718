"""prior.memory_format=auto: the decision is a pure function of the hardware facts and the precision,
driven here with fake ones; a step in channels_last computes what the contiguous fp32 step does."""

import json
import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY_NET

from dip_lightning.build import build_module
from dip_lightning.config.schema import check_config
from dip_lightning.errors import InputError
from dip_lightning.hardware import layout
from dip_lightning.hardware.layout import choose_memory_format, torch_format
from dip_lightning.hardware.precision import HardwareFacts
from dip_lightning.nets.layers import Concat, ReflectionPad
from dip_lightning.train import run

TINY = [
    "image.max_size=32",
    *TINY_NET,
    "task.num_iter=3",
    "threads=1",
]
CHANNELS_LAST = torch.channels_last
ZEN4 = HardwareFacts("AMD EPYC", "AVX512", cpu_bf16_instructions=True, mkldnn_bf16=True)
SKYLAKE = HardwareFacts("Xeon", "AVX512", cpu_bf16_instructions=False, mkldnn_bf16=True)  # oneDNN emulates bf16
ZEN2 = HardwareFacts("AMD EPYC", "AVX2", cpu_bf16_instructions=False, mkldnn_bf16=False)
OLD_TORCH_AVX2 = HardwareFacts("CPU", "AVX2", cpu_bf16_instructions=None, mkldnn_bf16=False)
A100 = HardwareFacts("NVIDIA A100", cuda_bf16=True)


@pytest.mark.parametrize(
    "accelerator, precision, facts, expected, words",
    [
        ("cpu", "bf16-mixed", ZEN4, "channels_last", "bf16 convolutions prefer NHWC"),
        ("cpu", "bf16-true", ZEN4, "channels_last", "AVX512"),
        ("cpu", "bf16-mixed", SKYLAKE, "contiguous", "bf16 is emulated"),
        ("cpu", "bf16-mixed", ZEN2, "contiguous", "bf16 is emulated"),
        ("cpu", "32-true", ZEN4, "channels_last", "AVX-512 convolutions are faster"),
        ("cpu", "32-true", SKYLAKE, "channels_last", "AVX-512 convolutions are faster"),
        ("cpu", "32-true", ZEN2, "contiguous", "AVX2 convolutions are slower"),
        ("cpu", 32, OLD_TORCH_AVX2, "contiguous", "AVX2"),
        ("cpu", "32-true", HardwareFacts("CPU", "DEFAULT"), "contiguous", "DEFAULT"),
        ("cpu", "16-mixed", ZEN4, "contiguous", "torch.float16 is not measured"),
        ("cuda", "bf16-mixed", A100, "contiguous", "not measured on cuda"),
        ("mps", "32-true", ZEN4, "contiguous", "not measured on mps"),
    ],
)
def test_auto_picks_channels_last_where_it_was_measured_faster(accelerator, precision, facts, expected, words):
    choice = choose_memory_format("auto", accelerator, precision, facts)
    assert choice.memory_format == expected
    assert choice.reason.startswith(f"prior.memory_format=auto chose {expected}: ") and words in choice.reason
    assert "\n" not in choice.reason


@pytest.mark.parametrize("requested", ["channels_last", "contiguous"])
def test_an_explicit_memory_format_passes_through_unchanged(requested):
    for accelerator, facts in (("cpu", ZEN2), ("cuda", A100)):
        choice = choose_memory_format(requested, accelerator, "bf16-mixed", facts)
        assert choice == (requested, f"prior.memory_format={requested} as configured")


def test_batched_restarts_run_contiguous_and_refuse_channels_last():
    choice = choose_memory_format("auto", "cpu", "bf16-mixed", ZEN4, batched_restarts=True)
    assert choice[0] == "contiguous"
    assert choice[1].startswith("prior.memory_format=auto chose contiguous: batched restarts run in NCHW (their")
    assert choose_memory_format("contiguous", "cpu", "bf16-mixed", ZEN4, batched_restarts=True)[0] == "contiguous"
    with pytest.raises(InputError, match="channels_last does not combine with batched restarts"):
        choose_memory_format("channels_last", "cpu", "bf16-mixed", ZEN4, batched_restarts=True)


def test_batched_restarts_are_built_contiguous_whatever_they_are_given(configure):
    cfg = configure(*TINY, "restarts=2", "restarts_batched=true")
    stacked = build_module(cfg, memory_format=CHANNELS_LAST).prior.stacked
    assert all(p.is_contiguous() for p in stacked.values())
    in_turn = build_module(configure(*TINY, "restarts=2", "restarts_batched=false"), memory_format=CHANNELS_LAST)
    assert all(prior.z.is_contiguous(memory_format=CHANNELS_LAST) for prior in in_turn.prior.priors)


def test_the_choice_is_logged_and_named_for_torch(monkeypatch, caplog):
    monkeypatch.setattr(layout, "hardware_facts", lambda accelerator: ZEN4)
    with caplog.at_level(logging.INFO, logger="dip_lightning.hardware.layout"):
        assert layout.resolve_memory_format("auto", "cpu", "bf16-mixed") == "channels_last"
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert caplog.records[0].getMessage().startswith("prior.memory_format=auto chose channels_last")
    assert torch_format("channels_last") is CHANNELS_LAST and torch_format("contiguous") is torch.contiguous_format


def test_a_misspelt_memory_format_is_refused_in_one_line(configure):
    with pytest.raises(InputError) as error:
        check_config(configure("prior.memory_format=nhwc"))
    assert str(error.value) == "prior.memory_format must be auto | channels_last | contiguous, got 'nhwc'"


def forward_backward(module, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The network's output and the gradient of the module's data term (all parameters in one vector), in
    `dtype` (bf16: under autocast, as bf16-mixed runs it)."""
    prior = module.prior
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        output = prior(prior.z)
    F.mse_loss(output.float(), module.observed).backward()
    return output.detach(), torch.cat([p.grad.flatten() for p in prior.parameters()])


def test_every_layer_of_the_skip_network_keeps_channels_last(configure):
    module = build_module(configure(*TINY), memory_format=CHANNELS_LAST)
    net, z = module.prior.net, module.prior.z
    assert z.is_contiguous(memory_format=CHANNELS_LAST) and not z.is_contiguous()
    kept, lost = [], []

    def note(layer, inputs, output):
        (kept if output.is_contiguous(memory_format=CHANNELS_LAST) else lost).append(type(layer).__name__)

    for layer in net.modules():
        if not list(layer.children()):
            layer.register_forward_hook(note)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = net(z)
    output.float().mean().backward()
    assert lost == []
    assert {"Conv2d", "BatchNorm2d", "LeakyReLU", "ReflectionPad", "Upsample", "Sigmoid"} <= set(kept)
    weights = [p for p in net.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=CHANNELS_LAST) for p in weights)
    assert all(p.grad.is_contiguous(memory_format=CHANNELS_LAST) for p in weights)


def test_reflection_padding_stays_in_bf16_under_autocast_with_the_same_values():
    """Autocast pads in float32 (two casts around every padded convolution); the network's padding keeps
    its input's dtype and layout, pads exactly as torch's, and passes gradients back within bf16 rounding
    (it sums the two gradients of a reflected border pixel in bf16)."""
    x = torch.randn(2, 8, 12, 12).to(torch.bfloat16).contiguous(memory_format=CHANNELS_LAST).requires_grad_()
    reference = x.detach().clone().requires_grad_()
    weights = torch.randn(2, 8, 14, 14)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        padded, padded_by_torch = ReflectionPad(1)(x), torch.nn.ReflectionPad2d(1)(reference)
    assert padded.dtype == torch.bfloat16 and padded_by_torch.dtype == torch.float32
    assert padded.is_contiguous(memory_format=CHANNELS_LAST)
    torch.testing.assert_close(padded.float(), padded_by_torch, rtol=0, atol=0)
    (padded.float() * weights).sum().backward()
    (padded_by_torch * weights).sum().backward()
    error = (x.grad.float() - reference.grad.float()).norm() / reference.grad.float().norm()
    assert x.grad.dtype == torch.bfloat16 and error < 2**-8


@pytest.mark.parametrize("memory_format", [CHANNELS_LAST, torch.contiguous_format])
def test_the_concatenation_hands_each_input_its_gradient_in_the_inputs_layout(memory_format):
    """torch.cat gives each input a channel slice of its output's gradient; in channels_last the network's
    concatenation copies it into channels_last (the upsampling's backward is 8x slower on the slice), with
    the same values. Inputs of different sizes are centre-cropped as before."""

    def gradients_arriving(concatenate) -> list[torch.Tensor]:
        leaves = [torch.randn(1, 4, 10, 10), torch.randn(1, 6, 11, 11)]
        inputs = [(leaf.contiguous(memory_format=memory_format).requires_grad_() * 2) for leaf in leaves]
        joined = concatenate(inputs)
        arrived = [None, None]
        for i, tensor in enumerate(inputs):  # registered after the concatenation's own hooks: sees what they hand on
            tensor.register_hook(lambda gradient, i=i: arrived.__setitem__(i, gradient))
        joined.backward(weights)
        return arrived

    weights = torch.randn(1, 10, 10, 10).contiguous(memory_format=memory_format)
    network, plain = (
        gradients_arriving(Concat()),
        gradients_arriving(lambda t: torch.cat([t[0], t[1][..., :10, :10]], 1)),
    )
    assert network[0].shape == (1, 4, 10, 10) and network[1].shape == (1, 6, 11, 11)
    assert torch.equal(network[0], weights[:, :4]) and torch.equal(network[1][..., :10, :10], weights[:, 4:])
    assert network[0].is_contiguous(memory_format=memory_format)
    assert plain[0].is_contiguous(memory_format=memory_format) == (memory_format != CHANNELS_LAST)


def test_a_step_in_channels_last_computes_what_the_contiguous_fp32_step_does(configure):
    cfg = configure(*TINY)
    output, gradient = forward_backward(build_module(cfg), torch.float32)
    for dtype, atol, rtol in ((torch.float32, 1e-5, 1e-4), (torch.bfloat16, 0.02, 0.15)):
        module = build_module(cfg, dtype, memory_format=CHANNELS_LAST)
        assert module.prior.z.is_contiguous(memory_format=CHANNELS_LAST)
        output_cl, gradient_cl = forward_backward(module, dtype)
        assert output_cl.dtype == dtype and output_cl.is_contiguous(memory_format=CHANNELS_LAST)
        torch.testing.assert_close(output_cl.float(), output, rtol=0, atol=atol, msg=f"the output in {dtype}")
        error = ((gradient_cl - gradient).norm() / gradient.norm()).item()
        assert error < rtol, f"the gradient in {dtype} is {error:.2g} off"
    assert gradient.norm() > 0 and output.std() > 0.01  # a network whose output and gradient say something


def test_a_run_records_its_memory_format(configure, caplog):
    cfg = configure(*TINY, "trainer.precision=32-true", "prior.memory_format=channels_last")
    with caplog.at_level(logging.INFO, logger="dip_lightning.hardware.layout"):
        results = run(cfg)
    assert results["status"] == "finished" and results["steps"] == 3
    assert json.loads((Path(cfg.output_dir) / "results.json").read_text())["memory_format"] == "channels_last"
    assert "prior.memory_format=channels_last as configured" in caplog.text


def test_lbfgs_runs_contiguous_and_refuses_channels_last():
    assert choose_memory_format("auto", "cpu", "bf16-mixed", ZEN4, flat_optimizer=True)[0] == "contiguous"
    with pytest.raises(InputError, match="does not combine with optimizer=lbfgs"):
        choose_memory_format("channels_last", "cpu", "bf16-mixed", ZEN4, flat_optimizer=True)
