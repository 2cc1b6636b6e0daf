"""Checks that need a CUDA device (run by benchmarks/gpu_check.sh on a lent GPU; skipped elsewhere)."""
import pytest
import torch

import stylegan_fast as sf
from tests.tolerances import assert_close

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan1"])
def test_cuda_matches_cpu(arch):
    torch.manual_seed(0)
    G = sf.Generator.from_config(arch=arch, resolution=64, z_dim=64, w_dim=64, channel_base=1024, channel_max=64)
    z = sf.z_from_seeds("0-3", G.z_dim)
    with torch.no_grad():
        ref = G(z, truncation_psi=0.7)
        G.cuda()
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        got = G(z.cuda(), truncation_psi=0.7).cpu()
    assert_close(got, ref, torch.float32, scale=10, msg=f"{arch} cuda vs cpu")


def test_fp16_blocks_on_cuda_close_to_fp32():
    torch.manual_seed(0)
    kw = dict(arch="stylegan2", resolution=64, z_dim=64, w_dim=64, channel_base=1024, channel_max=64)
    G32 = sf.Generator.from_config(**kw).cuda()
    G16 = sf.Generator.from_config(num_fp16_res=2, **kw).cuda()
    G16.load_state_dict(G32.state_dict())
    z = sf.z_from_seeds("0-3", 64).cuda()
    with torch.no_grad():
        ref, got = G32(z), G16(z)
    assert got.dtype == torch.float32
    assert_close(got, ref, torch.float16, scale=5, msg="num_fp16_res=2 vs fp32")
