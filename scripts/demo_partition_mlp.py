"""Train a 2-layer MLP with Muon on its weight matrices and AdamW on its biases, via
``refopt.partition``.

The data: y = sin(3 x_1) cos(2 x_2) + 0.05 noise for 512 points x uniform in [-1, 1]^2 (fixed
seed). The model: h = tanh(W_1 x + b_1), yhat = W_2 h + b_2, weights stored (out, in) as Muon's
shape factor expects. Loss: mean squared error, full batch; forward and backward written out.

    python scripts/demo_partition_mlp.py [--steps 300] [--every 25]
"""
from __future__ import annotations

import argparse

import numpy as np

import refopt


def make_data(n=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, 2))
    y = np.sin(3 * x[:, :1]) * np.cos(2 * x[:, 1:]) + 0.05 * rng.standard_normal((n, 1))
    return x, y


def init_params(hidden=64, seed=1):
    rng = np.random.default_rng(seed)
    return {"layer1": {"w": rng.standard_normal((hidden, 2)) / np.sqrt(2), "b": np.zeros(hidden)},
            "layer2": {"w": rng.standard_normal((1, hidden)) / np.sqrt(hidden), "b": np.zeros(1)}}


def loss_and_grads(params, x, y):
    """MSE and its gradient by the chain rule, layer by layer."""
    l1, l2 = params["layer1"], params["layer2"]
    h = np.tanh(x @ l1["w"].T + l1["b"])        # (n, hidden)
    out = h @ l2["w"].T + l2["b"]               # (n, 1)
    err = out - y
    loss = float(np.mean(err**2))
    d_out = 2.0 * err / len(x)                  # dL/dout
    d_h = (d_out @ l2["w"]) * (1.0 - h**2)      # back through W_2 and tanh
    grads = {"layer1": {"w": d_h.T @ x, "b": d_h.sum(axis=0)},
             "layer2": {"w": d_out.T @ h, "b": d_out.sum(axis=0)}}
    return loss, grads


def by_ndim(path, w):
    return "matrix" if w.ndim == 2 else "other"


def make_optimizer(steps):
    """Muon's lr decays linearly to 0 (a schedule t -> lr): at a constant lr its fixed-size
    orthogonal steps keep the loss bouncing near the end."""
    muon_lr = lambda t: 0.02 * (1.0 - (t - 1) / steps)  # noqa: E731
    return refopt.partition({"matrix": refopt.muon(lr=muon_lr, beta1=0.9),
                             "other": refopt.adamw(lr=0.01, weight_decay=0.0)}, by_ndim)


def train(steps=300, every=25, verbose=True):
    """Returns the loss before each step."""
    x, y = make_data()
    params = init_params()
    opt = make_optimizer(steps)
    state = opt.init(params)
    losses = []
    for k in range(steps):
        loss, grads = loss_and_grads(params, x, y)
        losses.append(loss)
        if verbose and (k % every == 0 or k == steps - 1):
            print(f"step {k:4d}  loss {loss:.5f}")
        params, state = opt.step(params, grads, state)
    return losses


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=25)
    args = parser.parse_args()
    losses = train(args.steps, args.every)
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f} (noise floor 0.0025)")


if __name__ == "__main__":
    main()
