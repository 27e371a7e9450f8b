"""The prepared device check, up to the point where it needs CUDA (issue: the GPU path)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "device"))

import check  # noqa: E402

PROBE_SCRIPT = """
import json, sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
from alignbook.engine import probe
p = probe.install(sys.argv[1])
torch.manual_seed(0)
m = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=4, max_position_embeddings=32))
opt = torch.optim.SGD(m.parameters(), lr=0.1)
ids = torch.randint(0, 64, (2, 8))
for _ in range(3):
    m(input_ids=ids, labels=ids).loss.backward(); opt.step(); opt.zero_grad()
with torch.no_grad():
    m.generate(ids[:, :4], max_new_tokens=2, do_sample=False, pad_token_id=0)
p.maybe_write(True)
"""


def test_the_probe_counts_steps_tokens_and_flops(tmp_path):
    out = tmp_path / "probe.json"
    subprocess.run([sys.executable, "-c", PROBE_SCRIPT, str(out)], check=True, cwd=REPO)
    r = json.loads(out.read_text())
    n = r["model_parameters"]["LlamaForCausalLM"]
    assert r["optimizer_steps"] == 3 and r["train_tokens"] == 3 * 16
    assert r["inference_tokens"] == 2 * 4 + 2 * 1  # the prompt, then one new token per row (with the cache)
    assert r["model_flops"] == 6 * n * 48 + 2 * n * 10
    assert r["device"] == "cpu" and r["mfu"] is None and r["median_step_s"] > 0


def test_the_peak_table_knows_the_lent_gpus():
    assert check.summary  # the module imports without a GPU
    from alignbook.engine.probe import peak_tflops

    assert peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == 989.0
    assert peak_tflops("NVIDIA H200", "bf16") == 989.0 and peak_tflops("cpu", "bf16") is None


def test_every_listed_notebook_asks_for_a_gpu():
    from alignbook.engine import devices
    from alignbook.engine.config import resolve

    listed = check.gpu_notebooks()
    assert listed, "no notebook's gpu profile asks for cuda"
    for name in listed:
        cfg = resolve(REPO / "notebooks" / f"{name}.yaml", "gpu")
        assert any(devices.wants_gpu(v) for v in devices.device_fields(cfg).values())


def test_the_summary_table(tmp_path):
    probe = tmp_path / "out" / "probe"
    probe.mkdir(parents=True)
    (probe / "ch__01_a.json").write_text(json.dumps({
        "device": "NVIDIA H100 80GB HBM3", "optimizer_steps": 40, "median_step_s": 0.25, "tokens_per_s": 900.0,
        "steady_train_tokens_per_s": 1000.0, "achieved_tflops": 1.5, "steady_tflops": 2.0, "mfu": 0.002,
        "peak_memory_gib": 11.2}))
    (tmp_path / "out" / "build" / "gpu").mkdir(parents=True)
    (tmp_path / "out" / "build" / "gpu" / "manifest.json").write_text(json.dumps({"ch/01_a": {"status": "timeout"}}))
    table = check.summary(probe)
    assert "| ch/01_a | NVIDIA H100 80GB HBM3 | 40 | 0.25 | 1e+03 | 2 | 0.002 | 11.2 | timeout |" in table
