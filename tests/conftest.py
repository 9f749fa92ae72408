import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
