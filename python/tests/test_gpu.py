"""The GPU against the CPU through the package. Skipped, with the library's reason, where
no GPU is usable; CUFACTOR_LIBRARY=<a CUFACTOR_GPU_SIM build>/libcufactor.so runs them on
the CPU simulation of the GPU (scripts/python_test.sh does when asked)."""

import numpy as np
import pytest

import cufactor
from conftest import Planted

_INFO = cufactor.device_info()
pytestmark = pytest.mark.skipif(not _INFO["gpu"], reason=f"no usable GPU: {_INFO['reason']}")


@pytest.fixture(scope="module")
def small():
    # small enough for the simulation (every GPU thread is a fiber on the CPU)
    return Planted(n_users=80, n_items=50, rank=3, density=0.4, sigma=0.1, seed=4)


@pytest.mark.parametrize("cls, kw", [(cufactor.ALS, {}), (cufactor.ALS, {"solver": "fused"}),
                                     (cufactor.ALS, {"gram": "tc"}),
                                     (cufactor.SGD, {"schedule": "blocks", "blocks": 4})])
def test_gpu_agrees_with_the_cpu(small, cls, kw):
    # The GPU computes in fp32 where the CPU reference uses double; `cufactor verify`'s
    # measured worst row difference on an H200 was 2.4e-4 relative (its ceiling 1e-2). The
    # predictions of the two, after 5 iterations from the same initial factors, must agree
    # to 1e-3 relative (rating scale ~3.5: about 0.004), and the held-out RMSEs to 1 %.
    args = dict(factors=3, iterations=5, regularization=0.05, seed=9, **kw)
    gpu = cls(device="gpu", **args).fit(small.train)
    cpu = cls(device="cpu", **args).fit(small.train)
    assert gpu.device_ != cpu.device_ and gpu.notice_ is None
    np.testing.assert_array_equal(gpu.user_ids_, cpu.user_ids_)
    u, i, _ = small.test
    np.testing.assert_allclose(gpu.predict(u, i), cpu.predict(u, i), rtol=1e-3)
    assert gpu.rmse(small.test) == pytest.approx(cpu.rmse(small.test), rel=1e-2)


def test_auto_takes_the_gpu(small):
    m = cufactor.ALS(factors=3, iterations=1).fit(small.train)
    assert m.device_ != "cpu" and not m.device_.startswith("cpu") and m.notice_ is None
