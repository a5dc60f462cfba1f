"""Model spec + prior set + data -> PyMC model (the only place that imports PyMC internals)."""
