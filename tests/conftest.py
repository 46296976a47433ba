import pytest
import torch


@pytest.fixture
def one_thread():
    """Run the test with one torch thread (small convolutions: threads only contend on a shared CPU)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
