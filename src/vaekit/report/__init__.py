"""Drawing: image grids, figures (``plots``) and the comparison's HTML report (``html``). This
layer knows images and numbers, not models, so every layer above may draw."""
