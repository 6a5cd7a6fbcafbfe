"""dlcourse: the NumPy library of *Deep Learning from the Weight Up*.

The book derives every function here, chapter by chapter; each docstring names the
chapter that does. Conventions (see the book's notation table):

* float64 everywhere; randomness only through a ``numpy.random.Generator`` passed in.
* layers come as pairs ``xxx_forward(x, ...) -> (out, cache)`` and
  ``xxx_backward(dout, cache) -> (dx, dw, ...)``, gradients in the order of the inputs.
* a batch of vectors is a matrix of rows: ``x`` has shape ``(N, D)``.
"""

__version__ = "0.1.0"
