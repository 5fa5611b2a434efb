"""PyTorch definitions of the samples, with the parameter names the .dl files give, so a
state_dict is a weights file for the compiled model. Shared by the tests and benchmarks."""
import torch
import torch.nn.functional as F


class Mlp784(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.h1 = torch.nn.Linear(784, 256)
        self.h2 = torch.nn.Linear(256, 256)
        self.logits = torch.nn.Linear(256, 10)

    def forward(self, x):
        return self.logits(torch.relu(self.h2(torch.relu(self.h1(x)))))


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.logits = torch.nn.Linear(1568, 10)

    def forward(self, image):
        x = F.max_pool2d(torch.relu(self.c1(image)), 2)
        x = F.max_pool2d(torch.relu(self.c2(x)), 2)
        return self.logits(torch.flatten(x, 1))


class SeqClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.h = torch.nn.LSTM(32, 128, batch_first=True)
        self.logits = torch.nn.Linear(128, 10)

    def forward(self, x):
        return self.logits(self.h(x)[0][:, -1])


class Block(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.layer_norm = torch.nn.LayerNorm(d)
        self.attention = torch.nn.MultiheadAttention(d, heads, batch_first=True)
        self.layer_norm_1 = torch.nn.LayerNorm(d)
        self.dense = torch.nn.Linear(d, 4 * d)
        self.m = torch.nn.Linear(4 * d, d)

    def forward(self, x):
        t = x.shape[1]
        mask = torch.triu(torch.full((t, t), float("-inf")), 1)
        y = self.layer_norm(x)
        x = x + self.attention(y, y, y, attn_mask=mask, need_weights=False)[0]
        return x + self.m(F.gelu(self.dense(self.layer_norm_1(x))))


class TinyGpt(torch.nn.Module):
    def __init__(self, v=256, d=128, heads=4, layers=2, t=64):
        super().__init__()
        self.embedding = torch.nn.Embedding(v, d)
        self.position_embedding = torch.nn.Embedding(t, d)
        self.block = torch.nn.ModuleDict({str(i): Block(d, heads) for i in range(layers)})
        self.layer_norm = torch.nn.LayerNorm(d)
        self.logits = torch.nn.Linear(d, v)

    def forward(self, tokens):
        t = tokens.shape[1]
        h = self.embedding(tokens) + self.position_embedding.weight[:t].unsqueeze(0)
        for b in self.block.values():
            h = b(h)
        return self.logits(self.layer_norm(h))


class BasicBlock(torch.nn.Module):
    def __init__(self, cin, c, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(c)
        self.conv2 = torch.nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(c)
        self.downsample = None
        if stride != 1 or cin != c:
            self.downsample = torch.nn.Sequential(torch.nn.Conv2d(cin, c, 1, stride, bias=False), torch.nn.BatchNorm2d(c))

    def forward(self, x):
        h = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(torch.nn.Module):
    """torchvision's resnet18 layout and names (torchvision is not installed here)."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(64)
        cin = 64
        for i, (c, s) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], start=1):
            setattr(self, "layer%d" % i, torch.nn.Sequential(BasicBlock(cin, c, s), BasicBlock(c, c, 1)))
            cin = c
        self.fc = torch.nn.Linear(512, 1000)

    def forward(self, image):
        x = F.max_pool2d(torch.relu(self.bn1(self.conv1(image))), 3, 2, 1)
        for i in range(1, 5):
            x = getattr(self, "layer%d" % i)(x)
        return self.fc(x.mean((2, 3)))


def randomise_batch_norms(module):
    """Non-trivial running statistics, so that inference-mode batch norm is exercised."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
