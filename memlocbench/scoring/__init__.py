"""From raw measurements to scores: per-layer weights from windows, M-CoG, neuron layer shares, tie-aware
layer rankings (``layer_weights``); classification metrics (``metrics``); the planted-neuron ground truth and
recall@k (``planted_neurons``)."""
