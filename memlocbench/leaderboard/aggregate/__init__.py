"""From collected results to the numbers the page shows: the memorisation guard, model seeds, the
per-model tables of M-CoG, agreement between methods, the control and neuron tracks, and the analyses'
measures. Nothing here writes markdown."""
