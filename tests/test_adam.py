"""vaekit's Adam against torch's fused Adam: the same parameters and state, bit for bit, and a
training run that never imports torch._dynamo."""

import subprocess
import sys

import pytest
import torch
from conftest import TINY

from vaekit.train.adam import Adam


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 12))


def _train(cls, steps: int = 12, **settings) -> tuple[dict, dict]:
    """``steps`` steps under a one-cycle schedule (which moves lr and beta1 every step)."""
    net = _net()
    opt = cls(net.parameters(), **{"lr": 1e-2, "fused": True, **settings})
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-2, total_steps=steps)
    x = torch.randn(64, 12, generator=torch.Generator().manual_seed(1))
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        if i == 3:  # a parameter without a gradient this step is left alone, as torch leaves it
            net[0].weight.requires_grad_(False)
        net(x[i % 4::4]).sub(x[i % 4::4]).pow(2).sum().backward()
        net[0].weight.requires_grad_(True)
        opt.step()
        sched.step()
    return net.state_dict(), opt.state_dict()


@pytest.mark.parametrize("settings", [{}, {"weight_decay": 0.1, "eps": 1e-4}, {"betas": (0.5, 0.9)},
                                      {"amsgrad": True}, {"maximize": True}, {"fused": False}])
def test_steps_match_torchs_fused_adam_bit_for_bit(settings, monkeypatch):
    calls = []
    torch_step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a: calls.append(1) or torch_step(self, *a))
    ours, ours_opt = _train(Adam, **settings)
    monkeypatch.undo()
    # the plain cases take vaekit's own path; the others are handed to torch's step
    assert (len(calls) == 0) == (settings.keys() <= {"weight_decay", "eps", "betas"}), (settings, len(calls))
    theirs, theirs_opt = _train(torch.optim.Adam, **settings)
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name
    assert ours_opt["param_groups"] == theirs_opt["param_groups"]
    for i, slot in theirs_opt["state"].items():
        for key, value in slot.items():
            assert torch.equal(ours_opt["state"][i][key], value), (i, key)
    assert not torch.equal(ours["0.weight"], _net().state_dict()["0.weight"])  # it did train


def _wrong_signature(params, grads, exp_avgs, exp_avg_sqs, state_steps, *, lr):  # an op of another release
    raise AssertionError("never reached: torch raises TypeError on the keywords first")


@pytest.mark.parametrize("op", [None, _wrong_signature, lambda *a, **k: None])
def test_without_a_working_fused_op_every_step_is_torchs(op, monkeypatch):
    # the private op missing (None), taking other arguments, or doing nothing: the probe refuses
    # it, torch's own step runs, and the results are torch's
    import vaekit.train.adam as adam

    if op is None:
        monkeypatch.delattr(torch, "_fused_adam_")
    else:
        monkeypatch.setattr(torch, "_fused_adam_", op)
    monkeypatch.setattr(adam, "_PROBED", {})
    assert not adam.fused_adam_works()
    calls = []
    torch_step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a: calls.append(1) or torch_step(self, *a))
    ours, _ = _train(Adam, fused=False)  # torch's fused step needs the op too
    assert len(calls) == 12
    monkeypatch.undo()
    theirs, _ = _train(torch.optim.Adam, fused=False)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert adam.fused_adam_works()  # the real op, probed afresh


def test_a_training_run_without_the_op_trains_with_torchs_step(tiny_data, tmp_path, monkeypatch):
    import vaekit
    import vaekit.train.adam as adam

    monkeypatch.delattr(torch, "_fused_adam_")
    monkeypatch.setattr(adam, "_PROBED", {})
    run = vaekit.fit(**{**TINY, "epochs": 1}, data=str(tiny_data), out=str(tmp_path / "run"))
    assert (run / "model.safetensors").is_file()


def test_a_state_saved_by_either_resumes_in_the_other():
    net = _net()
    theirs = torch.optim.Adam(net.parameters(), lr=1e-2, fused=True)
    net(torch.ones(2, 12)).sum().backward()
    theirs.step()
    ours = Adam(net.parameters(), lr=1e-2, fused=True)
    ours.load_state_dict(theirs.state_dict())
    before = net[0].weight.detach().clone()
    ours.step()
    assert ours.state[net[0].weight]["step"].item() == 2
    assert not torch.equal(before, net[0].weight)


def test_a_cpu_training_run_does_not_import_torch_dynamo(tiny_data, tmp_path):
    settings = dict(TINY, data=str(tiny_data), out=str(tmp_path / "run"), epochs=1)
    code = (f"import sys, vaekit; vaekit.fit(**{settings!r}); "
            "print(sorted(m for m in sys.modules if m.startswith(('torch._dynamo', 'lightning_fabric'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out
