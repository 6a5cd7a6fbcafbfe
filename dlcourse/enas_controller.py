"""ENAS's controller in miniature: an LSTM that writes an architecture of dlcourse.enas's
DAG space one decision at a time. Chapter 7.

For node i = 1..n it makes two decisions, first the input j in 0..i-1, then the op k:
2n decisions d_1, d_2, ... in all. At decision t the LSTM reads the embedding of the
previous decision (a start token at t = 1), and its state h_t gives the logits of the
choices: z_t = h_t W_in[:, :i] + b_in[:i] for an input decision (the first i columns: node
i may read nodes 0..i-1), z_t = h_t W_op + b_op for an op decision. So

    log p(arch) = sum_t log softmax(z_t)[d_t],

each factor conditioned, through the LSTM state, on every earlier decision: the policy
is autoregressive, not a product of independent per-node softmaxes.

REINFORCE objective for one sampled architecture with reward R and baseline b:
J = (R - b) log p(arch) + beta H, with H = sum_t entropy(softmax(z_t)). Its gradient
with respect to the logits of decision t is (R - b)(e_{d_t} - p_t) - beta p_t (log p_t +
H_t) (derived in chapter 7); back-propagation through the LSTM (chapter 5's step
backward) carries it to every weight.

Tokens of the embedding table: 0 = start, 1 + j = "input j" (j = 0..n-1), 1 + n + k =
"op k".
"""

import numpy as np

from dlcourse.layers.rnn import lstm_step_backward, lstm_step_forward


def _log_softmax(z):
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


class LSTMController:
    """params: emb (1 + n_nodes + n_ops, E), Wx (E, 4H), Wh (H, 4H), b (4H,), W_in
    (H, n_nodes), b_in (n_nodes,), W_op (H, n_ops), b_op (n_ops,)."""

    def __init__(self, rng, n_nodes=4, n_ops=5, hidden=32, embed=16, tanh_c=None,
                 temperature=1.0):
        self.n_nodes, self.n_ops, self.hidden = n_nodes, n_ops, hidden
        # Pham et al.'s logit squashing: z = C tanh(u / T) keeps every logit in [-C, C],
        # so no choice's probability can reach 1 and the policy cannot fully collapse.
        self.tanh_c, self.temperature = tanh_c, temperature
        s = 0.1
        self.params = {"emb": rng.normal(0, s, (1 + n_nodes + n_ops, embed)),
                       "Wx": rng.normal(0, s, (embed, 4 * hidden)),
                       "Wh": rng.normal(0, s, (hidden, 4 * hidden)),
                       "b": np.zeros(4 * hidden),
                       "W_in": rng.normal(0, s, (hidden, n_nodes)), "b_in": np.zeros(n_nodes),
                       "W_op": rng.normal(0, s, (hidden, n_ops)), "b_op": np.zeros(n_ops)}

    def _decisions(self):
        """(kind, node) of every decision in order."""
        return [(kind, i) for i in range(1, self.n_nodes + 1) for kind in ("input", "op")]

    def _logits(self, h, kind, i):
        """(raw logits u, squashed logits z) of one decision."""
        p = self.params
        w, b = (p["W_in"][:, :i], p["b_in"][:i]) if kind == "input" else (p["W_op"],
                                                                           p["b_op"])
        u = h @ w + b
        z = u / self.temperature
        return u, z if self.tanh_c is None else self.tanh_c * np.tanh(z)

    def _dz_du(self, u):
        """d z / d u, elementwise, for the squashing of ``_logits``."""
        t = 1.0 / self.temperature
        if self.tanh_c is None:
            return np.full_like(u, t)
        return self.tanh_c * t * (1 - np.tanh(u * t) ** 2)

    def _token(self, kind, choice):
        return 1 + choice if kind == "input" else 1 + self.n_nodes + choice

    def _run(self, choose):
        """Step the LSTM through the decisions; ``choose(t, log_p)`` picks each one.
        Returns the decisions, the per-step log-probabilities and the caches."""
        p = self.params
        h = np.zeros((1, self.hidden))
        c = np.zeros((1, self.hidden))
        token, out = 0, []
        for t, (kind, i) in enumerate(self._decisions()):
            x = p["emb"][token][None]
            h, c, cache = lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
            u, z = self._logits(h, kind, i)
            log_p = _log_softmax(z[0])
            d = choose(t, log_p)
            out.append((kind, i, d, token, h, log_p, cache, u[0]))
            token = self._token(kind, d)
        return out

    @staticmethod
    def _arch(steps):
        return tuple((steps[t][2], steps[t + 1][2]) for t in range(0, len(steps), 2))

    def sample(self, rng):
        """An architecture drawn from the policy, and its log-probability."""
        steps = self._run(lambda t, log_p: int(rng.choice(len(log_p), p=np.exp(log_p))))
        return self._arch(steps), float(sum(s[5][s[2]] for s in steps))

    def log_prob(self, arch):
        """log p(arch) and the summed entropy of the decisions' distributions."""
        flat = [d for pair in arch for d in pair]
        steps = self._run(lambda t, log_p: flat[t])
        entropy = sum(-(np.exp(s[5]) * s[5]).sum() for s in steps)
        return float(sum(s[5][s[2]] for s in steps)), float(entropy)

    def most_likely(self):
        """The architecture of the most probable decision at every step (greedy)."""
        return self._arch(self._run(lambda t, log_p: int(np.argmax(log_p))))

    def reinforce_grads(self, arch, advantage, beta=0.0):
        """Gradients of J = advantage * log p(arch) + beta * entropy with respect to every
        parameter (for gradient *ascent*), by back-propagation through time."""
        flat = [d for pair in arch for d in pair]
        steps = self._run(lambda t, log_p: flat[t])
        p = self.params
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        dh_next = np.zeros((1, self.hidden))
        dc_next = np.zeros((1, self.hidden))
        for kind, i, d, token, h, log_p, cache, u in reversed(steps):
            prob = np.exp(log_p)
            dz = -advantage * prob
            dz[d] += advantage                        # advantage * (e_d - p)
            ent = -(prob * log_p).sum()
            dz -= beta * prob * (log_p + ent)         # d entropy / dz = -p (log p + H)
            dz = dz * self._dz_du(u)                  # through z = C tanh(u / T)
            if kind == "input":
                grads["W_in"][:, :i] += h.T @ dz[None]
                grads["b_in"][:i] += dz
                dh = dz[None] @ p["W_in"][:, :i].T
            else:
                grads["W_op"] += h.T @ dz[None]
                grads["b_op"] += dz
                dh = dz[None] @ p["W_op"].T
            dx, dh_next, dc_next, dWx, dWh, db = lstm_step_backward(dh + dh_next, dc_next,
                                                                     cache)
            grads["Wx"] += dWx
            grads["Wh"] += dWh
            grads["b"] += db
            grads["emb"][token] += dx[0]
        return grads
