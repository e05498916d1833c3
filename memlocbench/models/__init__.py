"""Model mechanics shared by every adapter and method: the ``HFAdapter`` base class over stock Hugging Face
models, running a model from layer *k* on cached hidden states (``partial_forward``), and feed-forward neurons
scaled, zeroed or recorded through hooks (``neuron_masks``)."""
