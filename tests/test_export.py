import numpy as np
import pytest
import torch

from wavecross.cli import main
from wavecross.nn import WaveCross

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.mark.slow
def test_onnx_export_matches_pytorch_at_several_sizes(tmp_path, tiny_weights, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", "--format", "onnx", "-o", str(out), "--weights", str(tiny_weights)]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["ir", "vis"]
    model = WaveCross.load(tiny_weights).eval()
    gen = torch.Generator().manual_seed(0)
    for h, w in ((96, 128), (64, 64), (75, 131), (240, 320)):
        ir, vis = torch.rand(1, 1, h, w, generator=gen), torch.rand(1, 1, h, w, generator=gen)
        got = session.run(None, {"ir": ir.numpy(), "vis": vis.numpy()})[0]
        with torch.no_grad():
            want = model(ir, vis).numpy()
        assert got.shape == (1, 1, h, w)
        assert np.abs(got - want).max() < 1e-3
    # an existing file is not replaced silently
    assert main(["export", "-o", str(out), "--weights", str(tiny_weights)]) == 2
    assert "already exists" in capsys.readouterr().err
