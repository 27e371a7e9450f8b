"""One device policy, and a stand-in GPU that catches a tensor on the wrong device without a GPU
(issue: the GPU path, checked without a GPU)."""

import pytest
import torch

from alignbook.engine import devices, standin
from alignbook.engine.config import ConfigError


def tiny_llama(device):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return LlamaForCausalLM(cfg).to(device)


def generate_then_train(device):
    model = tiny_llama(device)
    ids = torch.randint(3, 100, (2, 16)).to(device)
    out = model.generate(ids[:, :4], max_new_tokens=5, do_sample=False, pad_token_id=0)
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    torch.optim.AdamW(model.parameters(), lr=1e-3).step()  # on a GPU, AdamW takes its foreach path
    grads = {p.grad.device for p in model.parameters() if p.grad is not None}
    return loss.item(), out.cpu().tolist(), out.device, next(model.parameters()).device, grads


def test_the_stand_in_computes_the_cpu_numbers_on_cuda():
    cpu = generate_then_train("cpu")
    with standin.stand_in_gpu():
        gpu = generate_then_train("cuda")
    assert gpu[:2] == cpu[:2]  # greedy generation and a training loss, bit for bit
    assert gpu[2] == gpu[3] == torch.device("cuda", 0) and gpu[4] == {torch.device("cuda", 0)}
    assert cpu[3] == torch.device("cpu")


def llama_gradients(device, length, seed):
    """Every weight's gradient (None where it got none) of a tiny Llama's loss on random ids, on ``device``."""
    model = tiny_llama(device)
    ids = torch.randint(3, 100, (2, length), generator=torch.Generator().manual_seed(seed)).to(device)
    model(input_ids=ids, labels=ids).loss.backward()
    return {n: None if p.grad is None else p.grad.cpu() for n, p in model.named_parameters()}


def test_a_cast_on_the_stand_in_keeps_the_gradient_flowing():
    """``.to(dtype)`` on a stand-in (Llama's RMSNorm does it twice) stays in the autograd graph: every weight of a
    tiny Llama gets the CPU's gradient, not only those after the last norm."""
    def grads(device):
        return llama_gradients(device, length=8, seed=1)

    cpu = grads("cpu")
    with standin.stand_in_gpu():
        w = torch.nn.Parameter(torch.ones(3).to("cuda"))
        (w * 2).to(torch.float64).sum().backward()
        assert w.grad.cpu().tolist() == [2.0, 2.0, 2.0] and (w * 1).to(torch.float32).dtype == torch.float32
        gpu = grads("cuda")
    assert all(g is not None for g in gpu.values()) and gpu.keys() == cpu.keys()
    assert all(torch.equal(gpu[n], cpu[n]) for n in cpu)


def test_the_stand_in_refuses_a_cpu_batch_for_a_cuda_model_as_a_gpu_would():
    with standin.stand_in_gpu():
        model = tiny_llama("cuda")
        with pytest.raises(standin.DeviceMix, match="same device"):
            model(input_ids=torch.randint(3, 100, (2, 8)))
        scale = torch.tensor(2.0)  # a 0-dim CPU tensor beside a GPU one is fine on CUDA too
        assert (model.lm_head.weight * scale).device.type == "cuda"


def test_a_cpu_tensor_handed_to_a_collective_is_refused():
    with standin.stand_in_gpu(world_size=2):
        assert torch.distributed.is_initialized()
        torch.distributed.all_reduce(torch.ones(1, device="cuda"))
        with pytest.raises(standin.DeviceMix, match="NCCL"):
            torch.distributed.all_reduce(torch.ones(1))


def test_the_engines_metric_average_stays_on_the_models_device():
    """all_reduce_mean made its tensor on the CPU: NCCL rejects that on a GPU node (issue: the paper profile)."""
    from alignbook.engine.distributed import wrap

    with standin.stand_in_gpu(world_size=2):
        engine = wrap(tiny_llama("cuda"), lr=1e-3)
        assert engine.all_reduce_mean(3.0) == pytest.approx(1.5)  # the stand-in sums over one rank; world 2


def test_resolve_refuses_a_gpu_that_is_not_there(monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", lambda: 0)
    with pytest.raises(devices.DeviceUnavailable, match="no GPU is visible.*-p device=cpu"):
        devices.resolve("cuda")
    assert devices.resolve("cpu") == torch.device("cpu")
    monkeypatch.setattr(devices, "visible_gpus", lambda: 2)
    assert devices.resolve("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(devices.DeviceUnavailable, match=r"cuda:0 \.\. cuda:1"):
        devices.resolve("cuda:2")


def test_auto_says_once_which_device_it_chose(monkeypatch, capsys):
    monkeypatch.setattr(devices, "visible_gpus", lambda: 0)
    monkeypatch.setattr(devices, "_SAID", set())
    assert devices.resolve("auto") == torch.device("cpu")
    devices.resolve("auto")
    assert capsys.readouterr().err.count("no GPU is visible, so the CPU") == 1


def test_device_fields_accept_cuda_n_and_refuse_others():
    import dataclasses

    from alignbook.engine.config import BaseConfig, build_config

    @dataclasses.dataclass(frozen=True)
    class WithDevice(BaseConfig):
        device: devices.Device = "cpu"
        """Where it runs."""

    assert build_config(WithDevice, [("-p overrides", {"device": "cuda:1"})]).device == "cuda:1"
    with pytest.raises(ConfigError, match="'cuda:N'"):
        build_config(WithDevice, [("-p overrides", {"device": "gpu"})])
    cfg = build_config(WithDevice, [("-p overrides", {"device": "cuda"})])
    assert devices.device_fields(cfg) == {"device": "cuda"}


def test_autocast_refuses_fp16_on_the_cpu():
    with devices.autocast("cpu", "bf16"):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    with pytest.raises(ConfigError, match="fp16"):
        with devices.autocast("cpu", "fp16"):
            pass


def test_a_gpu_profile_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys):
    """Exit 2 within seconds, one line naming the notebook, the field and the fix; nothing executed."""
    import time

    import yaml
    from notebook_factory import write_notebook

    from alignbook.engine import cli

    monkeypatch.setenv("ALIGNBOOK_ROOT", str(tmp_path))
    monkeypatch.delenv("ALIGNBOOK_BUILD", raising=False)
    monkeypatch.setattr(devices, "visible_gpus", lambda: 0)
    write_notebook(tmp_path, "ch/01_a", "x = 1", {"config": "alignbook.baichuan2.stability:StabilityConfig",
                                                  "profiles": {"gpu": {"device": "cuda"}}})
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": "index",
                                                               "chapters": [{"file": "_executed/ch/01_a"}]}))
    start = time.monotonic()
    assert cli.main(["run", "ch/01_a", "--profile", "gpu", "--no-progress"]) == 2
    assert time.monotonic() - start < 15
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ch/01_a" in err and "device=cuda" in err and "--profile smoke" in err
    assert "-p device=cpu" in err and not (tmp_path / "build" / "gpu" / "notebooks").exists()


def clamp_where_chunk_onehot_quantile(device):
    """Ops whose C++ composite or gradient allocates from its input's options (a data-less meta tensor
    under the stand-in before its allocation mode)."""
    torch.manual_seed(0)
    x = torch.randn(6, 4).to(device).requires_grad_(True)
    a, b = x.chunk(2, -1)
    y = (torch.clamp(a, min=0.1).sum() + b.clamp(-0.5, 0.5).sum() + torch.where(x > 0, x, 2 * x).sum()
         + torch.cumprod(x.sigmoid(), 0).sum())
    y.backward()
    hot = torch.nn.functional.one_hot(torch.tensor([0, 2, 1]).to(device), 3)
    ids = torch.zeros(2, 3, dtype=torch.bool).to(device)
    ids[:, 0] = True
    q = torch.quantile(x.detach().flatten(), 0.05).item()
    return y.item(), x.grad.cpu().tolist(), hot.cpu().tolist(), ids.cpu().tolist(), q, x.grad.device, hot.device


def test_allocations_inside_composites_and_gradients_stay_on_the_stand_in():
    cpu = clamp_where_chunk_onehot_quantile("cpu")
    with standin.stand_in_gpu():
        gpu = clamp_where_chunk_onehot_quantile("cuda")
        assert torch.empty(2, device="meta").is_meta  # a meta tensor asked for by name stays one
    assert gpu[:5] == cpu[:5]
    assert gpu[5] == gpu[6] == torch.device("cuda", 0)


def test_the_stand_in_trains_every_weight_as_the_cpu_does():
    """A Llama's RMSNorm casts its input with ``.to(torch.float32)``: the stand-in once answered that with a
    fresh wrapper, which cut the graph, so every weight below the final norm got no gradient and training on
    the stand-in ran on other numbers than the CPU's."""
    def gradients(device):
        return llama_gradients(device, length=16, seed=0)

    cpu = gradients("cpu")
    with standin.stand_in_gpu():
        gpu = gradients("cuda")
        cast = torch.ones(2, device="cuda").requires_grad_()
        assert cast.to(torch.float32) is cast and cast.to(torch.float64).grad_fn is not None
    assert all(gpu[n] is not None and torch.equal(gpu[n], cpu[n]) for n in cpu)


def test_gradients_through_clamp_and_where_on_the_stand_in():
    """Their gradient formulas make a scalar from the stand-in's options (PPO's ratio and value clips)."""
    def gradient(device, op):
        x = torch.linspace(0.0, 1.0, 6).reshape(2, 3).to(device).requires_grad_()
        op(x).sum().backward()
        return x.grad.cpu()

    for op in (lambda x: x.clamp(0.2, 0.8), lambda x: torch.where(x > 0.5, x * 3, x)):
        cpu = gradient("cpu", op)
        with standin.stand_in_gpu():
            gpu = gradient("cuda", op)
        assert torch.equal(gpu, cpu)


def test_a_tied_embedding_stays_tied_on_the_stand_in():
    """SmolLM2 and the Aligner's tiny models tie the LM head to the input embedding. Moving them onto the
    stand-in once made two weights of one (torch makes a new Parameter per module for a subclass), so they
    trained apart after the first step, unlike on a GPU."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    before = len(list(model.parameters()))
    with standin.stand_in_gpu():
        moved = model.to("cuda")
        assert moved.lm_head.weight is moved.model.embed_tokens.weight
        assert len(list(moved.parameters())) == before and standin.on_gpu(moved.lm_head.weight)
