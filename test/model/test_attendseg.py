"""The AttendSeg network: shapes, gradients, attention gating, determinism, paper size targets."""

from __future__ import annotations

import pytest
import torch

from attendseg_ros.model import AttendSeg, create_model, measure
from attendseg_ros.model.blocks import AttentionCondenser
from attendseg_ros.model.complexity import unsupported_ops


@pytest.fixture(scope="module")
def model() -> AttendSeg:
    torch.manual_seed(0)
    return create_model("attendseg_camvid11").eval()


@pytest.mark.parametrize(("batch", "height", "width"), [(1, 64, 64), (2, 96, 128), (1, 100, 150), (3, 72, 200)])
def test_output_shape_and_dtype(model: AttendSeg, batch: int, height: int, width: int) -> None:
    with torch.no_grad():
        out = model(torch.randn(batch, 3, height, width))
    assert out.shape == (batch, 11, height, width)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_camvid_resolution(model: AttendSeg) -> None:
    with torch.no_grad():
        assert model(torch.randn(1, 3, 360, 480)).shape == (1, 11, 360, 480)


@pytest.mark.parametrize("shape", [(1, 3, 32, 64), (1, 1, 96, 96), (3, 96, 96)])
def test_bad_input_is_refused_with_the_size_to_use(model: AttendSeg, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)|>= 64"):
        model(torch.randn(*shape))


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    net = create_model("attendseg_camvid11", num_classes=4).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(2, 3, 64, 96), torch.randint(0, 4, (2, 64, 96))
    # The attention gates start closed (scale 0), so the embeddings receive gradient from the
    # second step on; after one step every parameter must be trained.
    for _ in range(2):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    silent = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert silent == []


def test_attention_condenser_gates_its_input() -> None:
    torch.manual_seed(0)
    condenser = AttentionCondenser(16).eval()
    x = torch.randn(2, 16, 20, 30)
    with torch.no_grad():
        assert torch.equal(condenser(x), x)  # scale 0: identity
        condenser.scale.fill_(1.0)
        gated = condenser(x)
        assert not torch.allclose(gated, x)
        expected = x + x * condenser.attention(x)
        assert torch.allclose(gated, expected)
        condenser.embed[-1][0].weight.mul_(-3.0)  # a different embedding -> a different output
        assert not torch.allclose(condenser(x), gated)


def test_attention_map_is_condensed_then_expanded() -> None:
    condenser = AttentionCondenser(8).eval()
    condenser.scale.data.fill_(1.0)
    with torch.no_grad():
        attention = condenser.attention(torch.randn(1, 8, 10, 14))
    assert attention.shape == (1, 8, 10, 14)
    # nearest expansion of a 2x-condensed map: each 2x2 cell holds one value
    assert torch.equal(attention[..., 0::2, 0::2], attention[..., 1::2, 1::2])


def test_eval_mode_is_deterministic(model: AttendSeg) -> None:
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_paper_size_targets() -> None:
    """Table 1 of the paper at 512x512 with 32 classes: 1.19 M params (+-10 %), 7.45 G MACs (+-15 %)."""
    result = measure(create_model("attendseg"), 512, 512)
    assert abs(result.params - 1.19e6) / 1.19e6 <= 0.10
    assert abs(result.macs - 7.45e9) / 7.45e9 <= 0.15
    assert result.weight_memory_mb_int8 == pytest.approx(1.19, rel=0.10)
    assert result.weight_memory_mb_fp32 == pytest.approx(4 * result.weight_memory_mb_int8)


def test_stem_skip_stays_within_the_paper_size() -> None:
    """Feeding the 1/2 stem feature into the decoder keeps Table 1's budget (+-10 % params, +-15 % MACs)."""
    plain, stem = (
        measure(create_model("attendseg"), 512, 512),
        measure(create_model("attendseg", stem_skip_channels=32), 512, 512),
    )
    assert abs(stem.params - 1.19e6) / 1.19e6 <= 0.10
    assert abs(stem.macs - 7.45e9) / 7.45e9 <= 0.15
    assert 1.0 < stem.macs / plain.macs < 1.06


def test_stem_skip_decoder_reads_the_stem_feature() -> None:
    torch.manual_seed(0)
    plain, stem = create_model("attendseg_camvid11").eval(), create_model("attendseg_camvid11_stem").eval()
    assert plain.refine2 is None and stem.config.stem_skip_channels == 32
    assert stem.head.in_channels == 32 and plain.head.in_channels == plain.config.decoder_channels[1]
    assert unsupported_ops(stem, torch.zeros(1, 3, 64, 64)) == set()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        before = stem(x)
        assert before.shape == (1, 11, 96, 128)
        stem.refine2.skip_adapt[0].weight.zero_()  # cut the 1/2 path: the output must change
        assert not torch.allclose(stem(x), before)


def test_variants_differ_only_in_head() -> None:
    paper, camvid = create_model("attendseg"), create_model("attendseg_camvid11")
    assert paper.num_classes == 32 and camvid.num_classes == 11
    with pytest.raises(ValueError, match="unknown AttendSeg variant"):
        create_model("nope")
