"""A stand-in GPU for tests on a machine without one: real numbers, CUDA's placement rules.

Inside ``with stand_in_gpu():`` torch behaves, for placement, as if ``cuda:0`` existed:
``torch.cuda.is_available()`` is true, ``model.to("cuda")``, ``tensor.cuda()`` and ``torch.zeros(...,
device="cuda")`` make :class:`StandIn` tensors, whose ``.device`` is ``cuda:0``, and an operation that
mixes one with a CPU tensor (other than a 0-dim scalar, as CUDA allows) raises :class:`DeviceMix`, the
error a GPU would raise ("expected all tensors to be on the same device"). Every stand-in holds real
CPU data, so training steps, ``.item()``, generation and ``.cpu().numpy()`` compute the same numbers
as on the CPU: a trainer run under it both checks its placement and keeps its results.

Collectives (``torch.distributed.all_reduce``, ``broadcast``, ``all_gather``) are checked too: on a
GPU node NCCL rejects a CPU tensor, so here a CPU tensor handed to one raises :class:`DeviceMix`.

How it works: a ``StandIn`` is a tensor subclass that sits on the ``meta`` device for torch's C++
side (device guards and autograd work without CUDA) and reports ``cuda:0`` to Python; its
``__torch_dispatch__`` computes on the wrapped CPU tensors and wraps the results. C++ composite
functions and derivative formulas that allocate from a tensor's options would make data-less meta
tensors: a dispatch mode makes those allocations on the CPU and wraps them (the zeros in clamp's,
where's and chunk's gradients, one_hot's and quantile's buffers); ``scaled_dot_product_attention``
runs its native kernel on the wrapped CPU data (forward and gradient, so the numbers stay the CPU's);
anything else that meets a data-less tensor raises a clear error naming the limit. For tests only:
never in a result.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator
from unittest import mock

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

CUDA = torch.device("cuda", 0)


class DeviceMix(RuntimeError):
    """An operation mixed a (stand-in) GPU tensor with a CPU tensor: a real GPU would refuse it too."""


class StandIn(torch.Tensor):
    """Real CPU data, reported as on ``cuda:0`` (``meta`` for torch's C++ side)."""

    inner: torch.Tensor

    @staticmethod
    def __new__(cls, inner: torch.Tensor) -> "StandIn":
        if isinstance(inner, StandIn):
            return inner
        t = torch.Tensor._make_wrapper_subclass(
            cls, inner.size(), strides=inner.stride(), storage_offset=inner.storage_offset(), dtype=inner.dtype,
            layout=inner.layout, device=torch.device("meta"), requires_grad=inner.requires_grad)
        t.inner = inner
        return t

    @property
    def device(self) -> torch.device:  # what Python code sees
        return CUDA

    @property
    def is_cuda(self) -> bool:
        return True

    @property
    def is_meta(self) -> bool:
        return False

    def __repr__(self, **kwargs: Any) -> str:
        return f"StandIn(cuda:0, {self.inner!r})"

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs or {})


def _unwrap(t: Any) -> Any:
    return t.inner if isinstance(t, StandIn) else t


def _wrap(t: Any) -> Any:
    return StandIn(t) if isinstance(t, torch.Tensor) and not isinstance(t, StandIn) else t


_MIX_ALLOWED = {torch.ops.aten.copy_.default}
"""Operations that may take a CPU tensor beside a GPU one (a cross-device copy)."""


def _dispatch(func, args, kwargs):
    if func is torch.ops.prim.device.default:
        return CUDA
    flat, _ = tree_flatten((args, kwargs))
    tensors = [t for t in flat if isinstance(t, torch.Tensor)]
    if any(not isinstance(t, StandIn) and t.is_meta for t in tensors):
        raise RuntimeError(f"{func}: a C++ composite allocated a tensor from a stand-in's options (it has no data); "
                           "alignbook.engine.standin needs a Python reference of the function that called it")
    plain = [t for t in tensors if not isinstance(t, StandIn) and t.dim() > 0]
    if plain and func not in _MIX_ALLOWED:
        raise DeviceMix(f"{func}: expected all tensors to be on the same device, but found at least two devices, "
                        f"cuda:0 and cpu (a CPU tensor of shape {tuple(plain[0].shape)})")
    device = kwargs.get("device")
    if device is not None:
        kwargs = dict(kwargs, device=torch.device("cpu"))
    out = func(*tree_map(_unwrap, args), **tree_map(_unwrap, kwargs))
    if func is torch.ops.aten.copy_.default:
        return args[0]  # in place: the destination keeps its device
    if func is torch.ops.aten._to_copy.default and device is not None and torch.device(device).type == "cpu":
        return out  # .cpu(): the data leaves the device
    return tree_map(_wrap, out)


def _device_kwarg(kwargs: dict) -> torch.device | None:
    device = kwargs.get("device")
    if device is None:
        return None
    return torch.device("cuda", device) if isinstance(device, int) else torch.device(device)


class _Allocations(TorchDispatchMode):
    """A tensor that a C++ composite or derivative formula allocates from a stand-in's options
    (``at::zeros({}, grad.options())`` in clamp's and where's gradients, the zeros of a chunk's missing
    gradients, one_hot's and quantile's buffers) would land on ``meta``, without data: it is made on
    the CPU and wrapped as a stand-in instead, as it would be made on the GPU. A meta tensor asked for
    by name (``device="meta"``) stays one."""

    named_meta = 0
    """How many calls that name ``device="meta"`` are running (their allocations stay on meta)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        device = kwargs.get("device")
        if (device is not None and torch.device(device).type == "meta" and not self.named_meta
                and not any(isinstance(t, torch.Tensor) for t in tree_flatten((args, kwargs))[0])):
            return StandIn(func(*args, **dict(kwargs, device=torch.device("cpu"))))
        return func(*args, **kwargs)


class _Mode(TorchFunctionMode):
    """Tensor creation and moves that name a CUDA device make stand-ins instead."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in ("to", "cuda", "cpu") and args and isinstance(args[0], torch.Tensor):
            return self._move(func, name, args, kwargs)
        device = _device_kwarg(kwargs)
        if device is not None and device.type == "cuda":
            return tree_map(_wrap, func(*args, **dict(kwargs, device="cpu")))
        if device is not None and device.type == "meta":  # asked for by name: a real meta tensor
            _Allocations.named_meta += 1
            try:
                return func(*args, **kwargs)
            finally:
                _Allocations.named_meta -= 1
        return func(*args, **kwargs)

    @staticmethod
    def _move(func, name, args, kwargs):
        tensor = args[0]
        if name == "cuda":
            target, dtype = CUDA, None
        elif name == "cpu":
            target, dtype = torch.device("cpu"), None
        else:
            rest = {k: v for k, v in kwargs.items() if k != "copy"}
            target, dtype, _, _ = torch._C._nn._parse_to(*args[1:], **rest)
            if target is None and isinstance(args[1] if len(args) > 1 else None, torch.Tensor):
                target = args[1].device  # .to(other_tensor)
        if isinstance(tensor, StandIn) and (target is None or target.type == "cuda"):
            # staying on the device: the tensor itself (as torch returns it), or a cast through the dispatcher,
            # which autograd records (a fresh StandIn of the data would cut the graph: no gradient before it)
            return tensor if dtype is None or dtype == tensor.dtype else tensor.to(dtype=dtype)
        base = _unwrap(tensor)
        if dtype is not None and dtype != base.dtype:
            with torch._C.DisableTorchFunction():
                base = base.to(dtype)
        if target is not None and target.type == "cuda":
            return tensor if isinstance(tensor, StandIn) and base is tensor.inner else StandIn(base)
        if target is not None and target.type == "cpu":
            return base
        return StandIn(base) if isinstance(tensor, StandIn) else func(*args, **kwargs)


_NATIVE_SDPA = torch.nn.functional.scaled_dot_product_attention


class _SDPA(torch.autograd.Function):
    """The native attention kernel on the stand-ins' CPU data (bit for bit what the CPU computes), its
    gradient from ``torch.func.vjp``: no C++ composite ever sees a stand-in."""

    @staticmethod
    def forward(ctx, query, key, value, attn_mask, options):
        def native(q, k, v):
            return _NATIVE_SDPA(q, k, v, attn_mask=_unwrap(attn_mask), **options)

        with torch._C.DisableTorchFunction():
            out, ctx.vjp = torch.func.vjp(native, _unwrap(query), _unwrap(key), _unwrap(value))
        return StandIn(out.detach())

    @staticmethod
    def backward(ctx, grad):
        with torch._C.DisableTorchFunction():
            grads = ctx.vjp(_unwrap(grad).contiguous())
        return (*(StandIn(g) for g in grads), None, None)


def _sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """``scaled_dot_product_attention`` that accepts stand-ins (and refuses a CPU tensor beside them)."""
    tensors = [t for t in (query, key, value, attn_mask) if isinstance(t, torch.Tensor)]
    if not any(isinstance(t, StandIn) for t in tensors):
        return _NATIVE_SDPA(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                            scale=scale, enable_gqa=enable_gqa)
    plain = [t for t in tensors if not isinstance(t, StandIn) and t.dim() > 0]
    if plain:
        raise DeviceMix("scaled_dot_product_attention: expected all tensors to be on the same device, but found at "
                        f"least two devices, cuda:0 and cpu (a CPU tensor of shape {tuple(plain[0].shape)})")
    options = {"dropout_p": dropout_p, "is_causal": is_causal, "scale": scale, "enable_gqa": enable_gqa}
    return _SDPA.apply(query, key, value, attn_mask, options)


def _collective(real):
    def checked(tensor, *args, **kwargs):
        tensors = tensor if isinstance(tensor, (list, tuple)) else [tensor]
        for t in tensors:
            if isinstance(t, torch.Tensor) and not isinstance(t, StandIn):
                raise DeviceMix(f"torch.distributed.{real}: a CPU tensor handed to a collective while the model is on "
                                "cuda:0 (NCCL rejects it on a GPU node); put it on the model's device")
        return None  # one process: nothing to exchange

    return checked


_NATIVE_APPLY = torch.nn.Module._apply


def _apply_keeping_ties(self, fn, recurse=True):
    """``Module._apply`` (behind ``.to``, ``.cuda``) with tied parameters kept tied.

    Moving a plain parameter onto a stand-in cannot reuse the parameter in place (a subclass is not
    shallow-copy compatible), so torch makes a new Parameter for each module that holds it: a tied
    embedding and LM head would become two weights and train apart, unlike on a GPU. Every module
    that held one parameter before the move holds one parameter after it."""
    owners: dict[int, list[tuple[torch.nn.Module, str]]] = {}
    for module in self.modules():
        for name, param in module._parameters.items():
            if param is not None:
                owners.setdefault(id(param), []).append((module, name))
    out = _NATIVE_APPLY(self, fn, recurse)
    for group in owners.values():
        first = group[0][0]._parameters[group[0][1]]
        for module, name in group[1:]:
            module._parameters[name] = first
    return out


def _save_patches() -> list:
    """``save_pretrained`` of a model on the stand-in writes its CPU data, as a GPU model's save does. The
    stand-ins have no storage of their own (torch's C++ side sees ``meta``), so safetensors' shared-tensor
    check would take every weight for one; a real GPU's tensors have distinct storage."""
    try:
        from transformers import PreTrainedModel
    except ImportError:  # pragma: no cover - transformers is in the lock
        return []
    native = PreTrainedModel.save_pretrained

    def save_pretrained(self, directory, *args, state_dict=None, **kwargs):
        state = self.state_dict() if state_dict is None else state_dict
        state = {k: _unwrap(v) if isinstance(v, StandIn) else v for k, v in state.items()}
        return native(self, directory, *args, state_dict=state, **kwargs)

    return [mock.patch.object(PreTrainedModel, "save_pretrained", save_pretrained)]


@contextlib.contextmanager
def stand_in_gpu(world_size: int = 1) -> Iterator[None]:
    """Make ``cuda:0`` available as a stand-in for the block (see the module docstring). With
    ``world_size`` > 1 torch.distributed looks initialised, and its collectives check their tensors."""
    patches = [
        mock.patch("torch.cuda.is_available", lambda: True),
        mock.patch("torch.cuda.device_count", lambda: 1),
        mock.patch("torch.cuda.current_device", lambda: 0),
        mock.patch("torch.cuda.get_device_name", lambda *a: "stand-in GPU (CPU data)"),
        mock.patch("torch.cuda.is_bf16_supported", lambda *a, **k: True),
        mock.patch("torch.cuda.manual_seed_all", lambda seed: None),
        mock.patch("torch.cuda.manual_seed", lambda seed: None),
        mock.patch("torch.cuda.synchronize", lambda *a: None),
        mock.patch("torch.cuda.empty_cache", lambda: None),
        mock.patch("torch.cuda.reset_peak_memory_stats", lambda *a: None),
        mock.patch("torch.cuda.max_memory_allocated", lambda *a: 0),
        mock.patch("torch.cuda._lazy_init", lambda: None),
        mock.patch("torch.nn.functional.scaled_dot_product_attention", _sdpa),
        mock.patch.object(torch.nn.Module, "_apply", _apply_keeping_ties),
        *_save_patches(),
    ]
    if world_size > 1:
        patches += [mock.patch("torch.distributed.is_initialized", lambda: True),
                    mock.patch("torch.distributed.get_world_size", lambda *a: world_size),
                    mock.patch("torch.distributed.get_rank", lambda *a: 0),
                    mock.patch("torch.distributed.barrier", lambda *a, **k: None)]
        patches += [mock.patch(f"torch.distributed.{name}", _collective(name))
                    for name in ("all_reduce", "broadcast", "all_gather", "reduce", "all_gather_into_tensor")]
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        stack.enter_context(_Mode())
        stack.enter_context(_Allocations())
        yield


def on_gpu(tensor: Any) -> bool:
    """Whether ``tensor`` is on the (stand-in) GPU."""
    return isinstance(tensor, StandIn)
