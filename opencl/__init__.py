"""OpenCL kernel sources (*.cl) and thin host-side wrappers: device pick, program cache, buffers."""
