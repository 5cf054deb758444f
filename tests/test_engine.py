"""The one-process engine against Lightning Fabric: the same weights, bit for bit, and the
trainer's cached start without importing Lightning."""

import subprocess
import sys

import pytest
import torch
from conftest import TINY
from lightning_fabric import Fabric
from safetensors.torch import load_file

import vaekit
from vaekit.models import build_model
from vaekit.objectives import OBJECTIVES, Batch, terms_of
from vaekit.settings import TrainConfig
from vaekit.train.engine import OneProcess, make_engine


def _steps(engine, objective: str, prior: str = "normal", steps: int = 5) -> dict:
    torch.manual_seed(0)
    own = {"pseudo_inputs": 4} if prior == "vamp" else {}  # the vamp prior's own setting
    net = build_model(model="vae", image_shape=(1, 8, 8), latent_dim=3, hidden=[16], prior=prior, **own)
    model, opt = engine.setup(net, torch.optim.Adam(net.parameters(), lr=1e-2, fused=True))
    mine = {"discriminator_width": 16} if objective == "factor" else {}  # the objective's own setting
    cfg = TrainConfig(objective=objective, k=3 if objective == "iwae" else 1, prior=prior, **own, **mine)
    entry = OBJECTIVES[objective]
    # an objective's own network (FactorVAE's discriminator) runs in the engine's autocast, as the trainer has it
    critic, critic_opt = entry.network(net, cfg) if entry.network else (None, None)
    fn = terms_of(entry, critic, engine.autocast)
    x = torch.rand(32, 1, 8, 8)
    for i in range(steps):
        terms = fn(model, Batch(x[i::2], x[i::2], None, i / steps, 32), cfg)
        opt.zero_grad(set_to_none=True)
        engine.backward(terms["loss"])
        opt.step()
        if critic is not None:
            critic_opt.zero_grad(set_to_none=True)
            terms[entry.network_loss].backward()
            critic_opt.step()
    weights = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return weights | ({f"own.{k}": v.detach().clone() for k, v in critic.state_dict().items()} if critic else {})


@pytest.mark.parametrize(("precision", "fabric_name"), [("bf16", "bf16-mixed"), ("32", "32-true")])
@pytest.mark.parametrize(("objective", "prior"), [("elbo", "normal"), ("iwae", "normal"), ("elbo", "vamp"),
                                                  ("factor", "normal")])
def test_one_process_steps_give_fabrics_weights_bit_for_bit(precision, fabric_name, objective, prior):
    ours = _steps(OneProcess(precision), objective, prior)
    theirs = _steps(Fabric(accelerator="cpu", devices=1, precision=fabric_name), objective, prior)
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name
    assert not torch.equal(ours["head.weight"], _steps(OneProcess(precision), objective, prior, steps=1)["head.weight"])


def test_a_whole_run_ends_with_the_same_weights_either_way(tiny_data, tmp_path, monkeypatch):
    import vaekit.train.loop as train

    settings = dict(TINY, data=str(tiny_data), precision="bf16", epochs=2)
    ours = load_file(str(vaekit.fit(out=str(tmp_path / "ours"), **settings) / "model.safetensors"))
    monkeypatch.setattr(train, "make_engine", lambda c: Fabric(accelerator="cpu", devices=1, precision="bf16-mixed"))
    theirs = load_file(str(vaekit.fit(out=str(tmp_path / "fabric"), **settings) / "model.safetensors"))
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name


def test_the_engine_is_lightning_fabric_wherever_more_than_one_process_would_work():
    assert isinstance(make_engine(TrainConfig(accelerator="cpu", precision="32")), OneProcess)
    assert isinstance(make_engine(TrainConfig(accelerator="cpu", devices=2, precision="32")), Fabric)


def test_training_on_the_cpu_does_not_import_lightning_fabric():
    code = ("import sys, vaekit.train.loop, vaekit.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('lightning_fabric', 'torch._dynamo'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


_HEAP_CHECK = """
import sys, torch
if sys.argv[1] == "kept":
    from vaekit.train.device import keep_freed_memory
    assert keep_freed_memory()
p = torch.empty(4 << 20).data_ptr()  # a 16 MiB tensor, as a step's activations or gradients
heap = [line.split()[0] for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
print(any(int(lo, 16) <= p < int(hi, 16) for lo, hi in (h.split("-") for h in heap)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc: Linux only")
def test_a_cpu_run_keeps_large_freed_blocks_in_the_heap_for_the_next_step():
    # glibc maps a fresh 16 MiB block (and unmaps it when freed, so the next step faults its
    # pages in again); after keep_freed_memory it comes from the heap, where freed memory is reused
    def in_heap(mode: str) -> str:
        return subprocess.run([sys.executable, "-c", _HEAP_CHECK, mode], capture_output=True, text=True,
                              check=True).stdout.strip()

    assert in_heap("default") == "False"
    assert in_heap("kept") == "True"


_FIT_THEN_HEAP = """
import sys, torch, vaekit
vaekit.fit(data=sys.argv[1], out=sys.argv[2], latent_dim=3, hidden=[16], image_size=8, image_channels=1,
           epochs=1, batch_size=16, precision="32", progress=False)
p = torch.empty(4 << 20).data_ptr()
heap = [line.split()[0] for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
print(any(int(lo, 16) <= p < int(hi, 16) for lo, hi in (h.split("-") for h in heap)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc: Linux only")
def test_a_library_fit_leaves_the_callers_allocator_alone(tiny_data, tmp_path):
    # the allocator setting belongs to the command-line process; a notebook's vaekit.fit keeps glibc's own
    out = subprocess.run([sys.executable, "-c", _FIT_THEN_HEAP, str(tiny_data), str(tmp_path / "run")],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()
    assert out[-1] == "False"
