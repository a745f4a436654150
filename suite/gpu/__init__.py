"""The NVIDIA GPU device: one session (device facts, NVML sampler, module loading) and one module per kernel
family (stream, fma, tensor, transfer), with the GPU theoretical tables."""
