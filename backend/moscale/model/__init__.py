"""The model layer: the scale schedule, the multi-scale residual VQ-VAE tokenizer (config, codec, quantizer,
files), the next-scale transformer, the frozen text encoder and coarse-to-fine sampling. Imports the motion and
utils layers only."""
