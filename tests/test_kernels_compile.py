"""The CUDA sources of ``nnscratch/kernels`` compile, without a GPU.

CuPy compiles each ``.cu`` file with NVRTC on first use, on the device
machine; a syntax error would only show there. Here ``nvcc`` (found on the
PATH; the tests skip without it) builds, for each source, the very
instantiations the loader asks NVRTC for (``build.name_expressions``) down to
an sm_90 (H100/H200) cubin, so ptxas runs too, with every warning an error.
The other tests check that ``build.KERNELS`` lists exactly the kernels the
files define, and that the Python side agrees with the sources' constants.
"""
import re
import shutil
import subprocess

import pytest

from nnscratch.kernels import build, cross_entropy

NVCC = shutil.which("nvcc")
ARCH = "sm_90"
TEMPLATE_KERNEL = re.compile(r"template <typename T>\s*__global__ void (\w+)\(")


def test_every_source_file_is_listed():
    assert sorted(p.name for p in build.FOLDER.glob("*.cu")) == sorted(build.KERNELS)


@pytest.mark.parametrize("source", sorted(build.KERNELS))
def test_listed_kernels_are_the_ones_defined(source):
    text = (build.FOLDER / source).read_text()
    assert tuple(TEMPLATE_KERNEL.findall(text)) == build.KERNELS[source]
    assert text.count("__global__") == len(build.KERNELS[source])  # no kernel outside a template


def test_cross_entropy_block_limit_matches_the_source():
    text = (build.FOLDER / cross_entropy.SOURCE).read_text()
    assert re.search(r"#define MAX_THREADS (\d+)", text).group(1) == str(cross_entropy.MAX_THREADS)
    assert cross_entropy.forward_threads(5) == 32
    assert cross_entropy.forward_threads(100) == 128
    assert cross_entropy.forward_threads(10_000) == cross_entropy.MAX_THREADS


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on the PATH")
@pytest.mark.parametrize("source", sorted(build.KERNELS))
def test_source_compiles_with_nvcc(source, tmp_path):
    kernels = ", ".join(f"(void*)&{name}" for name in build.name_expressions(source))
    wrapper = tmp_path / f"instantiate_{source}"
    wrapper.write_text(f'#include "{build.FOLDER / source}"\n'
                       f"void* instantiated[] = {{{kernels}}};\n")
    command = [NVCC, "-cubin", f"-arch={ARCH}", "-std=c++17", "--Werror", "all-warnings",
               "-o", str(tmp_path / "kernels.cubin"), str(wrapper)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}{result.stderr}"
    assert (tmp_path / "kernels.cubin").stat().st_size > 0
