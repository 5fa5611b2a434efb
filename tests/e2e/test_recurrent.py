"""lstm and gru against torch.nn.LSTM / GRU(batch_first=True): one and two layers, every
step and the last step, on a dynamic batch (and a dynamic sequence length)."""
import numpy as np
import torch

import harness as h

SRC = """
model Rnn {
  input x: f32[B, T, 6]
  output o_lstm = lstm(x, 5)
  output o_lstm2 = lstm(x, 4, layers = 2, sequences = false)
  output o_gru = gru(x, 5)
  output o_gru2 = gru(x, 3, layers = 2, sequences = false)
}
"""


class Rnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.o_lstm = torch.nn.LSTM(6, 5, batch_first=True)
        self.o_lstm2 = torch.nn.LSTM(6, 4, num_layers=2, batch_first=True)
        self.o_gru = torch.nn.GRU(6, 5, batch_first=True)
        self.o_gru2 = torch.nn.GRU(6, 3, num_layers=2, batch_first=True)

    def forward(self, x):
        return {
            "o_lstm": self.o_lstm(x)[0],
            "o_lstm2": self.o_lstm2(x)[0][:, -1],
            "o_gru": self.o_gru(x)[0],
            "o_gru2": self.o_gru2(x)[0][:, -1],
        }


torch.manual_seed(0)
wd = h.workdir()
ref = Rnn().eval()
so, weights = h.compile_with_weights(SRC, ref, wd)
rng = np.random.RandomState(4)
for batch, steps in ((1, 1), (3, 7), (8, 20)):
    x = rng.randn(batch, steps, 6).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x))
    got = h.infer(so, {"x": x}, weights=weights)
    for name, r in want.items():
        h.check_close("%s b%d t%d" % (name, batch, steps), got[name], r.numpy())
h.finish()
