"""Model files and their conversion: the sidecar format (no torch), safetensors checkpoints, ONNX
export and INT8 quantization, and the checks an exported file must pass before an engine loads it."""
