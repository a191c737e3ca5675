from tests.modal.support import fake_modal

__all__ = ["fake_modal"]
