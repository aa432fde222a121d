"""The bottom layer: atomic file writes and safetensors weights, used by every layer above; imports no other
moscale module."""
