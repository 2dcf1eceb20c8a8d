"""TrainingPairs: deterministic (image, hole) batches for training loops."""
import pytest
import torch
from torch.utils.data import Dataset

from inpaintlib.data import TrainingPairs
from inpaintlib.masks import hole_ratio
from inpaintlib.tensors import validate


class Ramp(Dataset):
    """Image i is filled with the value i / n: the test can read back which item was used."""

    def __init__(self, n, size):
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.full((3, self.size, self.size), i / self.n)


def test_batches_are_valid_and_a_pure_function_of_seed_and_step():
    pairs = TrainingPairs(4, 32, ratio=(0.1, 0.3), seed=3)
    image, hole = pairs(5)
    validate(image, hole)
    assert image.shape == (4, 3, 32, 32) and hole.shape == (4, 1, 32, 32)
    r = hole_ratio(hole)
    assert bool(((r >= 0.1) & (r <= 0.3)).all())
    again = TrainingPairs(4, 32, ratio=(0.1, 0.3), seed=3)(5)
    assert torch.equal(image, again[0]) and torch.equal(hole, again[1])
    other = pairs(6)
    assert not torch.equal(hole, other[1]) and not torch.equal(image, other[0])
    assert not torch.equal(hole, TrainingPairs(4, 32, ratio=(0.1, 0.3), seed=4)(5)[1])
    # the masks differ within a batch
    assert len({tuple(h.flatten().tolist()) for h in hole}) == 4


def test_dataset_images_visit_every_item_once_per_epoch():
    n, bs = 10, 5
    pairs = TrainingPairs(bs, 8, images=Ramp(n, 8), masks="rectangle", ratio=None)
    seen = torch.cat([pairs(s)[0][:, 0, 0, 0] for s in range(2)])  # steps 0,1 = epoch 0
    assert sorted((seen * n).round().long().tolist()) == list(range(n))
    epoch1 = torch.cat([pairs(s)[0][:, 0, 0, 0] for s in range(2, 4)])
    assert sorted((epoch1 * n).round().long().tolist()) == list(range(n))
    assert not torch.equal(seen, epoch1)  # reshuffled


def test_mask_dataset_and_errors():
    class Holes(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            h = torch.zeros(1, 8, 8)
            h[0, i, :] = 1
            return h

    _, hole = TrainingPairs(6, 8, masks=Holes())(0)
    assert set(hole.sum(dim=(1, 2, 3)).tolist()) == {8.0}
    with pytest.raises(ValueError, match="unknown mask kind 'blobs'"):
        TrainingPairs(2, 8, masks="blobs")
    with pytest.raises(ValueError, match="sample_bank"):
        TrainingPairs(2, 8, images="celeba")
    with pytest.raises(ValueError, match="must be 3×16×16"):
        TrainingPairs(2, 16, images=Ramp(4, 8))(0)
    with pytest.raises(ValueError, match="step"):
        TrainingPairs(2, 8)(-1)
