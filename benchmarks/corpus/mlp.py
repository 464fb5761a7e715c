"""A small numpy MLP trained epoch by epoch, the way a user's training loop logs it.

Nothing here plants an outcome: NaN, blow-ups, dead networks, overfitting and early stops come from
the arithmetic. Train metrics are measured in train mode (dropout on) as running means of the
minibatch values *before* each update (as Keras and most loops log them); validation metrics are
measured in eval mode at the end of each epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


class BudgetExceeded(Exception):
    """The trial's compute budget ran out (the loop's time limit)."""


@dataclass
class Config:
    task: str  # "classification" | "regression"
    hidden: int
    layers: int = 1
    activation: str = "relu"
    optimizer: str = "adam"  # sgd | momentum | nesterov | adam
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    dropout: float = 0.0
    batch_size: int = 32
    drop_last: bool = True
    max_epochs: int = 20
    patience: int | None = None  # early stopping on val_loss; None = off
    stop_on_nonfinite: bool = False  # raise FloatingPointError on a non-finite train loss
    budget_units: float | None = None  # compute budget (time limit), in cost-model seconds
    seed: int = 0


@dataclass
class Run:
    status: str
    curves: list[dict] = field(default_factory=list)
    error: str = ""
    runtime_sec: float = 0.0


def _init(rng, sizes):
    ws, bs = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        ws.append(rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out)))
        bs.append(np.zeros(fan_out))
    return ws, bs


def _act(z, name):
    return np.maximum(z, 0.0) if name == "relu" else np.tanh(z)


def _act_grad(z, name):
    return (z > 0).astype(z.dtype) if name == "relu" else 1.0 - np.tanh(z) ** 2


def _forward(params, x, cfg, rng=None):
    ws, bs = params
    acts, pre, masks = [x], [], []
    h = x
    for i in range(len(ws) - 1):
        z = h @ ws[i] + bs[i]
        a = _act(z, cfg.activation)
        m = None
        if rng is not None and cfg.dropout > 0:
            m = (rng.random(a.shape) >= cfg.dropout) / (1.0 - cfg.dropout)
            a = a * m
        pre.append(z)
        masks.append(m)
        acts.append(a)
        h = a
    out = h @ ws[-1] + bs[-1]
    return out, acts, pre, masks


def _loss_and_grad(out, y, task):
    """Mean loss over the batch and d loss / d out. Classification: softmax cross-entropy."""
    n = out.shape[0]
    if task == "classification":
        shifted = out - out.max(axis=1, keepdims=True)
        logsum = np.log(np.exp(shifted).sum(axis=1))
        logp = shifted - logsum[:, None]
        loss = -logp[np.arange(n), y].mean()
        grad = np.exp(logp)
        grad[np.arange(n), y] -= 1.0
        return loss, grad / n, out.argmax(axis=1)
    diff = out[:, 0] - y
    return float(np.mean(diff * diff)), (2.0 * diff / n)[:, None], out[:, 0]


def _backward(params, acts, pre, masks, grad_out, cfg):
    ws, _ = params
    gws, gbs = [None] * len(ws), [None] * len(ws)
    g = grad_out
    for i in range(len(ws) - 1, -1, -1):
        gws[i] = acts[i].T @ g
        gbs[i] = g.sum(axis=0)
        if i > 0:
            g = g @ ws[i].T
            if masks[i - 1] is not None:
                g = g * masks[i - 1]
            g = g * _act_grad(pre[i - 1], cfg.activation)
    return gws, gbs


def _score(pred, y, task):
    if task == "classification":
        return float(np.mean(pred == y))
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def cost_seconds(n_train: int, n_params: int, batch_size: int) -> float:
    """Cost-model seconds of one epoch: a fixed cost per step plus one per multiply-add.

    Used for the per-trial time limit and the `runtime_sec` column, so the corpus is reproducible
    (the real elapsed time on this machine is well under a second per trial).
    """
    steps = max(n_train // max(batch_size, 1), 1)
    return 0.02 * steps + 6.0 * n_train * n_params * 1e-8


def train(cfg: Config, x_tr, y_tr, x_va, y_va) -> Run:
    """Train one trial epoch by epoch; return its status, per-epoch curves and error text."""
    rng = np.random.default_rng(cfg.seed)
    n_out = int(y_tr.max()) + 1 if cfg.task == "classification" else 1
    sizes = [x_tr.shape[1]] + [cfg.hidden] * cfg.layers + [n_out]
    params = _init(rng, sizes)
    n_params = sum(w.size + b.size for w, b in zip(*params))
    n = x_tr.shape[0]
    if cfg.drop_last and cfg.batch_size > n:
        return Run("failed", error=f"ValueError: batch_size={cfg.batch_size} is larger than the {n} training samples "
                   "with drop_last=True: the loader yields no batch")
    state = [[np.zeros_like(p) for p in group] for group in params]
    state2 = [[np.zeros_like(p) for p in group] for group in params]
    step = 0
    run = Run("completed")
    best, since_best = math.inf, 0
    metric = "acc" if cfg.task == "classification" else "r2"
    epoch_cost = cost_seconds(n, n_params, cfg.batch_size)
    with np.errstate(all="ignore"):
        for epoch in range(1, cfg.max_epochs + 1):
            if cfg.budget_units is not None and run.runtime_sec + epoch_cost > cfg.budget_units:
                run.status = "timeout"
                run.error = f"TimeoutError: trial stopped by its time limit of {cfg.budget_units:.0f} s"
                break
            order = rng.permutation(n)
            stop = n - n % cfg.batch_size if cfg.drop_last else n
            losses, scores, weights = [], [], []
            for start in range(0, stop, cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                out, acts, pre, masks = _forward(params, x_tr[idx], cfg, rng)
                loss, g_out, pred = _loss_and_grad(out, y_tr[idx], cfg.task)
                losses.append(loss)
                scores.append(pred)
                weights.append(idx)
                gws, gbs = _backward(params, acts, pre, masks, g_out, cfg)
                step += 1
                for group, grads, s1, s2 in ((params[0], gws, state[0], state2[0]), (params[1], gbs, state[1], state2[1])):
                    for i, (p, g) in enumerate(zip(group, grads)):
                        if cfg.weight_decay and p.ndim == 2:
                            g = g + cfg.weight_decay * p
                        if cfg.optimizer == "adam":
                            s1[i] = 0.9 * s1[i] + 0.1 * g
                            s2[i] = 0.999 * s2[i] + 0.001 * g * g
                            m_hat = s1[i] / (1 - 0.9 ** step)
                            v_hat = s2[i] / (1 - 0.999 ** step)
                            p -= cfg.lr * m_hat / (np.sqrt(v_hat) + 1e-8)
                        elif cfg.optimizer in ("momentum", "nesterov"):
                            s1[i] = cfg.momentum * s1[i] + g
                            upd = g + cfg.momentum * s1[i] if cfg.optimizer == "nesterov" else s1[i]
                            p -= cfg.lr * upd
                        else:
                            p -= cfg.lr * g
            train_loss = float(np.mean(losses))
            idx_all = np.concatenate(weights)
            train_score = _score(np.concatenate(scores), y_tr[idx_all], cfg.task)
            out_va, *_ = _forward(params, x_va, cfg)
            val_loss, _, pred_va = _loss_and_grad(out_va, y_va, cfg.task)
            run.runtime_sec += epoch_cost
            run.curves.append({"epoch": epoch, "train_loss": train_loss, "val_loss": float(val_loss),
                               f"train_{metric}": train_score, f"val_{metric}": _score(pred_va, y_va, cfg.task)})
            if cfg.stop_on_nonfinite and not math.isfinite(train_loss):
                run.status = "failed"
                run.error = f"FloatingPointError: train loss is {train_loss} at epoch {epoch}"
                break
            if cfg.patience is not None:
                if math.isfinite(val_loss) and val_loss < best * (1 - 1e-4):
                    best, since_best = val_loss, 0
                else:
                    since_best += 1
                if since_best >= cfg.patience:
                    run.status = "early_stopped"
                    break
    run.runtime_sec = round(run.runtime_sec + 0.5, 2)
    return run
