"""PyTorch autograd as the gradient check's oracle (``check_layer(..., oracle="torch")``), as the 2025
course sheets check students' gradients (ComputeGradsWithTorch). Optional: imported only when asked
for, and torch is never a dependency of handgrad (``pip install torch==2.13.0``, the bench extra).

Each of handgrad's layers and losses has its function written here with torch tensors, in float64;
autograd differentiates it, and the rows compare handgrad's backward pass with that. A layer you
write gets checked the same way when you pass ``torch_forward(params, x, train)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _t(a, grad: bool = False):
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def _dense(layer, p, x, train):
    y = x @ p["W"].T
    return y + p["b"] if "b" in p else y


def _dropout(layer, p, x, train):
    # the mask handgrad's forward drew for this batch (cached): the same function of x
    return x if not train or layer.cache is None else x * _t(layer.cache)


def _batchnorm(layer, p, x, train):
    if train:
        mu = x.mean(dim=0)
        v = ((x - mu) ** 2).mean(dim=0)
    else:
        mu, v = _t(layer.buffers["mean"]), _t(layer.buffers["var"])
    return (x - mu) / torch.sqrt(v + layer.eps) * p["gamma"] + p["beta"]


def _conv1d(layer, p, x, train):
    n = x.shape[0]
    X = x.reshape(n, layer.n_len, layer.C).transpose(1, 2)  # column-major vec(X) -> (N, C, L)
    y = F.conv1d(X, p["F"].permute(2, 0, 1), bias=p.get("b"), padding=layer.padding)  # (N, nf, L_out)
    return y.transpose(1, 2).reshape(n, layer.n_out * layer.nf)


def _max_pool(layer, p, x, train):
    return x.reshape(x.shape[0], layer.n_len, layer.C).max(dim=1).values


def _rnn(layer, p, x, train, h0=None):
    B, T = x.shape
    h = torch.zeros(B, layer.m, dtype=torch.float64) if h0 is None else h0
    onehot = F.one_hot(torch.as_tensor(np.asarray(x), dtype=torch.long), layer.K).to(torch.float64)
    out = []
    for t in range(T):
        h = torch.tanh(h @ p["W"].T + onehot[:, t] @ p["U"].T + p["b"])
        out.append(h @ p["V"].T + p["c"])
    return torch.stack(out, dim=1)


def _patch_conv2d(layer, p, x, train):
    C, H, W = layer.image_shape
    y = F.conv2d(x.reshape(x.shape[0], C, H, W), p["F"].permute(0, 3, 1, 2), bias=p.get("b"), stride=layer.f)
    return y.permute(0, 2, 3, 1).reshape(x.shape[0], layer.n_p * layer.nf)  # (N, nf, i, j) -> patch by patch


#: a layer's class name -> its function with torch tensors: f(layer, params, x, train, **inputs)
LAYERS = {"Dense": _dense, "ReLU": lambda layer, p, x, train: torch.relu(x), "Dropout": _dropout,
          "BatchNorm": _batchnorm, "Conv1D": _conv1d, "GlobalMaxPool1D": _max_pool, "RNN": _rnn,
          "PatchConv2D": _patch_conv2d}


def _cross_entropy(loss, s, y):
    eps = getattr(loss, "label_smoothing", 0.0)
    if not eps:
        return F.cross_entropy(s, torch.as_tensor(y, dtype=torch.long))
    # the sheet's smoothing (eps / (K - 1) on the other classes), not torch's (eps / K on every class)
    t = torch.as_tensor(loss.targets(np.asarray(y), s.shape[1], np.float64))
    return -(t * torch.log_softmax(s, dim=1)).sum(dim=1).mean()


def _hinge(loss, s, y):
    n = s.shape[0]
    rows = torch.arange(n)
    yy = torch.as_tensor(y, dtype=torch.long)
    m = s - s[rows, yy][:, None] + loss.margin
    keep = torch.ones_like(m, dtype=torch.bool)
    keep[rows, yy] = False
    return torch.relu(m[keep]).sum() / n


def _bce(loss, s, y):
    target = F.one_hot(torch.as_tensor(y, dtype=torch.long), s.shape[1]).to(torch.float64)
    return F.binary_cross_entropy_with_logits(s, target, reduction="sum") / s.numel()


def _sequence_ce(loss, s, y):
    B, T, K = s.shape
    return F.cross_entropy(s.reshape(B * T, K), torch.as_tensor(np.asarray(y).reshape(-1), dtype=torch.long),
                           reduction="sum") / B


#: a loss's name -> its function with torch tensors: f(loss, scores, y) -> the mean loss
LOSSES = {"cross_entropy": _cross_entropy, "svm": _hinge, "bce": _bce, "sequence_cross_entropy": _sequence_ce}


def _forward_of(layer, forward):
    if forward is not None:
        return lambda layer, p, x, train, **inputs: forward(p, x, train, **inputs)
    name = type(layer).__name__
    if name not in LAYERS:
        raise ValueError(f"no torch version of {name}: pass torch_forward(params, x, train) to check it "
                         "against PyTorch autograd")
    return LAYERS[name]


def _x(layer, x, grad: bool):
    if np.issubdtype(x.dtype, np.integer):  # character indices: data, no gradient
        return _t(layer.as_dense(x)) if hasattr(layer, "as_dense") else x, False
    return _t(x, grad), grad


def layer_reference(layer, x: np.ndarray, R: np.ndarray, train: bool, forward=None, **inputs):
    """Torch autograd's gradients of J = sum(f(x) * R) for a float64 ``layer`` whose last forward pass
    was on x (a dropout layer's cached mask is reused): (parameter grads, dx or None, input grads)."""
    fn = _forward_of(layer, forward)
    p = {k: _t(v, True) for k, v in layer.params.items()}
    xt, x_grad = _x(layer, x, layer.needs_input_grad)
    it = {k: _t(v, True) for k, v in inputs.items()}
    (fn(layer, p, xt, train, **it) * _t(R)).sum().backward()
    return ({k: v.grad.numpy() for k, v in p.items()}, xt.grad.numpy() if x_grad else None,
            {k: v.grad.numpy() for k, v in it.items()})


def loss_reference(loss, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Torch autograd's gradient of the loss with respect to the scores."""
    st = _t(scores, True)
    LOSSES[loss.name](loss, st, y).backward()
    return st.grad.numpy()


def model_reference(model, X: np.ndarray, y: np.ndarray, train: bool) -> dict[str, np.ndarray]:
    """Torch autograd's gradient of a float64 model's cost (loss + L2) for every parameter; the
    model's last forward pass (its dropout masks) must have been on X."""
    params = {name: _t(layer.params[k], True) for name, layer, k in model.named_params()}
    h = _x(model.layers[0], X, False)[0]
    for i, layer in enumerate(model.layers):
        h = _forward_of(layer, None)(layer, {k: params[f"{i}.{k}"] for k in layer.params}, h, train)
    cost = LOSSES[model.loss.name](model.loss, h, y)
    cost = cost + model.lam * sum((params[f"{i}.{k}"] ** 2).sum() for i, l in enumerate(model.layers)
                                  for k in l.regularized)
    cost.backward()
    return {name: params[name].grad.numpy() for name in params}
