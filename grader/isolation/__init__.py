"""Where student code runs: a sandboxed kernel per notebook (modes, launcher, fork servers), the guard that
runs notebooks and watches them, and the data-only protocol through which the grader calls the kernel.
"""
